"""The two exchanges every protocol runs, given its request and its decoder: list models, stream a chat."""

from collections.abc import AsyncIterator, Callable

import httpx
import msgspec

from backend.providers.contract import ChatChunk, ChatError, ChatStream, Connection, ListResult
from backend.providers.failures import Failure, describe_error, scrub, secrets_of
from backend.providers.transport import HttpRequest, fetch, open_stream

ParseModels = Callable[[bytes], list[str]]
DecodeChat = Callable[[AsyncIterator[str]], AsyncIterator[ChatChunk]]


class StreamEndedEarly(Exception):
    """Raised by a chat decoder when the lines run out before the protocol's end-of-answer marker."""


async def list_models_via(
    client: httpx.AsyncClient, conn: Connection, request: HttpRequest, parse: ParseModels
) -> ListResult:
    secrets = secrets_of(conn.api_key, request.headers)
    answer = await fetch(client, conn, request)
    if isinstance(answer, Failure):
        return ListResult(answer.outcome, answer.http_status, answer.latency_ms, [], scrub(answer.message, secrets))
    try:
        model_ids = parse(answer.body)
    except msgspec.DecodeError as error:
        message = scrub(f"HTTP {answer.status}: unreadable model list: {error}", secrets)
        return ListResult("bad_response", answer.status, answer.latency_ms, [], message)
    count = f"{len(model_ids)} model" if len(model_ids) == 1 else f"{len(model_ids)} models"
    return ListResult("ok", answer.status, answer.latency_ms, model_ids, f"{count} listed")


async def stream_chat_via(
    client: httpx.AsyncClient, conn: Connection, request: HttpRequest, decode: DecodeChat
) -> ChatStream:
    """Yield the decoded chunks; any failure becomes one last ChatError with a scrubbed message."""
    secrets = secrets_of(conn.api_key, request.headers)
    async with open_stream(client, conn, request) as opened:
        if not isinstance(opened, httpx.Response):
            yield ChatError(opened.outcome, opened.http_status, scrub(opened.message, secrets))
            return
        status = opened.status_code
        try:
            async for chunk in decode(opened.aiter_lines()):
                yield _scrubbed(chunk, secrets)
        except httpx.TimeoutException:
            yield ChatError("timeout", status, f"the stream went silent for {conn.timeout_ms} ms")
        except httpx.TransportError as error:
            yield ChatError("bad_response", status, scrub(f"the stream broke off: {describe_error(error)}", secrets))
        except msgspec.DecodeError as error:
            yield ChatError("bad_response", status, scrub(f"unreadable stream data: {error}", secrets))
        except StreamEndedEarly:
            yield ChatError("bad_response", status, "the stream ended before the answer was complete")


def _scrubbed(chunk: ChatChunk, secrets: tuple[str, ...]) -> ChatChunk:
    if isinstance(chunk, ChatError):
        return ChatError(chunk.outcome, chunk.http_status, scrub(chunk.message, secrets))
    return chunk
