"""Anthropic Messages API: model listing and chat streamed as typed SSE events."""

from collections.abc import AsyncIterator, Sequence

import httpx
import msgspec

from backend.providers.contract import (
    ChatChunk,
    ChatError,
    ChatMessage,
    ChatStream,
    Connection,
    ListResult,
    Outcome,
    TextDelta,
    Usage,
)
from backend.providers.exchange import StreamEndedEarly, list_models_via, stream_chat_via
from backend.providers.failures import UpstreamError
from backend.providers.sse import sse_events
from backend.providers.transport import HttpRequest, endpoint, headers_for

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096  # the API requires a limit
STREAM_ERROR_OUTCOMES: dict[str, Outcome] = {
    "rate_limit_error": "rate_limited",
    "authentication_error": "auth_failed",
    "permission_error": "auth_failed",
    "not_found_error": "not_found",
    "invalid_request_error": "bad_response",
}


class _ChatBody(msgspec.Struct, frozen=True, omit_defaults=True):
    model: str
    max_tokens: int
    messages: list[ChatMessage]
    stream: bool
    system: str = ""


class _Model(msgspec.Struct, frozen=True):
    id: str


class _ModelList(msgspec.Struct, frozen=True):
    data: list[_Model]


class _TokenUsage(msgspec.Struct, frozen=True):
    input_tokens: int = 0
    output_tokens: int = 0


class _Message(msgspec.Struct, frozen=True):
    usage: _TokenUsage | None = None


class _Delta(msgspec.Struct, frozen=True):
    type: str = ""
    text: str = ""


class _Event(msgspec.Struct, frozen=True):
    type: str
    message: _Message | None = None
    delta: _Delta | None = None
    usage: _TokenUsage | None = None
    error: UpstreamError | None = None


_model_list = msgspec.json.Decoder(_ModelList)
_event = msgspec.json.Decoder(_Event)


async def list_models(client: httpx.AsyncClient, conn: Connection) -> ListResult:
    request = HttpRequest("GET", endpoint(conn, "/v1/models"), _headers(conn), {"limit": "1000"})
    return await list_models_via(client, conn, request, _parse_models)


def stream_chat(
    client: httpx.AsyncClient,
    conn: Connection,
    model: str,
    messages: Sequence[ChatMessage],
    *,
    max_tokens: int | None = None,
) -> ChatStream:
    body = _ChatBody(
        model=model,
        max_tokens=max_tokens or DEFAULT_MAX_TOKENS,
        messages=[message for message in messages if message.role != "system"],
        stream=True,
        system="\n\n".join(message.content for message in messages if message.role == "system"),
    )
    url = endpoint(conn, "/v1/messages")
    request = HttpRequest("POST", url, _headers(conn), body=msgspec.json.encode(body))
    return stream_chat_via(client, conn, request, _decode_chat)


def _headers(conn: Connection) -> dict[str, str]:
    return headers_for(conn, "x-api-key", fixed={"anthropic-version": API_VERSION})


def _parse_models(body: bytes) -> list[str]:
    return [model.id for model in _model_list.decode(body).data]


async def _decode_chat(lines: AsyncIterator[str]) -> AsyncIterator[ChatChunk]:
    """Input tokens come with message_start, output tokens with message_delta; message_stop ends the turn."""
    usage = _TokenUsage()
    async for sse in sse_events(lines):
        event = _event.decode(sse.data)
        if event.type == "content_block_delta" and event.delta is not None and event.delta.type == "text_delta":
            yield TextDelta(event.delta.text)
        elif event.type in ("message_start", "message_delta"):
            usage = _merged(usage, event)
        elif event.type == "message_stop":
            yield Usage(usage.input_tokens, usage.output_tokens)
            return
        elif event.type == "error":
            yield _stream_error(event.error or UpstreamError())
            return
    raise StreamEndedEarly


def _merged(usage: _TokenUsage, event: _Event) -> _TokenUsage:
    update = event.usage or (event.message.usage if event.message else None)
    if update is None:
        return usage
    return _TokenUsage(update.input_tokens or usage.input_tokens, update.output_tokens or usage.output_tokens)


def _stream_error(error: UpstreamError) -> ChatError:
    outcome = STREAM_ERROR_OUTCOMES.get(error.type, "server_error")
    return ChatError(outcome, None, f"{error.type or 'error'}: {error.message}")
