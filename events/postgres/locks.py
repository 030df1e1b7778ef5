"""Named locks held across every process on one PostgreSQL database: session advisory locks
(`pg_advisory_lock(hashtextextended(name, 0))`), each held on a connection of a pool of their own for the block."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

import anyio
import asyncpg

from events.locks import LocalLocks

LOCK_POOL_SIZE = 8
LOCK = "SELECT pg_advisory_lock(hashtextextended($1, 0))"
UNLOCK = "SELECT pg_advisory_unlock(hashtextextended($1, 0))"

Holding = tuple["asyncio.Task[object] | None", asyncpg.Connection]


class AdvisoryLocks:
    """Waiters in this process queue on an in-process lock first, holding no connection; the holder takes one
    connection from the lock pool (apart from the store's read pool, which the block itself uses) and locks the
    name there. A task already holding a lock takes further names on the same connection, so nested locks (an
    instance, then the names) never wait for a second connection. A connection going back to the pool is reset,
    which releases any lock a cancelled block left (asyncpg's reset runs `pg_advisory_unlock_all()`)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._local = LocalLocks()
        self._holding: ContextVar[Holding | None] = ContextVar("advisory_lock_connection", default=None)

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        async with self._local.hold(name):
            task = asyncio.current_task()
            holding = self._holding.get()
            if holding is not None and holding[0] is task:
                async with _locked(holding[1], name):
                    yield
                return
            async with self._pool.acquire() as conn:
                token = self._holding.set((task, conn))
                try:
                    async with _locked(conn, name):
                        yield
                finally:
                    self._holding.reset(token)


@asynccontextmanager
async def _locked(conn: asyncpg.Connection, name: str) -> AsyncIterator[None]:
    await conn.execute(LOCK, name)
    try:
        yield
    finally:
        with anyio.CancelScope(shield=True):
            await conn.execute(UNLOCK, name)
