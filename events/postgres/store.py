"""The event store on PostgreSQL: appends through one group-committing writer per process, reads on a small pool,
subscriptions woken across processes by LISTEN/NOTIFY, verify in one snapshot, views and their rebuilds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from datetime import datetime
from functools import partial
from typing import TypeVar

import anyio
import asyncpg
import msgspec

from events.background import alongside
from events.chain import VerifyReport
from events.errors import StoreClosed
from events.event import AppendResult, Event, Metadata, StoredEvent
from events.open import shown_location
from events.planning import AppendRequest, encode_events
from events.postgres.connect import connect, create_pool
from events.postgres.locks import LOCK_POOL_SIZE, LOCK_WAIT_S, LOST, AdvisoryLocks, lock_pool_settings
from events.postgres.schema import channel_name, prepare_schema
from events.postgres.transaction import PostgresTransaction, numbered_once
from events.postgres.writer import PostgresWriter
from events.queue import Backlog, PendingAppend, WriterItem, WriterJob, WriterQueue
from events.registry import EventRegistry
from events.rows import EVENTS, Page, Source, format_time, page_query
from events.sql import POSTGRESQL, Dialect, Row, ViewTransaction
from events.upkeep import (
    PAGE,
    Progress,
    compare_view,
    forget_rebuild,
    no_progress,
    replay_view,
    upgrade_view,
    verify_chain,
)
from events.views import (
    CatchUpRunner,
    CatchUpView,
    FollowerHealth,
    InlineView,
    ViewComparison,
    ViewRebuild,
    read_checkpoint,
    read_rebuilds,
)

T = TypeVar("T")

POOL_SIZE = 4
AFTER_POSITION = numbered_once(page_query(POSTGRESQL, "position > ?"))
LISTEN_CONNECT_TIMEOUT_S = 10.0
LISTEN_RETRY_MAX_S = 10.0
log = logging.getLogger(__name__)


class PostgresEventStore:
    """An append-only event log in a PostgreSQL schema, shared by any number of processes; open it with
    `PostgresEventStore.open`."""

    def __init__(self, url: str, schema: str, registry: EventRegistry, queue: WriterQueue, pool: asyncpg.Pool,
                 inline_views: Sequence[InlineView], poll_interval: float) -> None:
        self.url = url
        self.schema = schema
        self.registry = registry
        self._queue = queue
        self._pool = pool
        self._writer: PostgresWriter | None = None
        self._listener: asyncpg.Connection | None = None
        self._listening = False
        self._listen_lock = asyncio.Lock()
        self._reopening: asyncio.Task[None] | None = None
        self._locks: AdvisoryLocks | None = None
        self._inline_views = tuple(inline_views)
        self._poll_interval = poll_interval
        self._committed = anyio.Event()
        self._closed = False
        self.followers = FollowerHealth()
        self.rebuilt_views: list[ViewRebuild] = []

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
    def dialect(self) -> Dialect:
        return POSTGRESQL

    @property
    def location(self) -> str:
        return shown_location(self.url)

    @property
    def transactions(self) -> int:
        """How many write transactions this store has committed (appends share them under load)."""
        return self._writer.transactions if self._writer is not None else 0

    def backlog(self) -> Backlog:
        return self._queue.backlog()

    async def append(
        self,
        stream_id: str,
        events: Sequence[Event],
        *,
        metadata: Metadata,
        expected_version: int | None = None,
        event_ids: Sequence[str] | None = None,
    ) -> AppendResult:
        """Append events to a stream atomically; returns once they are committed.

        A caller cancelled while waiting may still find its events stored: retry with the same
        `event_ids` to learn where they landed.
        """
        request = AppendRequest(
            stream_id=stream_id,
            events=encode_events(self.registry, events, event_ids),
            metadata=metadata,
            metadata_json=msgspec.json.encode(metadata).decode(),
            expected_version=expected_version,
            caller_ids=event_ids is not None,
        )
        pending = PendingAppend(request)
        await self._submit(pending)
        return await pending.answer

    async def write_transaction(self, work: Callable[[ViewTransaction], Awaitable[T]]) -> T:
        """Run `work` on the writer connection in a transaction of its own (holding the log's head, so no process
        appends meanwhile). For view machinery only: `work` must not write to the events table."""
        job = WriterJob(work)
        await self._submit(job)  # type: ignore[arg-type]
        return await job.answer

    async def read(
        self,
        *,
        after: int = 0,
        limit: int = 500,
        stream: str | None = None,
        type: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[StoredEvent]:
        """Events after a position, in order, filtered; `since` is inclusive, `until` exclusive."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        clauses: list[str] = ["position > ?"]
        params: list[object] = [after]
        for clause, value in (("stream_id = ?", stream), ("type = ?", type), ("actor = ?", actor)):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        if since is not None:
            clauses.append("recorded_at >= ?")
            params.append(format_time(since))
        if until is not None:
            clauses.append("recorded_at < ?")
            params.append(format_time(until))
        return (await self._page(page_query(POSTGRESQL, " AND ".join(clauses)), (*params, limit))).decode()

    async def read_where(
        self, where: str, params: Sequence[object], *, limit: int, descending: bool = False, source: Source = EVENTS
    ) -> list[StoredEvent]:
        """Up to `limit` events matching an SQL condition (`?` placeholders) over `source`, taken from the lowest
        position up (or the highest down when `descending`), returned in position order."""
        page = await self.read_page(where, params, limit=limit, descending=descending, source=source)
        return page.decode()

    async def read_page(
        self, where: str, params: Sequence[object], *, limit: int, descending: bool = False, source: Source = EVENTS,
        record: str | None = None,
    ) -> Page:
        """The page `read_where` reads, each event written as JSON by `record`, not yet decoded."""
        sql = page_query(POSTGRESQL, where, descending=descending, source=source, record=record)
        return await self._page(sql, (*params, limit))

    async def read_stream(self, stream_id: str) -> list[StoredEvent]:
        """Every event of one stream, in version order."""
        events: list[StoredEvent] = []
        while page := await self.read(after=events[-1].position if events else 0, limit=PAGE, stream=stream_id):
            events.extend(page)
        return events

    async def stream_version(self, stream_id: str) -> int:
        return await self._scalar("SELECT COALESCE(MAX(version), 0) FROM events WHERE stream_id = $1", stream_id)

    async def head(self) -> int:
        return await self._scalar("SELECT position FROM event_log_head")

    async def count(self) -> int:
        return await self._scalar("SELECT COUNT(*) FROM events")

    async def checkpoint(self, view_name: str) -> int:
        """The position a catch-up view has applied up to (0 if it never ran)."""
        async with self._pool.acquire() as conn:
            return await read_checkpoint(PostgresTransaction(conn), view_name)

    async def unlogged_rebuilds(self) -> list[ViewRebuild]:
        """The rebuilds made when a view's version changed and not yet marked logged, oldest first."""
        async with self._pool.acquire() as conn:
            return await read_rebuilds(PostgresTransaction(conn))

    async def rebuild_logged(self, rebuild: ViewRebuild) -> None:
        """Forget a rebuild once the event that logs it (under its `event_id`) is stored."""
        await self.write_transaction(partial(forget_rebuild, rebuild.event_id))

    async def subscribe(self, after: int = 0) -> AsyncIterator[StoredEvent]:
        """Every event after `after`, in order and once each: the stored ones first, then new ones as they commit."""
        async for batch in self.subscribe_batches(after):
            for event in batch:
                yield event

    async def subscribe_batches(self, after: int = 0, *, batch_size: int = 2000) -> AsyncIterator[list[StoredEvent]]:
        """Like `subscribe`, a batch at a time; ends when the store closes. Woken by commits in any process
        (NOTIFY), with a look every `poll_interval` in case a notification was lost. While catching up, the next
        page is fetched while this one is decoded and handled."""
        await self._listen()
        position, ahead = after, None
        try:
            while not self._closed:
                committed = self._committed
                page = await (ahead or self._page(AFTER_POSITION, (position, batch_size)))
                prefetched, ahead = ahead is not None, None
                if not page.count:
                    self._reopen_listener_if_lost()
                    if not prefetched:
                        with anyio.move_on_after(self._poll_interval):
                            await committed.wait()
                    continue
                position = page.last_position
                if page.count == batch_size:
                    ahead = asyncio.get_running_loop().create_task(self._page(AFTER_POSITION, (position, batch_size)))
                    await asyncio.sleep(0)  # the query is sent before this page is decoded
                yield page.decode()
        finally:
            if ahead is not None:
                ahead.cancel()

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

    async def rebuild(self, view: InlineView | CatchUpView) -> None:
        """Empty the view and replay the whole log into it, in one writer transaction; records its version."""
        await self.write_transaction(partial(self._replay, view))

    async def compare_with_rebuild(self, view: InlineView | CatchUpView) -> ViewComparison:
        """The view's rows beside a replay of the log into it (a catch-up view's only up to its checkpoint), in one
        writer transaction whose replay is undone: the view is left as it was."""
        return await self.write_transaction(partial(self._compare, view))

    async def upgrade_views(self, views: Sequence[InlineView | CatchUpView]) -> list[ViewRebuild]:
        """Create each view, and rebuild from the log each one whose recorded version is not its code's."""
        rebuilt: list[ViewRebuild] = []
        for view in views:
            report = await self.write_transaction(partial(self._upgrade, view))
            if report is not None:
                rebuilt.append(report)
        return rebuilt

    @asynccontextmanager
    async def run_catch_up(self, view: CatchUpView, *, batch_size: int = 2000) -> AsyncIterator[CatchUpRunner]:
        """Keep `view` following the log while the block runs; an error in the view ends the block."""
        runner = CatchUpRunner(self, view, batch_size=batch_size)
        async with alongside(runner.run, on_exit=lambda: None, cancel_on_exit=True):
            yield runner

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """A read-only query (`?` placeholders), for views reading their own tables."""
        return [tuple(record) for record in await self._pool.fetch(numbered_once(sql), *params)]

    def lock(self, name: str) -> AbstractAsyncContextManager[None]:
        """A session advisory lock on `name`, held across every process on this database for the block."""
        if self._locks is None:
            raise StoreClosed(f"the event store {self.location} is not open")
        return self._locks.hold(name)

    async def _submit(self, item: WriterItem) -> None:
        if self._closed:
            raise StoreClosed(f"the event store {self.location} is closed")
        await self._queue.put(item)

    async def _page(self, sql: str, params: Sequence[object]) -> Page:
        record = await self._pool.fetchrow(numbered_once(sql), *params)
        assert record is not None
        return Page(*record)

    async def _scalar(self, sql: str, *params: object) -> int:
        return int(await self._pool.fetchval(sql, *params))

    async def _upgrade(self, view: InlineView | CatchUpView, tx: ViewTransaction) -> ViewRebuild | None:
        return await upgrade_view(view, tx, inline=self._is_inline(view))

    async def _replay(self, view: InlineView | CatchUpView, tx: ViewTransaction) -> int:
        return await replay_view(view, tx, inline=self._is_inline(view))

    async def _compare(self, view: InlineView | CatchUpView, tx: ViewTransaction) -> ViewComparison:
        return await compare_view(view, tx, inline=self._is_inline(view))

    def _is_inline(self, view: InlineView | CatchUpView) -> bool:
        return any(view is inline for inline in self._inline_views)

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

    def _wake_subscribers(self) -> None:
        self._committed.set()
        self._committed = anyio.Event()

    def _close(self) -> None:
        self._closed = True
        self._queue.close()
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
