"""The vault's blobs in PostgreSQL, shared by replicas: sealed credentials in `credential_blobs`, and the vault
header (and other sealed server secrets) in `server_secrets`, in the schema the database URL names.

The bytes are the same AES-GCM blobs the files hold; nothing here ever enters the event log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg

from backend.instances.key_blobs import StoredBlob
from backend.instances.vault_lock import VaultBusy
from events.postgres.connect import create_pool

SETTLE_SECONDS = 600.0
"""How long after its write a blob the log does not name is taken as abandoned, not as a write whose append is
still on its way from another replica (a key is written just before its event is appended)."""

POOL_SIZE = 2
HEADER = "vault-header"
SCHEMA = (
    'CREATE TABLE IF NOT EXISTS credential_blobs (name TEXT COLLATE "C" PRIMARY KEY, body BYTEA NOT NULL, '
    "written_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())",
    'CREATE TABLE IF NOT EXISTS server_secrets (name TEXT COLLATE "C" PRIMARY KEY, body BYTEA NOT NULL)',
)
LOCK_KEY = "hashtextextended('switchboard vault ' || current_schema(), 0)"
"""The advisory lock of this schema's vault: advisory locks are per database, and schemas share one."""
TABLES_LOCK_KEY = "hashtextextended('switchboard vault tables ' || current_schema(), 0)"
"""Held while the tables are created; another key than the vault's, which running replicas hold shared."""


class TableBlobs:
    """Blobs as rows of `credential_blobs`, on a pool of their own; written and read by every replica."""

    shared = True

    def __init__(self, pool: asyncpg.Pool, *, settle_seconds: float = SETTLE_SECONDS) -> None:
        self._pool = pool
        self._settle_seconds = settle_seconds

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str, *, settle_seconds: float = SETTLE_SECONDS) -> AsyncIterator[TableBlobs]:
        """A pool on `url` (its `search_path` names the schema), the tables created when missing."""
        pool = await create_pool(url, min_size=1, max_size=POOL_SIZE)
        try:
            async with pool.acquire() as connection, connection.transaction():
                await connection.execute(f"SELECT pg_advisory_xact_lock({TABLES_LOCK_KEY})")  # replicas starting together
                for statement in SCHEMA:
                    await connection.execute(statement)
            yield cls(pool, settle_seconds=settle_seconds)
        finally:
            await pool.close()

    def shown(self, name: str) -> str:
        return f"credential blob {name!r} (table credential_blobs)"

    @property
    def header_shown(self) -> str:
        return f"the vault header (table server_secrets, row {HEADER!r})"

    async def read(self, name: str) -> bytes | None:
        body: bytes | None = await self._pool.fetchval("SELECT body FROM credential_blobs WHERE name = $1", name)
        return body

    async def write(self, name: str, body: bytes) -> None:
        await self._pool.execute(
            "INSERT INTO credential_blobs (name, body) VALUES ($1, $2) ON CONFLICT (name) "
            "DO UPDATE SET body = EXCLUDED.body, written_at = clock_timestamp()",
            name, body,
        )

    async def delete(self, names: Sequence[str]) -> None:
        await self._pool.execute("DELETE FROM credential_blobs WHERE name = ANY($1::text[])", list(names))

    async def present(self, names: Sequence[str]) -> list[str]:
        rows = await self._pool.fetch("SELECT name FROM credential_blobs WHERE name = ANY($1::text[])", list(names))
        found = {row["name"] for row in rows}
        return [name for name in names if name in found]

    async def listing(self) -> list[StoredBlob]:
        rows = await self._pool.fetch(
            "SELECT name, written_at < clock_timestamp() - make_interval(secs => $1) AS settled "
            "FROM credential_blobs ORDER BY name",
            self._settle_seconds,
        )
        return [StoredBlob(row["name"], row["settled"]) for row in rows]

    async def clear_leftovers(self) -> None:
        """Nothing: a row is written whole or not at all."""

    async def read_header(self) -> bytes | None:
        return await self.read_secret(HEADER)

    async def create_header(self, body: bytes) -> bool:
        return await self.create_secret(HEADER, body)

    async def save_header(self, body: bytes) -> None:
        await self._pool.execute(
            "INSERT INTO server_secrets (name, body) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET body = EXCLUDED.body",
            HEADER, body,
        )

    async def read_secret(self, name: str) -> bytes | None:
        body: bytes | None = await self._pool.fetchval("SELECT body FROM server_secrets WHERE name = $1", name)
        return body

    async def create_secret(self, name: str, body: bytes) -> bool:
        """Write the row unless one exists; False when another replica's came first (read that one back)."""
        written = await self._pool.fetchval(
            "INSERT INTO server_secrets (name, body) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING true",
            name, body,
        )
        return bool(written)

    @asynccontextmanager
    async def holding(self, *, exclusive: bool) -> AsyncIterator[None]:
        """This schema's vault lock, on a connection kept for the block: replicas hold it shared, a rekey alone."""
        async with self._pool.acquire() as connection:
            taken = "pg_try_advisory_lock" if exclusive else "pg_try_advisory_lock_shared"
            if not await connection.fetchval(f"SELECT {taken}({LOCK_KEY})"):
                holder = "a running Switchboard replica uses" if exclusive else "`switchboard vault rekey` is changing"
                raise VaultBusy(f"{holder} the vault in this database schema; try again once it has stopped")
            try:
                yield
            finally:
                released = "pg_advisory_unlock" if exclusive else "pg_advisory_unlock_shared"
                await connection.execute(f"SELECT {released}({LOCK_KEY})")
