"""Ollama's native API: /api/tags lists local models, /api/chat streams newline-delimited JSON."""

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
from backend.providers.transport import HttpRequest, endpoint, headers_for


class _Options(msgspec.Struct, frozen=True):
    num_predict: int


class _ChatBody(msgspec.Struct, frozen=True, omit_defaults=True):
    model: str
    messages: Sequence[ChatMessage]
    stream: bool
    options: _Options | None = None
    think: bool | None = None


class _Model(msgspec.Struct, frozen=True):
    name: str


class _ModelList(msgspec.Struct, frozen=True):
    models: list[_Model] = []


class _Message(msgspec.Struct, frozen=True):
    content: str = ""


class _Line(msgspec.Struct, frozen=True):
    message: _Message | None = None
    done: bool = False
    done_reason: str | None = None
    prompt_eval_count: int = 0
    eval_count: int = 0
    error: str | None = None


_model_list = msgspec.json.Decoder(_ModelList)
_line = msgspec.json.Decoder(_Line)


async def list_models(client: httpx.AsyncClient, conn: Connection) -> ListResult:
    request = HttpRequest("GET", endpoint(conn, "/api/tags"), _headers(conn))
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
    """Any reasoning level but "none" turns thinking on (`think: true`); "none" turns it off."""
    options = _Options(max_tokens) if max_tokens else None
    think = None if reasoning_effort is None else reasoning_effort != "none"
    body = msgspec.json.encode(_ChatBody(model, messages, stream=True, options=options, think=think))
    url = endpoint(conn, "/api/chat")
    return stream_chat_via(client, conn, HttpRequest("POST", url, _headers(conn), body=body), _decode_chat)


def _headers(conn: Connection) -> dict[str, str]:
    """Ollama itself needs no key; one is sent as Bearer for servers behind an authenticating proxy."""
    return headers_for(conn, "authorization", key_prefix="Bearer ")


def _parse_models(body: bytes) -> list[str]:
    return [model.name for model in _model_list.decode(body).models]


async def _decode_chat(lines: AsyncIterator[str]) -> AsyncIterator[ChatChunk]:
    """One JSON object per line; the one with done:true carries the finish reason and the token counts.
    Thinking comes in `message.thinking`, which is not part of the answer."""
    async for text in lines:
        if not text.strip():
            continue
        line = _line.decode(text)
        if line.error is not None:
            yield ChatError("server_error", None, line.error)
            return
        if line.message is not None and line.message.content:
            yield TextDelta(line.message.content)
        if line.done:
            if line.done_reason:
                yield Finish(line.done_reason.lower())
            yield Usage(line.prompt_eval_count, line.eval_count)
            return
    raise StreamEndedEarly
