"""Problem+json errors: one shape for every refused request, naming each bad field."""

from __future__ import annotations

import logging

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from events.errors import LockWaitTimeout

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)


class FieldError(msgspec.Struct, frozen=True):
    """One problem with one input field (dotted path, e.g. `models[2].cost_per_1m_in`)."""

    field: str
    message: str


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    """RFC 9457 problem details, with the list of field errors for validation failures."""

    title: str
    status: int
    detail: str = ""
    type: str = "about:blank"
    errors: list[FieldError] = []


class ProblemError(Exception):
    """A domain refusal that maps to one HTTP status."""

    status = 400
    title = "Bad request"
    type = "about:blank"

    def __init__(self, detail: str = "", errors: list[FieldError] | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = errors or []


class ValidationFailed(ProblemError):
    """The input broke one or more rules; every problem is listed."""

    status = 422
    title = "Validation failed"


class NotFound(ProblemError):
    status = 404
    title = "Not found"


class Conflict(ProblemError):
    """The resource changed since the client read it, or already exists."""

    status = 409
    title = "Conflict"


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(
        msgspec.json.encode(problem),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


BODY_KWARG = "data"
"""The handler parameter Litestar fills from the request body; callers know it as the body."""
NO_BODY = f"'{BODY_KWARG}'"
"""Litestar's message when there was no body to fill it from."""


def _field_error(item: dict[str, object]) -> FieldError:
    key = str(item.get("key") or item.get("source") or "body")
    message = str(item.get("message", ""))
    if key != BODY_KWARG:
        return FieldError(field=key, message=message)
    return FieldError(field="body", message="request body is required" if message == NO_BODY else message)


def _from_validation(exc: ValidationException) -> list[FieldError]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    return [_field_error(item) for item in extra if isinstance(item, dict)]


def handle_problem_error(_: Request, exc: ProblemError) -> Response[bytes]:
    return problem_response(
        Problem(title=exc.title, status=exc.status, detail=exc.detail, type=exc.type, errors=exc.errors)
    )


def _undecodable_body(exc: HTTPException) -> list[FieldError]:
    """A body that is not JSON at all (malformed, invalid UTF-8): Litestar's refusal, named as the body's."""
    if isinstance(exc.__cause__, SerializationException):
        return [FieldError("body", f"is not valid JSON: {exc.detail}")]
    return []


def handle_http_exception(_: Request, exc: HTTPException) -> Response[bytes]:
    errors = _from_validation(exc) if isinstance(exc, ValidationException) else _undecodable_body(exc)
    title = "Validation failed" if errors else exc.detail
    detail = exc.detail if errors else ""
    return problem_response(
        Problem(title=title, status=exc.status_code, detail=detail, errors=errors),
        headers=exc.headers,
    )


def handle_unexpected(request: Request, exc: Exception) -> Response[bytes]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        Problem(title="Internal server error", status=HTTP_500_INTERNAL_SERVER_ERROR)
    )


def handle_too_deep(_: Request, __: RecursionError) -> Response[bytes]:
    """JSON nested deeper than the decoder can follow is bad input, not a server error."""
    too_deep = [FieldError("body", "is nested too deeply")]
    return problem_response(
        Problem(title="Validation failed", status=400, detail="the body was refused", errors=too_deep)
    )


DATABASE_RETRY_AFTER_S = 1


def handle_database_busy(request: Request, exc: Exception) -> Response[bytes]:
    """The shared database refused a connection (its connection limit, a restart), or another replica held a lock
    too long: a 503 the client may retry."""
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return problem_response(
        Problem(title="Database unavailable", status=503, detail="the database refused a connection; try again"),
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
    )


def handle_unstorable(request: Request, exc: Exception) -> Response[bytes]:
    """A value the database cannot hold (a NUL character in text on PostgreSQL): bad input, and nothing written."""
    log.info("refused a value the database cannot hold on %s %s: %s", request.method, request.url.path,
             type(exc).__name__)
    detail = "the request holds a character the database cannot store (NUL); nothing was written"
    return problem_response(Problem(title="Bad request", status=400, detail=detail))


EXCEPTION_HANDLERS = {
    ProblemError: handle_problem_error,
    RecursionError: handle_too_deep,
    asyncpg.TooManyConnectionsError: handle_database_busy,
    asyncpg.CannotConnectNowError: handle_database_busy,
    LockWaitTimeout: handle_database_busy,
    asyncpg.CharacterNotInRepertoireError: handle_unstorable,
    asyncpg.UntranslatableCharacterError: handle_unstorable,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
