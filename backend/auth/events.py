"""Events on the `tokens` stream: API tokens issued and revoked.

They carry the token's id, name, role and hash prefix; `TokenIssued` also carries the keyed hash
(HMAC-SHA256 under the server's token key) that requests are checked against. Never the token itself.
"""

from __future__ import annotations

from typing import ClassVar

from backend.auth.permissions import Role
from events import Event

TOKENS_STREAM = "tokens"


class TokenIssued(Event, frozen=True, kw_only=True):
    """A token was made; `token_hash` is useless without both the token and the server's token key,
    and is withheld from every reader of the log (API, live feed, CLI): only `hash_prefix` is shown."""

    withheld: ClassVar[frozenset[str]] = frozenset({"token_hash"})

    token_id: str
    name: str
    role: Role
    hash_prefix: str
    token_hash: str

    def summary(self) -> str:
        return f"Token {self.name!r} ({self.role}, {self.hash_prefix}) issued"


class TokenRevoked(Event, frozen=True, kw_only=True):
    """A token stopped working."""

    token_id: str
    name: str
    role: Role
    hash_prefix: str

    def summary(self) -> str:
        return f"Token {self.name!r} ({self.role}, {self.hash_prefix}) revoked"


EVENT_TYPES: tuple[type[Event], ...] = (TokenIssued, TokenRevoked)
