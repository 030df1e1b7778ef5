"""Per-request event metadata: who acts (actor, from authentication) and which request it was."""

from __future__ import annotations

import uuid

from litestar import Request

from backend.auth.guard import principal_of
from backend.errors import FieldError, ValidationFailed
from events import Metadata


def request_metadata(request: Request) -> Metadata:
    """Build event metadata from the request; a dependency for every command handler.

    The actor is who the auth guard found the request to be; no header a client sends can change it.
    """
    actor = principal_of(request).actor
    request_id = request.headers.get("x-request-id", "").strip()[:120] or uuid.uuid4().hex
    return Metadata(actor=actor, request_id=request_id)


def idempotency_key(request: Request) -> str | None:
    """The client's Idempotency-Key, used to derive stable event ids."""
    key = request.headers.get("idempotency-key", "").strip()
    return key[:200] or None


def parse_if_match(value: str | None) -> int | None:
    """`If-Match: 3`, `"3"` or `W/"3"` as the stream version the client last read."""
    if value is None:
        return None
    text = value.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise ValidationFailed(
            "If-Match must be a version number",
            [FieldError("If-Match", "must be the version you last read, a whole number")],
        )
    return int(text)
