"""Who may call what: the lowest role allowed on each route, keyed by method and path template.

The keys are the paths as the OpenAPI schema names them (`/api/v1/instances/{instance_id}`); the live
websocket is keyed by `WEBSOCKET`. A route missing from PERMISSIONS is refused for everyone, so a new
route cannot be left open by accident (tests/auth/test_permissions.py walks every route).
"""

from __future__ import annotations

from typing import Literal

Role = Literal["viewer", "operator", "admin"]
Access = Literal["public", "viewer", "operator", "admin"]

ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")
WEBSOCKET = "WEBSOCKET"

SIGN_IN = "/api/v1/auth/sign-in"
SIGN_OUT = "/api/v1/auth/sign-out"
FORM_ROUTES: frozenset[str] = frozenset({SIGN_IN, SIGN_OUT})
"""The only routes that take plain HTML form posts (not JSON); cross-site posts to them are stopped by Origin."""

_RANK: dict[Access, int] = {"public": 0, "viewer": 1, "operator": 2, "admin": 3}

_PROVIDER = "/api/v1/catalog/providers/{provider_id}"
_CUSTOM = "/api/v1/catalog/custom/{provider_id}"
_INSTANCE = "/api/v1/instances/{instance_id}"
_SESSION = "/api/v1/sessions/{session_id}"
_AGENT = f"{_SESSION}/agents/{{agent_id}}"

# Viewers read everything except the server's environment and the tokens; operators also run connection
# tests and run sessions and turns;
# admins also change the catalog, instances, credentials, imports and tokens.
PERMISSIONS: dict[tuple[str, str], Access] = {
    ("POST", SIGN_IN): "public",
    ("POST", SIGN_OUT): "public",
    ("GET", "/api/v1/auth/me"): "viewer",
    ("GET", "/api/schema"): "viewer",
    ("GET", "/api/schema/docs"): "viewer",
    ("GET", "/api/schema/openapi.json"): "viewer",
    ("GET", "/api/schema/{path}"): "viewer",
    ("GET", "/api/schema/swagger-ui/{path}"): "viewer",
    ("GET", "/api/v1/health"): "viewer",
    ("GET", "/api/v1/events"): "viewer",
    ("GET", "/api/v1/audit/events"): "viewer",
    ("GET", "/api/v1/audit/export"): "viewer",
    (WEBSOCKET, "/api/v1/live"): "viewer",
    ("GET", "/api/v1/catalog/providers"): "viewer",
    ("GET", _PROVIDER): "viewer",
    ("GET", "/api/v1/catalog/models"): "viewer",
    ("GET", "/api/v1/catalog/templates"): "viewer",
    ("GET", "/api/v1/catalog/export/{provider_id}"): "viewer",
    ("PUT", _CUSTOM): "admin",
    ("DELETE", _CUSTOM): "admin",
    ("POST", "/api/v1/catalog/import"): "admin",
    ("POST", "/api/v1/catalog/refresh"): "admin",
    ("GET", "/api/v1/instances"): "viewer",
    ("POST", "/api/v1/instances"): "admin",
    ("GET", _INSTANCE): "viewer",
    ("PATCH", _INSTANCE): "admin",
    ("DELETE", _INSTANCE): "admin",
    ("PUT", f"{_INSTANCE}/credential"): "admin",
    ("DELETE", f"{_INSTANCE}/credential"): "admin",
    ("POST", f"{_INSTANCE}/test"): "operator",
    ("POST", f"{_INSTANCE}/confirm-endpoint"): "admin",
    ("GET", f"{_INSTANCE}/models"): "viewer",
    ("POST", f"{_INSTANCE}/models"): "admin",
    ("GET", f"{_INSTANCE}/history"): "viewer",
    ("GET", f"{_INSTANCE}/diff"): "viewer",
    ("GET", f"{_INSTANCE}/tests"): "viewer",
    ("GET", "/api/v1/import/env"): "admin",
    ("POST", "/api/v1/import/env"): "admin",
    ("GET", "/api/v1/sessions"): "viewer",
    ("POST", "/api/v1/sessions"): "operator",
    ("GET", _SESSION): "viewer",
    ("PATCH", _SESSION): "operator",
    ("POST", f"{_SESSION}/agents"): "operator",
    ("PATCH", _AGENT): "operator",
    ("DELETE", _AGENT): "operator",
    ("GET", f"{_AGENT}/messages"): "viewer",
    ("POST", f"{_AGENT}/messages"): "operator",
    ("POST", f"{_AGENT}/cancel"): "operator",
    ("GET", f"{_SESSION}/cost"): "viewer",
    ("GET", "/api/v1/reports/cost"): "viewer",
    ("GET", "/api/v1/tokens"): "admin",
    ("POST", "/api/v1/tokens"): "admin",
    ("DELETE", "/api/v1/tokens/{token_id}"): "admin",
}


def required_access(method: str, path_template: str) -> Access | None:
    """The lowest access a route needs, or None when the route is not in the table (refused)."""
    return PERMISSIONS.get((method.upper(), path_template))


def allows(role: Role, access: Access) -> bool:
    return _RANK[role] >= _RANK[access]
