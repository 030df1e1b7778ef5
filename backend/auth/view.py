"""The token view: one row per token ever issued, updated inside each append, looked up by keyed hash.

It is an inline view, so a token issued by `switchboard token create` in another process is in the
table as soon as that append commits, and the running server finds it on the next request.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec

from backend.auth.events import TOKENS_STREAM, TokenIssued, TokenRevoked
from backend.auth.permissions import Role
from events import EventRegistry, EventStore, StoredEvent, ViewRow, table_rows
from events.sql import ViewTransaction

TABLE = "token_view"
CREATE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    token_id {{key_text}} PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    name_key {{key_text}} NOT NULL,
    role TEXT NOT NULL,
    active INTEGER NOT NULL,
    body {{bytes}} NOT NULL
)
"""
COLUMNS = "token_id, token_hash, name_key, role, active, body"


class TokenInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What may be shown about a token: never the token, only the first hex digits of its hash."""

    id: str
    name: str
    role: Role
    hash_prefix: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    revoked_by: str | None = None


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(TokenInfo)


def name_key(name: str) -> str:
    return name.strip().casefold()


class TokenView:
    """The inline view of tokens, with the queries authentication and the token commands need."""

    name = "tokens"
    version = 1

    def __init__(self, registry: EventRegistry) -> None:
        self._registry = registry

    async def create(self, tx: ViewTransaction) -> None:
        await tx.execute(CREATE.format(bytes=tx.dialect.bytes_type, key_text=tx.dialect.key_text))

    async def reset(self, tx: ViewTransaction) -> None:
        await tx.execute(f"DELETE FROM {TABLE}")

    async def rows(self, tx: ViewTransaction) -> list[ViewRow]:
        return await table_rows(tx, TABLE)

    async def apply(self, tx: ViewTransaction, events: Sequence[StoredEvent]) -> None:
        for stored in events:
            if stored.stream_id != TOKENS_STREAM:
                continue
            event = self._registry.decode(stored)
            if isinstance(event, TokenIssued):
                await _insert(tx, event, stored)
            elif isinstance(event, TokenRevoked):
                await _revoke(tx, event, stored)

    async def active_by_hash(self, store: EventStore, token_hash: str) -> TokenInfo | None:
        return _first(await store.fetch(f"SELECT body FROM {TABLE} WHERE token_hash = ? AND active = 1", (token_hash,)))

    async def get(self, store: EventStore, token_id: str) -> TokenInfo | None:
        """The token with this id, active or revoked."""
        return _first(await store.fetch(f"SELECT body FROM {TABLE} WHERE token_id = ?", (token_id,)))

    async def active_named(self, store: EventStore, name: str) -> TokenInfo | None:
        """The active token with this name (compared case-folded)."""
        return _first(await store.fetch(f"SELECT body FROM {TABLE} WHERE name_key = ? AND active = 1", (name_key(name),)))

    async def any_active(self, store: EventStore, role: Role | None = None) -> bool:
        """Whether an unrevoked token exists (of this role, if given)."""
        rows = await store.fetch(
            f"SELECT 1 FROM {TABLE} WHERE active = 1 AND (CAST(? AS TEXT) IS NULL OR role = ?) LIMIT 1", (role, role)
        )
        return bool(rows)

    async def any_issued(self, store: EventStore) -> bool:
        """Whether a token was ever issued, revoked or not."""
        return bool(await store.fetch(f"SELECT 1 FROM {TABLE} LIMIT 1", ()))

    async def all(self, store: EventStore) -> list[TokenInfo]:
        """Every token, active first, each group by name."""
        rows = await store.fetch(f"SELECT body FROM {TABLE} ORDER BY active DESC, name_key, token_id", ())
        return [_decoder.decode(row[0]) for row in rows]


def _first(rows: Sequence[Sequence[object]]) -> TokenInfo | None:
    if not rows:
        return None
    body = rows[0][0]
    assert isinstance(body, bytes)
    return _decoder.decode(body)


async def _insert(tx: ViewTransaction, event: TokenIssued, stored: StoredEvent) -> None:
    info = TokenInfo(
        id=event.token_id,
        name=event.name,
        role=event.role,
        hash_prefix=event.hash_prefix,
        created_at=stored.recorded_at,
        created_by=stored.metadata.actor,
    )
    await tx.execute(
        f"INSERT INTO {TABLE} ({COLUMNS}) VALUES (?, ?, ?, ?, 1, ?)",
        (event.token_id, event.token_hash, name_key(event.name), event.role, _encoder.encode(info)),
    )


async def _revoke(tx: ViewTransaction, event: TokenRevoked, stored: StoredEvent) -> None:
    rows = list(await tx.fetch(f"SELECT body FROM {TABLE} WHERE token_id = ?", (event.token_id,)))
    before = _first(rows)
    if before is None:
        return
    after = msgspec.structs.replace(before, revoked_at=stored.recorded_at, revoked_by=stored.metadata.actor)
    await tx.execute(
        f"UPDATE {TABLE} SET active = 0, body = ? WHERE token_id = ?", (_encoder.encode(after), event.token_id)
    )
