"""The guard on every route: who is asking (a token, or `local`), and whether that role may call the route.

A token comes from `Authorization: Bearer <token>` or, for browsers, the `switchboard_token` cookie; never
from the URL. A bad bearer token is refused even in local mode; a stale cookie is ignored there.
"""

from __future__ import annotations

from typing import NoReturn

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException, WebSocketException
from litestar.handlers.base import BaseRouteHandler

from backend.auth.permissions import WEBSOCKET, allows, required_access
from backend.auth.service import LOCAL, Principal, Tokens

AUTH_COOKIE = "switchboard_token"
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


async def authorize(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Refuse with 401/403 (websockets: close 4401/4403 before the handshake completes), else record who asks."""
    websocket = connection.scope["type"] == "websocket"
    access = required_access(WEBSOCKET if websocket else connection.scope["method"], connection.scope["path_template"])
    if access is None:
        _refuse(websocket, CLOSE_FORBIDDEN, "This route is not in the permissions table")
    if access == "public":
        return
    tokens: Tokens = connection.app.state.tokens
    principal = await authenticate(connection, tokens)
    if principal is None:
        _refuse(websocket, CLOSE_UNAUTHENTICATED, "Authentication required")
    if not allows(principal.role, access):
        _refuse(websocket, CLOSE_FORBIDDEN, f"The {principal.role} role may not do this ({access} or above needed)")
    connection.scope["user"] = principal


async def authenticate(connection: ASGIConnection, tokens: Tokens) -> Principal | None:
    """The principal a request acts as, or None when it must be refused with 401."""
    header = connection.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        return await tokens.principal(token.strip()) if scheme.lower() == "bearer" else None
    cookie = connection.cookies.get(AUTH_COOKIE)
    principal = await tokens.principal(cookie) if cookie else None
    if principal is not None:
        return principal
    return None if await tokens.required() else LOCAL


def principal_of(connection: ASGIConnection) -> Principal:
    """Who the guard found the request to be; a handler reached without the guard is refused."""
    principal = connection.scope.get("user")
    if not isinstance(principal, Principal):
        raise NotAuthorizedException("Authentication required")
    return principal


def _refuse(websocket: bool, close_code: int, title: str) -> NoReturn:
    if websocket:
        raise WebSocketException(detail=title, code=close_code)
    if close_code == CLOSE_UNAUTHENTICATED:
        raise NotAuthorizedException(title, headers={"WWW-Authenticate": "Bearer"})
    raise PermissionDeniedException(title)
