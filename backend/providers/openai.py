"""OpenAI Chat Completions over SSE, also spoken by openai-compat servers, OpenRouter and Vercel's gateway."""

from collections.abc import AsyncIterator, Sequence

import httpx
import msgspec

from backend.providers.contract import (
    ChatChunk,
    ChatError,
    ChatMessage,
    ChatStream,
    Connection,
    Finish,
    ListResult,
    TextDelta,
    Usage,
)
from backend.providers.exchange import StreamEndedEarly, list_models_via, stream_chat_via
from backend.providers.failures import UpstreamError
from backend.providers.sse import sse_events
from backend.providers.transport import HttpRequest, endpoint, headers_for

NEW_TOKEN_LIMIT_TYPES = frozenset({"openai", "azure"})  # they take max_completion_tokens, not max_tokens


class _StreamOptions(msgspec.Struct, frozen=True):
    include_usage: bool


class _ChatBody(msgspec.Struct, frozen=True, omit_defaults=True):
    model: str
    messages: Sequence[ChatMessage]
    stream: bool
    stream_options: _StreamOptions
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    reasoning_effort: str | None = None


class _Model(msgspec.Struct, frozen=True):
    id: str


class _ModelList(msgspec.Struct, frozen=True):
    data: list[_Model]


class _Delta(msgspec.Struct, frozen=True):
    content: str | None = None


class _Choice(msgspec.Struct, frozen=True):
    delta: _Delta | None = None
    finish_reason: str | None = None


class _PromptDetails(msgspec.Struct, frozen=True):
    cached_tokens: int | None = None


class _TokenUsage(msgspec.Struct, frozen=True):
    prompt_tokens: int = 0  # cached tokens included
    completion_tokens: int = 0  # reasoning tokens included
    prompt_tokens_details: _PromptDetails | None = None


class _Chunk(msgspec.Struct, frozen=True):
    choices: list[_Choice] = []
    usage: _TokenUsage | None = None
    error: UpstreamError | None = None


_model_list = msgspec.json.Decoder(_ModelList)
_chunk = msgspec.json.Decoder(_Chunk)


async def list_models(client: httpx.AsyncClient, conn: Connection) -> ListResult:
    url = endpoint(conn, "/models")
    return await list_models_via(client, conn, HttpRequest("GET", url, _headers(conn)), parse_models)


def stream_chat(
    client: httpx.AsyncClient,
    conn: Connection,
    model: str,
    messages: Sequence[ChatMessage],
    *,
    max_tokens: int | None = None,
    reasoning_effort: str | None = None,
) -> ChatStream:
    url = endpoint(conn, "/chat/completions")
    body = chat_body(conn.provider_type, model, messages, max_tokens, reasoning_effort)
    return stream_chat_via(client, conn, HttpRequest("POST", url, _headers(conn), body=body), decode_chat)


def _headers(conn: Connection) -> dict[str, str]:
    return headers_for(conn, "authorization", key_prefix="Bearer ")


def chat_body(
    provider_type: str,
    model: str,
    messages: Sequence[ChatMessage],
    max_tokens: int | None,
    reasoning_effort: str | None,
) -> bytes:
    """The request body; the reasoning level is sent as given in `reasoning_effort`."""
    new_limit = provider_type in NEW_TOKEN_LIMIT_TYPES
    return msgspec.json.encode(
        _ChatBody(
            model=model,
            messages=messages,
            stream=True,
            stream_options=_StreamOptions(include_usage=True),
            max_tokens=None if new_limit else max_tokens,
            max_completion_tokens=max_tokens if new_limit else None,
            reasoning_effort=reasoning_effort,
        )
    )


def parse_models(body: bytes) -> list[str]:
    return [model.id for model in _model_list.decode(body).data]


async def decode_chat(lines: AsyncIterator[str]) -> AsyncIterator[ChatChunk]:
    """Text deltas, the finish reason, then the last usage seen; `data: [DONE]` (or a clean end after a finish
    reason) ends it."""
    finish, finished, usage = None, False, None
    async for event in sse_events(lines):
        if event.data == "[DONE]":
            finished = True
            break
        chunk = _chunk.decode(event.data)
        if chunk.error is not None:
            yield ChatError("server_error", None, chunk.error.message or "the stream reported an error")
            return
        for choice in chunk.choices:
            if choice.delta is not None and choice.delta.content:
                yield TextDelta(choice.delta.content)
            finish = choice.finish_reason or finish
        usage = chunk.usage or usage
    if not finished and finish is None:
        raise StreamEndedEarly
    if finish is not None:
        yield Finish(finish.lower())
    if usage is not None:
        cached = usage.prompt_tokens_details.cached_tokens if usage.prompt_tokens_details else None
        yield Usage(usage.prompt_tokens, usage.completion_tokens, cache_read_tokens=cached or 0)
