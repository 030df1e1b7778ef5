"""Cross-site rules for every request: known Host names, same-origin writes and websockets, JSON writes,
and the security headers every page and API answer carries.

Litestar's AllowedHostsMiddleware matches `Host` with its port, answers plain JSON and runs per route;
these rules also guard the Reflex pages and Reflex's event socket, so they live in one ASGI middleware.
"""

from __future__ import annotations

import msgspec
from litestar.datastructures import Headers
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from backend.auth.permissions import FORM_ROUTES
from backend.errors import PROBLEM_JSON, Problem
from backend.settings import Settings, host_name

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON_MEDIA_TYPE = "application/json"
POLICY_VIOLATION = 1008
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    # no referrer to other sites; `no-referrer` would also make browsers send `Origin: null` on the app's own
    # form posts (sign-in, sign-out), which the origin rule then refuses
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
)


class SiteRules(msgspec.Struct, frozen=True, kw_only=True):
    """Which origins may write and open websockets, which host names `Host` may name,
    and whether bodies of state-changing requests must be JSON (the API) or not (Reflex's own routes)."""

    origins: frozenset[str]
    hosts: frozenset[str]
    json_writes: bool = True

    @classmethod
    def from_settings(cls, settings: Settings, *, json_writes: bool = True) -> SiteRules:
        origins = frozenset(origin.lower() for origin in settings.allowed_origins)
        return cls(origins=origins, hosts=settings.allowed_hosts, json_writes=json_writes)


def refusal(rules: SiteRules, scope: Scope) -> Problem | None:
    """Why this request or websocket must be refused, or None when it may go on."""
    headers = Headers.from_scope(scope)
    host = headers.get("host", "")
    if host_name(host) not in rules.hosts:
        return Problem(
            title="Unknown host",
            status=400,
            detail=f"this server does not answer for host {host[:100]!r}",
        )
    origin = headers.get("origin")
    if scope["type"] == "websocket":
        return _foreign_origin(rules, origin)
    if scope["type"] != "http" or scope["method"] not in STATE_CHANGING:
        return None
    if headers.get("sec-fetch-site") == "cross-site":
        return Problem(title="Cross-site request refused", status=403, detail="the request came from another site")
    foreign = _foreign_origin(rules, origin)
    if foreign is not None or not rules.json_writes or scope["path"] in FORM_ROUTES:
        return foreign  # a plain HTML form posts to the form routes: exempt from the JSON rule, not the origin rules
    return _not_json(headers)


def _foreign_origin(rules: SiteRules, origin: str | None) -> Problem | None:
    if origin is None or origin.lower() in rules.origins:
        return None
    return Problem(
        title="Cross-site request refused",
        status=403,
        detail=f"origin {origin[:100]!r} is not one of this app's origins (SWITCHBOARD_ALLOWED_ORIGINS)",
    )


def _not_json(headers: Headers) -> Problem | None:
    """A body must be declared `application/json`; a request with no body needs no content type."""
    content_type = headers.get("content-type")
    has_body = content_type is not None or "transfer-encoding" in headers or headers.get("content-length", "0") != "0"
    media_type = (content_type or "").partition(";")[0].strip().lower()
    if not has_body or media_type == JSON_MEDIA_TYPE:
        return None
    return Problem(
        title="Unsupported media type",
        status=415,
        detail=f"a request body must be {JSON_MEDIA_TYPE}, not {media_type or 'undeclared'!r}",
    )


async def add_security_headers(message: Message, _: Scope | None = None) -> None:
    """Add the security headers a response does not set itself (also a Litestar `before_send` hook)."""
    if message["type"] != "http.response.start":
        return
    headers = list(message.get("headers", ()))
    present = {bytes(name).lower() for name, _ in headers}
    message["headers"] = headers + [pair for pair in SECURITY_HEADERS if pair[0] not in present]


class SiteGuard:
    """ASGI middleware: refuse what `refusal` names; add the security headers to every answer."""

    def __init__(self, app: ASGIApp, rules: SiteRules) -> None:
        self.app = app
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        problem = refusal(self.rules, scope)
        if problem is not None:
            await _refuse(scope, receive, send, problem)
            return

        async def send_with_headers(message: Message) -> None:
            await add_security_headers(message)
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _refuse(scope: Scope, receive: Receive, send: Send, problem: Problem) -> None:
    if scope["type"] == "websocket":
        await receive()  # the websocket.connect message
        await send({"type": "websocket.close", "code": POLICY_VIOLATION, "reason": problem.title})
        return
    body = msgspec.json.encode(problem)
    start: Message = {
        "type": "http.response.start",
        "status": problem.status,
        "headers": [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())],
    }
    await add_security_headers(start)
    await send(start)
    await send({"type": "http.response.body", "body": body})
