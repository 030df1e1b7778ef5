"""The event store on PostgreSQL: appends through one group-committing writer per process, reads on a small pool,
subscriptions woken across processes by LISTEN/NOTIFY, verify in one snapshot, views and their rebuilds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from functools import partial

import anyio
import asyncpg

from events.background import alongside
from events.chain import VerifyReport
from events.errors import StoreClosed
from events.open import shown_location
from events.postgres.connect import connect, create_pool
from events.postgres.locks import LOCK_POOL_SIZE, LOCK_WAIT_S, LOST, AdvisoryLocks, lock_pool_settings
from events.postgres.schema import channel_name, prepare_schema
from events.postgres.transaction import PostgresTransaction, numbered_once
from events.postgres.writer import PostgresWriter
from events.queue import WriterQueue
from events.queued_store import QueuedStore
from events.registry import EventRegistry
from events.rows import Page, page_query
from events.sql import POSTGRESQL, Row, ViewTransaction
from events.upkeep import (
    Progress,
    no_progress,
    verify_chain,
)
from events.views import (
    InlineView,
)

POOL_SIZE = 4
AFTER_POSITION = numbered_once(page_query(POSTGRESQL, "position > ?"))
LISTEN_CONNECT_TIMEOUT_S = 10.0
LISTEN_RETRY_MAX_S = 10.0
log = logging.getLogger(__name__)


class PostgresEventStore(QueuedStore):
    """An append-only event log in a PostgreSQL schema, shared by any number of processes; open it with
    `PostgresEventStore.open`."""

    DIALECT = POSTGRESQL
    HEAD = "SELECT position FROM event_log_head"
    AFTER_POSITION = AFTER_POSITION
    PREFETCH_PAUSE = 0.0  # the query is sent before this page is decoded

    def __init__(self, url: str, schema: str, registry: EventRegistry, queue: WriterQueue, pool: asyncpg.Pool,
                 inline_views: Sequence[InlineView], poll_interval: float) -> None:
        super().__init__(registry, queue, inline_views, poll_interval)
        self.url = url
        self.schema = schema
        self._pool = pool
        self._writer: PostgresWriter | None = None
        self._listener: asyncpg.Connection | None = None
        self._listening = False
        self._listen_lock = asyncio.Lock()
        self._reopening: asyncio.Task[None] | None = None
        self._locks: AdvisoryLocks | None = None

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        url: str,
        *,
        registry: EventRegistry,
        inline_views: Sequence[InlineView] = (),
        poll_interval: float = 0.5,
    ) -> AsyncIterator[PostgresEventStore]:
        """Create or open the store in the URL's schema (its `search_path`, else `public`), run its writer, and
        close it cleanly on exit. Inline views whose recorded version differs from their code's are rebuilt before
        the store is yielded (listed in `rebuilt_views`)."""
        async with AsyncExitStack() as stack:
            writer_conn = await connect(url)
            stack.push_async_callback(_close_connection, writer_conn)
            schema = await prepare_schema(writer_conn, shown_location(url))
            pool = await create_pool(url, min_size=1, max_size=POOL_SIZE)
            stack.push_async_callback(pool.close)
            queue = WriterQueue()
            store = cls(url, schema, registry, queue, pool, inline_views, poll_interval)
            lock_pool = await create_pool(
                url, min_size=0, max_size=LOCK_POOL_SIZE, settings=lock_pool_settings(LOCK_WAIT_S))
            stack.push_async_callback(lock_pool.close)
            store._locks = AdvisoryLocks(lock_pool)
            writer = PostgresWriter(writer_conn, partial(connect, url), queue, inline_views,
                                    channel_name(schema), store._wake_subscribers)
            store._writer = writer
            await store._open_listener()
            stack.push_async_callback(store._close_listener)
            stack.push_async_callback(_close_connection, writer)
            async with alongside(writer.run, on_exit=store._close, cancel_on_exit=False):
                store.rebuilt_views = await store.upgrade_views(inline_views)
                yield store

    @property
    def location(self) -> str:
        return shown_location(self.url)

    @property
    def transactions(self) -> int:
        """How many write transactions this store has committed (appends share them under load)."""
        return self._writer.transactions if self._writer is not None else 0

    async def verify(self, progress: Progress | None = None) -> VerifyReport:
        """Recompute the hash chain over the whole log, in one read-only snapshot on a connection of its own; the
        head row is the high-water mark, so a missing tail is reported too."""
        conn = await connect(self.url)
        try:
            await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            highest = int(await conn.fetchval("SELECT position FROM event_log_head"))
            return await verify_chain(PostgresTransaction(conn), highest, progress or no_progress)
        finally:
            await _close_connection(conn)

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """A read-only query (`?` placeholders), for views reading their own tables."""
        return [tuple(record) for record in await self._pool.fetch(numbered_once(sql), *params)]

    def lock(self, name: str) -> AbstractAsyncContextManager[None]:
        """A session advisory lock on `name`, held across every process on this database for the block."""
        if self._locks is None:
            raise StoreClosed(f"the event store {self.location} is not open")
        return self._locks.hold(name)

    async def _page(self, sql: str, params: Sequence[object]) -> Page:
        record = await self._pool.fetchrow(numbered_once(sql), *params)
        assert record is not None
        return Page(*record)

    async def _scalar(self, sql: str, params: Sequence[object] = ()) -> int:
        return int(await self._pool.fetchval(numbered_once(sql), *params))

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[ViewTransaction]:
        async with self._pool.acquire() as conn:
            yield PostgresTransaction(conn)

    async def _before_subscribing(self) -> None:
        await self._listen()

    def _on_caught_up(self) -> None:
        self._reopen_listener_if_lost()

    async def _listen(self) -> None:
        """LISTEN from the first subscription on (until then no process needs to signal this one). Never fails a
        subscription: a listener connection that is gone is opened again in the background, and subscribers look
        every `poll_interval` meanwhile."""
        async with self._listen_lock:
            if self._listening:
                return
            self._listening = True
            try:
                if self._listener is not None and not self._listener.is_closed():
                    await self._listener.add_listener(channel_name(self.schema), self._notified)
                    return
            except LOST:
                pass
        self._reopen_listener_if_lost()

    async def _open_listener(self) -> None:
        """A listener connection (LISTENing if a subscription needs it), told when it drops."""
        async with self._listen_lock:
            conn = await connect(self.url, timeout=LISTEN_CONNECT_TIMEOUT_S)
            try:
                conn.add_termination_listener(self._listener_lost)
                if self._listening:
                    await conn.add_listener(channel_name(self.schema), self._notified)
            except BaseException:
                conn.terminate()
                raise
            self._listener = conn

    def _listener_lost(self, _conn: object) -> None:
        if not self._closed:
            log.warning("the LISTEN connection was lost: opening it again (subscribers poll meanwhile)")
            self._reopen_listener_if_lost()

    def _reopen_listener_if_lost(self) -> None:
        """Start opening the listener again in the background when it is gone (once at a time)."""
        lost = self._listener is None or self._listener.is_closed()
        if self._closed or not lost or (self._reopening is not None and not self._reopening.done()):
            return
        self._reopening = asyncio.get_running_loop().create_task(self._reopen_listener())

    async def _reopen_listener(self) -> None:
        """Try until the listener is back (or the store closes), then wake the subscribers for what they missed."""
        delay = self._poll_interval
        while not self._closed:
            try:
                await self._open_listener()
            except (*LOST, asyncpg.PostgresError, TimeoutError):
                await asyncio.sleep(delay)  # the database is not back yet: a pause between attempts
                delay = min(delay * 2, LISTEN_RETRY_MAX_S)
                continue
            log.warning("the LISTEN connection is open again")
            self._wake_subscribers()
            return

    async def _close_listener(self) -> None:
        if self._reopening is not None:
            self._reopening.cancel()
        if self._listener is not None:
            await _close_connection(self._listener)

    def _notified(self, _conn: object, _pid: int, _channel: str, _payload: object) -> None:
        self._wake_subscribers()


async def _close_connection(conn: asyncpg.Connection | PostgresWriter) -> None:
    """Close a connection (the writer's current one for a writer), giving up on it if the server does not answer."""
    connection = conn.conn if isinstance(conn, PostgresWriter) else conn
    if connection.is_closed():
        return
    try:
        with anyio.fail_after(5):
            await connection.close()
    except (TimeoutError, OSError, asyncpg.PostgresError):
        connection.terminate()
