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
    ListResult,
    TextDelta,
    Usage,
)
from backend.providers.exchange import StreamEndedEarly, list_models_via, stream_chat_via
from backend.providers.failures import UpstreamError
from backend.providers.sse import sse_events
from backend.providers.transport import HttpRequest, endpoint, headers_for

ROLES = {"user": "user", "assistant": "model"}


class _Part(msgspec.Struct, frozen=True, omit_defaults=True):
    text: str = ""
    thought: bool = False


class _Content(msgspec.Struct, frozen=True, omit_defaults=True):
    parts: list[_Part] = []
    role: str = ""


class _GenerationConfig(msgspec.Struct, frozen=True, rename="camel"):
    max_output_tokens: int


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
    prompt_token_count: int = 0
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
) -> ChatStream:
    url = endpoint(conn, f"/v1beta/{_model_path(model)}:streamGenerateContent")
    body = msgspec.json.encode(_chat_body(messages, max_tokens))
    request = HttpRequest("POST", url, _headers(conn), {"alt": "sse"}, body)
    return stream_chat_via(client, conn, request, _decode_chat)


def _headers(conn: Connection) -> dict[str, str]:
    return headers_for(conn, "x-goog-api-key")


def _model_path(model: str) -> str:
    """`gemini-2.5-flash` becomes `models/gemini-2.5-flash`; `models/...` and `tunedModels/...` stay."""
    return quote(model if "/" in model else f"models/{model}", safe="/")


def _chat_body(messages: Sequence[ChatMessage], max_tokens: int | None) -> _ChatBody:
    system = [_Part(message.content) for message in messages if message.role == "system"]
    return _ChatBody(
        contents=[
            _Content([_Part(message.content)], ROLES[message.role]) for message in messages if message.role != "system"
        ],
        system_instruction=_Content(system) if system else None,
        generation_config=_GenerationConfig(max_tokens) if max_tokens else None,
    )


def _parse_models(body: bytes) -> list[str]:
    return [model.name.removeprefix("models/") for model in _model_list.decode(body).models]


async def _decode_chat(lines: AsyncIterator[str]) -> AsyncIterator[ChatChunk]:
    """Gemini has no end marker: a finishReason ends the answer; the last usageMetadata counts."""
    finished, usage = False, None
    async for event in sse_events(lines):
        chunk = _chunk.decode(event.data)
        if chunk.error is not None:
            yield ChatError("server_error", None, chunk.error.message or "the stream reported an error")
            return
        for candidate in chunk.candidates[:1]:
            for part in candidate.content.parts if candidate.content else []:
                if part.text and not part.thought:
                    yield TextDelta(part.text)
            finished = finished or candidate.finish_reason is not None
        usage = chunk.usage_metadata or usage
    if not finished:
        raise StreamEndedEarly
    if usage is not None:
        yield Usage(usage.prompt_token_count, usage.candidates_token_count + usage.thoughts_token_count)
