"""Authentication and roles: API tokens (only their keyed hash is logged), the permissions table, the guard.

The app registers `EVENT_TYPES`, opens the `TokenView` (an inline view) with the store, builds `Tokens`,
puts it on `app.state.tokens`, installs `authorize` as an app-wide guard, and mounts both controllers.
"""

from backend.auth.controller import AuthController, TokensController
from backend.auth.events import EVENT_TYPES
from backend.auth.guard import AUTH_COOKIE, authorize
from backend.auth.permissions import FORM_ROUTES, PERMISSIONS, ROLES, Role
from backend.auth.service import Principal, Tokens, Unprotected
from backend.auth.view import TokenView

__all__ = [
    "AUTH_COOKIE",
    "EVENT_TYPES",
    "FORM_ROUTES",
    "PERMISSIONS",
    "ROLES",
    "AuthController",
    "Principal",
    "Role",
    "TokenView",
    "Tokens",
    "TokensController",
    "Unprotected",
    "authorize",
]
