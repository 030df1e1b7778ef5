"""Sending one request through the shared client with the instance's timeout, retry policy and headers."""

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from time import perf_counter

import anyio
import httpx
import msgspec

from backend.providers.contract import Connection
from backend.providers.failures import RETRYABLE, Failure, describe_error, error_in_answer, failure_from_answer

MAX_RETRY_AFTER_S = 30.0  # a server asking for a longer wait is not retried: the failure is reported at once
# No connection was made (refused, no such host, TLS refused, a proxy's refusal) or none could be: unreachable.
CANNOT_CONNECT = (httpx.ConnectError, httpx.ProxyError, httpx.UnsupportedProtocol, httpx.InvalidURL)


class HttpRequest(msgspec.Struct, frozen=True):
    method: str
    url: str
    headers: dict[str, str]
    params: dict[str, str] = {}
    body: bytes | None = None


class Reply(msgspec.Struct, frozen=True):
    """A successful answer read in full."""

    status: int
    body: bytes
    latency_ms: float


def endpoint(conn: Connection, path: str) -> str:
    """The connection's base URL joined with `path`; there is no protocol default to fall back on."""
    return conn.base_url.strip().rstrip("/") + path


def headers_for(
    conn: Connection, key_header: str, *, key_prefix: str = "", fixed: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Protocol headers, then the instance's own headers, then the key (names lower-cased so none doubles)."""
    headers = {name.lower(): value for name, value in (fixed or {}).items()}
    headers.update({name.lower(): value for name, value in conn.headers.items()})
    if conn.api_key:
        headers[key_header.lower()] = key_prefix + conn.api_key.reveal()
    return headers


async def fetch(client: httpx.AsyncClient, conn: Connection, request: HttpRequest) -> Reply | Failure:
    """Send and read the whole answer, retrying as the connection's policy allows."""
    return await _with_retries(conn, lambda: _fetch_once(client, conn, request))


@asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient, conn: Connection, request: HttpRequest
) -> AsyncIterator[httpx.Response | Failure]:
    """Send once and wait for the head of the answer; yields the open streaming response or the failure.
    Retrying is the caller's: a chat is retried until its first text, not just until its answer starts."""
    opened = await _stream_once(client, conn, request)
    if isinstance(opened, Failure):
        yield opened
        return
    try:
        yield opened
    finally:
        await _close(opened)


async def _with_retries(conn: Connection, attempt: Callable[[], Awaitable[Reply | Failure]]) -> Reply | Failure:
    number = 1
    result = await attempt()
    while isinstance(result, Failure):
        delay = retry_delay(conn, number, result)
        if delay is None:
            break
        await anyio.sleep(delay)
        number += 1
        result = await attempt()
    return result


def retry_delay(conn: Connection, number: int, failure: Failure) -> float | None:
    """Seconds to wait before attempt `number + 1`, or None when the policy or this failure allows no more."""
    if (failure.outcome not in RETRYABLE and not failure.broke_off) or number >= max(1, conn.max_attempts):
        return None
    if failure.retry_after_s is None:
        return conn.backoff_ms / 1000 * 2.0 ** (number - 1)
    return failure.retry_after_s if failure.retry_after_s <= MAX_RETRY_AFTER_S else None


async def _fetch_once(client: httpx.AsyncClient, conn: Connection, request: HttpRequest) -> Reply | Failure:
    started = perf_counter()
    with anyio.move_on_after(conn.timeout_ms / 1000):
        opened = await _open(client, conn, request, started)
        if isinstance(opened, Failure):
            return opened
        try:
            body = await opened.aread()
        except httpx.TimeoutException:
            return _timed_out(conn, started)
        except httpx.TransportError as error:
            message = f"the answer broke off: {describe_error(error)}"
            return Failure("bad_response", opened.status_code, message, _since(started), broke_off=True)
        except httpx.DecodingError as error:
            return undecodable(opened.status_code, error, _since(started))
        finally:
            await _close(opened)
        return error_in_answer(opened.status_code, body, _since(started)) or Reply(opened.status_code, body, _since(started))
    return _timed_out(conn, started)


async def _stream_once(client: httpx.AsyncClient, conn: Connection, request: HttpRequest) -> httpx.Response | Failure:
    started = perf_counter()
    with anyio.move_on_after(conn.timeout_ms / 1000):
        return await _open(client, conn, request, started)
    return _timed_out(conn, started)


async def _open(
    client: httpx.AsyncClient, conn: Connection, request: HttpRequest, started: float
) -> httpx.Response | Failure:
    """Send once and wait for the head of the answer; an error answer is read, closed and classified."""
    try:
        response = await client.send(_build(client, conn, request), stream=True)
    except httpx.TimeoutException:
        return _timed_out(conn, started)
    except CANNOT_CONNECT as error:
        return Failure(
            "unreachable", None, f"cannot reach {_origin(request.url)}: {describe_error(error)}", _since(started)
        )
    except httpx.LocalProtocolError as error:  # our own request is malformed (a header value, say): sending again won't help
        message = f"the request to {_origin(request.url)} could not be sent as it is: {describe_error(error)}"
        return Failure("bad_response", None, message, _since(started))
    except httpx.TransportError as error:  # connected and sent, then the connection was closed or reset
        message = f"the connection to {_origin(request.url)} broke off before an answer: {describe_error(error)}"
        return Failure("bad_response", None, message, _since(started), broke_off=True)
    if response.status_code < 400:
        return response
    try:
        body = await response.aread()
    except (httpx.TransportError, httpx.DecodingError):
        body = b""
    finally:
        await _close(response)
    return failure_from_answer(response.status_code, response.headers, body, _since(started))


def undecodable(status: int, error: httpx.DecodingError, latency_ms: float) -> Failure:
    """An answer whose body cannot be decoded as its headers say (a corrupt gzip body, say): not worth another try."""
    return Failure("bad_response", status, f"the answer could not be decoded: {describe_error(error)}", latency_ms)


async def _close(response: httpx.Response) -> None:
    """Close even when the attempt's deadline has passed, so the connection is released, not abandoned."""
    with anyio.CancelScope(shield=True):
        await response.aclose()


def _build(client: httpx.AsyncClient, conn: Connection, request: HttpRequest) -> httpx.Request:
    headers = request.headers if request.body is None else {"content-type": "application/json", **request.headers}
    return client.build_request(
        request.method,
        request.url,
        headers=headers,
        params=request.params,
        content=request.body,
        timeout=httpx.Timeout(conn.timeout_ms / 1000),
    )


def _timed_out(conn: Connection, started: float) -> Failure:
    return Failure("timeout", None, f"no answer within {conn.timeout_ms} ms", _since(started))


def _since(started: float) -> float:
    return round((perf_counter() - started) * 1000, 3)


def _origin(url: str) -> str:
    """Scheme, host and port only: a URL's path, query or user part may carry a secret."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "an invalid URL"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}" if parsed.host else "a URL without a host"
