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
    Finish,
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
# Reasoning levels as extended-thinking budgets. The API wants at least 1,024 and a max_tokens above the
# budget, so the budget is added to the answer's own limit. "max" fills the 32,000 output tokens of the
# smallest thinking model (Claude Opus 4) with the default answer limit; "none" sends no `thinking` at all.
THINKING_BUDGETS: dict[str, int] = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 24576,
    "max": 32000 - DEFAULT_MAX_TOKENS,
}
FINISH_WORDS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
STREAM_ERROR_OUTCOMES: dict[str, Outcome] = {
    "rate_limit_error": "rate_limited",
    "authentication_error": "auth_failed",
    "permission_error": "auth_failed",
    "not_found_error": "not_found",
    "invalid_request_error": "bad_response",
}


class _Thinking(msgspec.Struct, frozen=True):
    type: str
    budget_tokens: int


class _ChatBody(msgspec.Struct, frozen=True, omit_defaults=True):
    model: str
    max_tokens: int
    messages: list[ChatMessage]
    stream: bool
    system: str = ""
    thinking: _Thinking | None = None


class _Model(msgspec.Struct, frozen=True):
    id: str


class _ModelList(msgspec.Struct, frozen=True):
    data: list[_Model]


class _TokenUsage(msgspec.Struct, frozen=True):
    input_tokens: int | None = None  # cache reads and writes excluded
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None


class _Message(msgspec.Struct, frozen=True):
    usage: _TokenUsage | None = None


class _Delta(msgspec.Struct, frozen=True):
    type: str = ""
    text: str = ""
    stop_reason: str | None = None


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
    reasoning_effort: str | None = None,
) -> ChatStream:
    budget = THINKING_BUDGETS.get(reasoning_effort or "")
    body = _ChatBody(
        model=model,
        max_tokens=(max_tokens or DEFAULT_MAX_TOKENS) + (budget or 0),
        messages=[message for message in messages if message.role != "system"],
        stream=True,
        system="\n\n".join(message.content for message in messages if message.role == "system"),
        thinking=_Thinking("enabled", budget) if budget else None,
    )
    url = endpoint(conn, "/v1/messages")
    request = HttpRequest("POST", url, _headers(conn), body=msgspec.json.encode(body))
    return stream_chat_via(client, conn, request, _decode_chat)


def _headers(conn: Connection) -> dict[str, str]:
    return headers_for(conn, "x-api-key", fixed={"anthropic-version": API_VERSION})


def _parse_models(body: bytes) -> list[str]:
    return [model.id for model in _model_list.decode(body).data]


async def _decode_chat(lines: AsyncIterator[str]) -> AsyncIterator[ChatChunk]:
    """Input and cache tokens come with message_start, output tokens and the stop reason with message_delta
    (which may repeat the others); message_stop ends the turn. Thinking blocks are not part of the answer."""
    usage, stop_reason = _TokenUsage(), None
    async for sse in sse_events(lines):
        event = _event.decode(sse.data)
        if event.type == "content_block_delta" and event.delta is not None and event.delta.type == "text_delta":
            yield TextDelta(event.delta.text)
        elif event.type in ("message_start", "message_delta"):
            usage = _merged(usage, event)
            stop_reason = (event.delta.stop_reason if event.delta else None) or stop_reason
        elif event.type == "message_stop":
            if stop_reason is not None:
                yield Finish(FINISH_WORDS.get(stop_reason, stop_reason.lower()))
            yield Usage(
                usage.input_tokens or 0,
                usage.output_tokens or 0,
                cache_read_tokens=usage.cache_read_input_tokens or 0,
                cache_write_tokens=usage.cache_creation_input_tokens or 0,
            )
            return
        elif event.type == "error":
            yield _stream_error(event.error or UpstreamError())
            return
    raise StreamEndedEarly


def _merged(usage: _TokenUsage, event: _Event) -> _TokenUsage:
    update = event.usage or (event.message.usage if event.message else None)
    if update is None:
        return usage
    return _TokenUsage(
        _later(update.input_tokens, usage.input_tokens),
        _later(update.output_tokens, usage.output_tokens),
        _later(update.cache_read_input_tokens, usage.cache_read_input_tokens),
        _later(update.cache_creation_input_tokens, usage.cache_creation_input_tokens),
    )


def _later(update: int | None, known: int | None) -> int:
    """The counts are running totals: a later event may repeat them, or send 0 or null for one it omits."""
    return max(update or 0, known or 0)


def _stream_error(error: UpstreamError) -> ChatError:
    outcome = STREAM_ERROR_OUTCOMES.get(error.type, "server_error")
    return ChatError(outcome, None, f"{error.type or 'error'}: {error.message}")
