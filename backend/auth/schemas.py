"""What the auth and token routes take and answer."""

from __future__ import annotations

import msgspec

from backend.auth.permissions import Role
from backend.auth.service import Mode
from backend.auth.view import TokenInfo


class Me(msgspec.Struct, frozen=True, kw_only=True):
    """Who the request acts as, and whether requests without a token are refused right now."""

    actor: str
    role: Role
    mode: Mode
    auth_required: bool


class SignIn(msgspec.Struct, frozen=True, kw_only=True):
    token: str


class CreateToken(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    role: Role


class IssuedToken(TokenInfo, frozen=True, kw_only=True):
    """A new token's record and the token itself: the only answer that ever shows it."""

    token: str
