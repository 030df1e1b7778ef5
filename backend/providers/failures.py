"""How a failed exchange is described: outcome classification, upstream error text, retry hints, scrubbing."""

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import msgspec

from backend.providers.contract import Outcome
from backend.secret import Secret

RETRYABLE: frozenset[Outcome] = frozenset({"rate_limited", "server_error", "timeout", "unreachable"})
SECRET_HEADER_WORDS = ("auth", "key", "token", "secret", "cookie", "signature")
REDACTED = "[redacted]"
MAX_MESSAGE_CHARS = 400
MAX_CAUSES = 8  # how far down an exception's causes a description looks


class Failure(msgspec.Struct, frozen=True):
    """One attempt that did not succeed, classified; `retry_after_s` is the server's own hint. A connection
    that broke off is worth another attempt, though its outcome (bad_response) is not otherwise retried."""

    outcome: Outcome
    http_status: int | None
    message: str
    latency_ms: float
    retry_after_s: float | None = None
    broke_off: bool = False


class UpstreamErrorReason(msgspec.Struct, frozen=True):
    reason: str = ""


class UpstreamError(msgspec.Struct, frozen=True):
    """The `error` object of OpenAI, Azure, Anthropic and Gemini error bodies (fields they share)."""

    message: str = ""
    type: str = ""
    details: list[UpstreamErrorReason] = []


class _ErrorBody(msgspec.Struct, frozen=True):
    error: UpstreamError | str | None = None  # Ollama sends {"error": "text"}
    message: str = ""


_error_body = msgspec.json.Decoder(_ErrorBody)


def classify_status(status: int, reasons: Iterable[str] = ()) -> Outcome:
    """Map an HTTP error status to an outcome; Gemini answers a wrong key with 400 API_KEY_INVALID."""
    if status in (401, 403) or "API_KEY_INVALID" in reasons:
        return "auth_failed"
    if status == 404:
        return "not_found"
    if status == 429:
        return "rate_limited"
    if status == 408:
        return "timeout"
    if status >= 500:
        return "server_error"
    return "bad_response"


def failure_from_answer(status: int, headers: Mapping[str, str], body: bytes, latency_ms: float) -> Failure:
    """Classify an error answer and keep its retry hint and the upstream's own explanation."""
    text, reasons = _error_text(body)
    retry_after_s = retry_after_seconds(headers)
    hint = f" (retry after {retry_after_s:g} s)" if retry_after_s is not None else ""
    message = f"HTTP {status}: {text}{hint}"
    return Failure(classify_status(status, reasons), status, message, latency_ms, retry_after_s)


def error_in_answer(status: int, body: bytes, latency_ms: float) -> Failure | None:
    """A successful answer whose JSON body is an error object: some servers (Ollama, proxies, Gemini under load)
    answer 200 with `{"error": ...}`, which a model list with optional fields would read as empty. A server error,
    worth another attempt, as an error inside a chat stream is."""
    try:
        decoded = _error_body.decode(body)
    except msgspec.DecodeError:
        return None
    if decoded.error is None:
        return None
    text, _ = _error_text(body)
    return Failure("server_error", status, f"HTTP {status} with an error instead of an answer: {text}", latency_ms)


def _error_text(body: bytes) -> tuple[str, list[str]]:
    try:
        decoded = _error_body.decode(body)
    except msgspec.DecodeError:
        return _shorten(body.decode("utf-8", "replace").strip() or "(empty body)"), []
    if isinstance(decoded.error, UpstreamError):
        return _shorten(decoded.error.message), [item.reason for item in decoded.error.details]
    return _shorten(decoded.error or decoded.message or "(no message)"), []


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS] + "…"


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Read `retry-after-ms` (OpenAI, Azure) or `retry-after` (seconds or an HTTP date)."""
    milliseconds = _number(headers.get("retry-after-ms"))
    if milliseconds is not None:
        return milliseconds / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _number(value)
    return seconds if seconds is not None else _seconds_until(value)


def _number(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and number >= 0 else None


def _seconds_until(http_date: str) -> float | None:
    try:
        moment = parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:  # "-0000" says the zone is unknown; HTTP dates are always UTC
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def secrets_of(api_key: Secret | None, headers: Mapping[str, str]) -> tuple[str, ...]:
    """The values that must never leave this layer: the key and every credential-like header value."""
    found = {api_key.reveal() if api_key else ""}
    for name, value in headers.items():
        if any(word in name.lower() for word in SECRET_HEADER_WORDS):
            found.add(value)
            found.add(value.partition(" ")[2])  # the token behind "Bearer " or "Basic "
    return tuple(sorted((secret for secret in found if secret.strip()), key=len, reverse=True))


def describe_error(error: BaseException) -> str:
    """The error's own words, else its causes' (a reset connection says so only at the bottom of the chain httpx
    raises: ReadError from httpcore's ReadError, raised in place of anyio's BrokenResourceError from
    ConnectionResetError), else its type's name. Only explicit causes are followed: an error merely raised while
    handling another says nothing about that one, except httpcore's, which drops the cause of what it replaces."""
    cause: BaseException | None = error
    for _ in range(MAX_CAUSES):
        if cause is None:
            break
        if str(cause):
            return str(cause)
        cause = cause.__cause__ or (cause.__context__ if type(cause).__module__.startswith("httpcore") else None)
    return type(error).__name__


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text
