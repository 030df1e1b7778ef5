"""Named locks held across every process on one PostgreSQL database: session advisory locks
(`pg_advisory_lock(hashtextextended(name, 0))`), each held on a connection of a pool of their own for the block.

A lock held elsewhere is waited for at most `LOCK_WAIT_S` (the lock pool's `lock_timeout`), so waiters cannot
keep the pool's few connections forever. A lock connection lost during the block (the server released the lock
then) is logged when the block ends; the block's own outcome stands."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

import anyio
import asyncpg

from events.errors import LockWaitTimeout
from events.locks import LocalLocks

log = logging.getLogger(__name__)
LOCK_POOL_SIZE = 8
LOCK_WAIT_S = 30.0
LOST = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, ConnectionError, OSError)
LOCK = "SELECT pg_advisory_lock(hashtextextended($1, 0))"
UNLOCK = "SELECT pg_advisory_unlock(hashtextextended($1, 0))"

Holding = tuple["asyncio.Task[object] | None", asyncpg.Connection]


class AdvisoryLocks:
    """Waiters in this process queue on an in-process lock first, holding no connection; the holder takes one
    connection from the lock pool (apart from the store's read pool, which the block itself uses) and locks the
    name there. A task already holding a lock takes further names on the same connection, so nested locks (an
    instance, then the names) never wait for a second connection. A connection going back to the pool is reset,
    which releases any lock a cancelled block left (asyncpg's reset runs `pg_advisory_unlock_all()`)."""

    def __init__(self, pool: asyncpg.Pool, wait_s: float = LOCK_WAIT_S) -> None:
        """`pool` is opened with `lock_pool_settings(wait_s)`."""
        self._pool = pool
        self._wait_s = wait_s
        self._local = LocalLocks()
        self._holding: ContextVar[Holding | None] = ContextVar("advisory_lock_connection", default=None)

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        async with self._local.hold(name):
            task = asyncio.current_task()
            holding = self._holding.get()
            if holding is not None and holding[0] is task:
                async with self._locked(holding[1], name):
                    yield
                return
            async with self._pool.acquire() as conn:
                token = self._holding.set((task, conn))
                try:
                    async with self._locked(conn, name):
                        yield
                finally:
                    self._holding.reset(token)


    @asynccontextmanager
    async def _locked(self, conn: asyncpg.Connection, name: str) -> AsyncIterator[None]:
        try:
            await conn.execute(LOCK, name)
        except asyncpg.LockNotAvailableError:
            raise LockWaitTimeout(name, self._wait_s) from None
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):
                await _unlock(conn, name)


def lock_pool_settings(wait_s: float) -> dict[str, str]:
    """The lock pool's server settings: a lock is waited for at most `wait_s` (then PostgreSQL refuses it)."""
    return {"lock_timeout": str(max(1, round(wait_s * 1000)))}


async def _unlock(conn: asyncpg.Connection, name: str) -> None:
    """Release the lock; on a connection already lost the server released it, which is only worth a log line."""
    try:
        await conn.execute(UNLOCK, name)
    except (*LOST, asyncpg.InternalClientError) as error:  # the last: a connection asyncpg had not seen drop yet
        log.warning("lock %r: its connection was lost before the block ended (%s)", name, type(error).__name__)
