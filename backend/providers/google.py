"""Google Gemini API (generativelanguage, v1beta): model listing and streamGenerateContent over SSE."""

from collections.abc import AsyncIterator, Sequence
from urllib.parse import quote

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

ROLES = {"user": "user", "assistant": "model"}
# Reasoning levels as thinking budgets, each within what every Gemini 2.5 model accepts (Pro 128-32,768,
# Flash 0-24,576, Flash-Lite 512-24,576); "none" is 0, which turns thinking off where a model allows it.
THINKING_BUDGETS: dict[str, int] = {
    "none": 0,
    "minimal": 512,
    "low": 1024,
    "medium": 8192,
    "high": 16384,
    "xhigh": 24576,
    "max": 24576,
}
FINISH_WORDS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}


class _Part(msgspec.Struct, frozen=True, omit_defaults=True):
    text: str = ""
    thought: bool = False


class _Content(msgspec.Struct, frozen=True, omit_defaults=True):
    parts: list[_Part] = []
    role: str = ""


class _ThinkingConfig(msgspec.Struct, frozen=True, rename="camel"):
    thinking_budget: int


class _GenerationConfig(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    max_output_tokens: int | None = None
    thinking_config: _ThinkingConfig | None = None


class _ChatBody(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    contents: list[_Content]
    system_instruction: _Content | None = None
    generation_config: _GenerationConfig | None = None


class _Model(msgspec.Struct, frozen=True):
    name: str


class _ModelList(msgspec.Struct, frozen=True):
    models: list[_Model] = []


class _Candidate(msgspec.Struct, frozen=True, rename="camel"):
    content: _Content | None = None
    finish_reason: str | None = None


class _UsageMetadata(msgspec.Struct, frozen=True, rename="camel"):
    prompt_token_count: int = 0  # cached content included
    cached_content_token_count: int = 0
    candidates_token_count: int = 0
    thoughts_token_count: int = 0


class _Chunk(msgspec.Struct, frozen=True, rename="camel"):
    candidates: list[_Candidate] = []
    usage_metadata: _UsageMetadata | None = None
    error: UpstreamError | None = None


_model_list = msgspec.json.Decoder(_ModelList)
_chunk = msgspec.json.Decoder(_Chunk)


async def list_models(client: httpx.AsyncClient, conn: Connection) -> ListResult:
    url = endpoint(conn, "/v1beta/models")
    request = HttpRequest("GET", url, _headers(conn), {"pageSize": "1000"})
    return await list_models_via(client, conn, request, _parse_models)


def stream_chat(
    client: httpx.AsyncClient,
    conn: Connection,
    model: str,
    messages: Sequence[ChatMessage],
    *,
    max_tokens: int | None = None,
    reasoning_effort: str | None = None,
) -> ChatStream:
    url = endpoint(conn, f"/v1beta/{_model_path(model)}:streamGenerateContent")
    body = msgspec.json.encode(_chat_body(messages, max_tokens, reasoning_effort))
    request = HttpRequest("POST", url, _headers(conn), {"alt": "sse"}, body)
    return stream_chat_via(client, conn, request, _decode_chat)


def _headers(conn: Connection) -> dict[str, str]:
    return headers_for(conn, "x-goog-api-key")


def _model_path(model: str) -> str:
    """`gemini-2.5-flash` becomes `models/gemini-2.5-flash`; `models/...` and `tunedModels/...` stay."""
    return quote(model if "/" in model else f"models/{model}", safe="/")


def _chat_body(messages: Sequence[ChatMessage], max_tokens: int | None, reasoning_effort: str | None) -> _ChatBody:
    system = [_Part(message.content) for message in messages if message.role == "system"]
    budget = THINKING_BUDGETS.get(reasoning_effort or "")
    config = _GenerationConfig(max_tokens or None, _ThinkingConfig(budget) if budget is not None else None)
    return _ChatBody(
        contents=[
            _Content([_Part(message.content)], ROLES[message.role]) for message in messages if message.role != "system"
        ],
        system_instruction=_Content(system) if system else None,
        generation_config=config if config != _GenerationConfig() else None,
    )


def _parse_models(body: bytes) -> list[str]:
    return [model.name.removeprefix("models/") for model in _model_list.decode(body).models]


async def _decode_chat(lines: AsyncIterator[str]) -> AsyncIterator[ChatChunk]:
    """Gemini has no end marker: a finishReason ends the answer; the last usageMetadata counts."""
    finish, usage = None, None
    async for event in sse_events(lines):
        chunk = _chunk.decode(event.data)
        if chunk.error is not None:
            yield ChatError("server_error", None, chunk.error.message or "the stream reported an error")
            return
        for candidate in chunk.candidates[:1]:
            for part in candidate.content.parts if candidate.content else []:
                if part.text and not part.thought:
                    yield TextDelta(part.text)
            finish = candidate.finish_reason or finish
        usage = chunk.usage_metadata or usage
    if finish is None:
        raise StreamEndedEarly
    yield Finish(FINISH_WORDS.get(finish, finish.lower()))
    if usage is not None:
        output = usage.candidates_token_count + usage.thoughts_token_count
        yield Usage(usage.prompt_token_count, output, cache_read_tokens=usage.cached_content_token_count)
