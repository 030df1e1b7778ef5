"""The two exchanges every protocol runs, given its request and its decoder: list models, stream a chat."""

from collections.abc import AsyncIterator, Callable
from contextlib import aclosing, suppress

import anyio
import httpx
import msgspec

from backend.providers.contract import Attempts, ChatChunk, ChatError, ChatStream, Connection, ListResult, TextDelta
from backend.providers.failures import Failure, describe_error, scrub, secrets_of
from backend.providers.transport import HttpRequest, fetch, open_stream, retry_delay, undecodable

ParseModels = Callable[[bytes], list[str]]
TAIL_WAIT_S = 0.5  # what is left of a body after the end of the answer is as a rule in hand already
TAIL_LIMIT = 65_536  # characters read after the end of the answer before the connection is given up instead
DecodeChat = Callable[[AsyncIterator[str]], AsyncIterator[ChatChunk]]


class StreamEndedEarly(Exception):
    """Raised by a chat decoder when the lines run out before the protocol's end-of-answer marker."""


class StreamStalled(Exception):
    """No part of the answer came within the timeout; `kept_alive`: lines that carry none (keep-alives) did."""

    def __init__(self, kept_alive: bool) -> None:
        super().__init__()
        self.kept_alive = kept_alive


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
    """Attempts, then the decoded chunks; a failure ends the stream with one ChatError (scrubbed).

    A failure worth retrying is retried, as the connection's policy allows, only while no text has come:
    the chunks of an attempt are held back until its first text, so a retried attempt leaves no trace."""
    secrets = secrets_of(conn.api_key, request.headers)
    number = 1
    while True:
        held: list[ChatChunk | Failure] = []
        async with aclosing(_attempt(client, conn, request, decode)) as chunks:
            async for chunk in chunks:
                if isinstance(chunk, TextDelta):
                    yield Attempts(number)
                    for earlier in (*held, chunk):
                        yield _reported(earlier, secrets)
                    async for later in chunks:
                        yield _reported(later, secrets)
                    return
                held.append(chunk)
        failure = held[-1] if held and isinstance(held[-1], Failure) else None
        delay = retry_delay(conn, number, failure) if failure is not None else None
        if delay is None:
            yield Attempts(number)
            for chunk in held:
                yield _reported(chunk, secrets)
            return
        await anyio.sleep(delay)
        number += 1


async def _attempt(
    client: httpx.AsyncClient, conn: Connection, request: HttpRequest, decode: DecodeChat
) -> AsyncIterator[ChatChunk | Failure]:
    """One request: its decoded chunks, and a Failure last if it failed (an error reported inside the
    stream included)."""
    async with open_stream(client, conn, request) as opened:
        if not isinstance(opened, httpx.Response):
            yield opened
            return
        status = opened.status_code
        raw = opened.aiter_lines()
        try:
            lines = _Counted(raw)
            async for chunk in _progressing(decode(lines.each()), lines, conn.timeout_ms / 1000):
                yield (
                    Failure(chunk.outcome, chunk.http_status or status, chunk.message, 0.0)
                    if isinstance(chunk, ChatError)
                    else chunk
                )
            await _read_to_the_end(raw)  # the raw lines: the answer is complete, no stall may fail it now
        except StreamStalled as stalled:
            silence = "sent only keep-alives" if stalled.kept_alive else "went silent"
            yield Failure("timeout", status, f"the stream {silence} for {conn.timeout_ms} ms", 0.0)
        except httpx.TimeoutException:
            yield Failure("timeout", status, f"the stream went silent for {conn.timeout_ms} ms", 0.0)
        except httpx.TransportError as error:
            message = f"the stream broke off: {describe_error(error)}"
            yield Failure("bad_response", status, message, 0.0, broke_off=True)
        except httpx.DecodingError as error:
            yield undecodable(status, error, 0.0)
        except msgspec.DecodeError as error:
            yield Failure("bad_response", status, f"unreadable stream data: {error}", 0.0)
        except StreamEndedEarly:
            yield Failure("bad_response", status, "the stream ended before the answer was complete", 0.0)


class _Counted:
    """The lines of an answer, counting those read since the last decoded chunk and noting when the last came."""

    def __init__(self, lines: AsyncIterator[str]) -> None:
        self.lines = lines
        self.since_chunk = 0
        self.last_at = anyio.current_time()

    async def each(self) -> AsyncIterator[str]:
        async for line in self.lines:
            self.since_chunk, self.last_at = self.since_chunk + 1, anyio.current_time()
            yield line

    def kept_coming(self, seconds: float) -> bool:
        """Lines that decode to nothing kept coming until lately: more than the blank line that ends an SSE event,
        the last within the latter half of a wait of `seconds` (a stall after a chunkless event is silence)."""
        return self.since_chunk > 1 and anyio.current_time() - self.last_at < seconds / 2


async def _progressing(chunks: AsyncIterator[ChatChunk], lines: _Counted, seconds: float) -> AsyncIterator[ChatChunk]:
    """The decoded chunks, until none has come for `seconds` of waiting (StreamStalled): a read timeout alone never
    ends a body that sends a keep-alive now and then but no answer, whether blank lines, SSE comments or the
    protocol's own pings (Anthropic's `ping` events), since only what decodes to a chunk counts as progress.
    Only the time spent waiting for a chunk counts, not the reader's own time between chunks."""
    while True:
        with anyio.move_on_after(seconds) as waiting:
            chunk = await anext(chunks, None)
        if waiting.cancelled_caught:
            raise StreamStalled(kept_alive=lines.kept_coming(seconds))
        if chunk is None:
            return
        lines.since_chunk = 0
        yield chunk


async def _read_to_the_end(lines: AsyncIterator[str]) -> None:
    """Read what the body still holds after the protocol's end of the answer (as a rule only the end of the
    chunked body), so that the connection goes back to the pool: one closed half-read costs the next turn a new
    connection and TLS handshake. A body that goes on is left, and its connection closed."""
    read = 0
    with anyio.move_on_after(TAIL_WAIT_S), suppress(httpx.HTTPError):
        async for line in lines:
            read += len(line)
            if read > TAIL_LIMIT:
                return


def _reported(chunk: ChatChunk | Failure, secrets: tuple[str, ...]) -> ChatChunk:
    if isinstance(chunk, Failure):
        return ChatError(chunk.outcome, chunk.http_status, scrub(chunk.message, secrets))
    return chunk
