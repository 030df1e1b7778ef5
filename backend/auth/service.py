"""Tokens as a domain: issue, revoke and list them, and tell who a presented token is.

Names are unique among active tokens: every token event goes to the one `tokens` stream, appended
at the version the name check read, so two processes issuing the same name cannot both succeed.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal, NamedTuple

import msgspec

from backend.auth.events import TOKENS_STREAM, TokenIssued, TokenRevoked
from backend.auth.permissions import Role
from backend.auth.tokens import PREFIX_HEX, TOKEN_PREFIX, TOKEN_SHAPE, TokenKey, new_token, new_token_id
from backend.auth.view import TokenInfo, TokenView
from backend.errors import Conflict, FieldError, NotFound, ValidationFailed
from backend.settings import Settings
from events import ConcurrencyConflict, Event, EventStore, Metadata

Mode = Literal["local", "token"]
NAME_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
NAME_RULE = f"1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit, not with {TOKEN_PREFIX!r}"
TRIES = 5
CREATE_ADMIN = "switchboard token create admin --role admin"


class Unprotected(Exception):
    """Serving beyond loopback was asked for while no admin token exists."""


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who a request acts as: `local` (no tokens, loopback) or `token:<name>`, with the role it has."""

    actor: str
    role: Role
    mode: Mode


LOCAL = Principal(actor="local", role="admin", mode="local")


class Issued(NamedTuple):
    """A new token's record, and the token itself: shown once to whoever asked, then forgotten."""

    info: TokenInfo
    token: str


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


class Tokens:
    """The token commands and lookups over the store and its token view."""

    def __init__(self, store: EventStore, view: TokenView, key: TokenKey, *, loopback: bool) -> None:
        self.store = store
        self.view = view
        self._key = key
        self.loopback = loopback

    @classmethod
    def open(cls, store: EventStore, view: TokenView, settings: Settings, key: TokenKey | None = None) -> Tokens:
        """With `key`, or else the key file in the data folder."""
        key = key or TokenKey.load_or_create(settings.token_key_file)
        return cls(store, view, key, loopback=is_loopback(settings.host))

    async def principal(self, token: str) -> Principal | None:
        """Who this token is, or None if it is not an active token."""
        if not TOKEN_SHAPE.fullmatch(token):
            return None
        info = await self.view.active_by_hash(self.store, self._key.hash(token))
        return Principal(actor=f"token:{info.name}", role=info.role, mode="token") if info else None

    async def required(self) -> bool:
        """Whether a request without a token is refused: off loopback, or once any token was ever issued.

        Revoking every token does not reopen the server to anyone on the machine; the CLI issues a new one.
        """
        return not self.loopback or await self.view.any_issued(self.store)

    async def unprotected(self, host: str) -> str | None:
        """Why serving must not start (bound beyond loopback with no admin token), or None."""
        if self.loopback or await self.view.any_active(self.store, "admin"):
            return None
        return (
            f"refusing to serve on {host}: it is not a loopback address and no admin token exists; "
            f"create one first: {CREATE_ADMIN}"
        )

    async def all(self) -> list[TokenInfo]:
        return await self.view.all(self.store)

    async def issue(self, name: str, role: Role, metadata: Metadata) -> Issued:
        """Make a token; refused if the name is malformed or held by an active token."""
        name = name.strip()
        if not NAME_SHAPE.fullmatch(name) or name.lower().startswith(TOKEN_PREFIX):
            raise ValidationFailed("The token name is not valid", [FieldError("name", NAME_RULE)])
        token = new_token()
        token_hash = self._key.hash(token)
        event = TokenIssued(
            token_id=new_token_id(), name=name, role=role, hash_prefix=token_hash[:PREFIX_HEX], token_hash=token_hash
        )
        for _ in range(TRIES):
            version = await self.store.stream_version(TOKENS_STREAM)
            if await self.view.active_named(self.store, name) is not None:
                raise Conflict(f"a token named {name!r} exists; revoke it first or pick another name")
            if await self._append(event, metadata, version):
                return Issued(await self._get(event.token_id), token)
        raise Conflict("tokens changed while this one was being issued; try again")

    async def revoke(self, info: TokenInfo, metadata: Metadata) -> TokenInfo:
        """Stop a token from working; the request that revokes the caller's own token still completes."""
        event = TokenRevoked(token_id=info.id, name=info.name, role=info.role, hash_prefix=info.hash_prefix)
        for _ in range(TRIES):
            version = await self.store.stream_version(TOKENS_STREAM)
            await self.active(info.id, by_name=False)
            if await self._append(event, metadata, version):
                return await self._get(info.id)
        raise Conflict("tokens changed while this one was being revoked; try again")

    async def active(self, id_or_name: str, *, by_name: bool) -> TokenInfo:
        """The active token with this id (else, when `by_name`, with this name); NotFound otherwise.

        The refusal does not repeat what was asked for: it could be a token pasted by mistake.
        """
        found = await self.view.get(self.store, id_or_name)
        if found is None or found.revoked_at is not None:
            found = await self.view.active_named(self.store, id_or_name) if by_name else None
        if found is None:
            raise NotFound("no active token with that name or id" if by_name else "no active token with that id")
        return found

    async def _append(self, event: Event, metadata: Metadata, version: int) -> bool:
        try:
            await self.store.append(TOKENS_STREAM, [event], metadata=metadata, expected_version=version)
        except ConcurrencyConflict:
            return False
        return True

    async def _get(self, token_id: str) -> TokenInfo:
        info = await self.view.get(self.store, token_id)
        assert info is not None
        return info
