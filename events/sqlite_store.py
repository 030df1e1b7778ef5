"""The SQLite event store: appends through one group-committing writer, reads, subscriptions, verify and rebuild."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

import aiosqlite
import anyio
import msgspec

from events.background import alongside
from events.chain import VerifyReport
from events.errors import StoreClosed
from events.event import AppendResult, Event, Metadata, StoredEvent
from events.locks import LocalLocks
from events.planning import AppendRequest, encode_events
from events.queue import Backlog, PendingAppend, WriterItem, WriterJob, WriterQueue
from events.registry import EventRegistry
from events.rows import EVENTS, Page, Source, format_time, page_query
from events.schema import BUSY_TIMEOUT_SECONDS, SYNCHRONOUS_LEVELS, prepare_file
from events.sql import SQLITE, Dialect, Row, SQLiteTransaction, ViewTransaction
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
from events.writer import GroupWriter

T = TypeVar("T")

# Decoding a page holds the GIL; this pause lets the reader thread get into SQLite first, so
# the next page is fetched while this one is decoded.
PREFETCH_HEAD_START = 0.0002
AFTER_POSITION = page_query(SQLITE, "position > ?")


class Durability(msgspec.Struct, frozen=True):
    """The writer connection's journal mode and synchronous level, as SQLite reports them."""

    journal_mode: str
    synchronous: str


class SQLiteEventStore:
    """An append-only event log in one SQLite file; open it with `SQLiteEventStore.open`."""

    def __init__(
        self,
        path: Path,
        registry: EventRegistry,
        writer: GroupWriter,
        queue: WriterQueue,
        reader: aiosqlite.Connection,
        query_reader: aiosqlite.Connection,
        inline_views: Sequence[InlineView],
        poll_interval: float,
    ) -> None:
        self.path = path
        self.registry = registry
        self._writer = writer
        self._queue = queue
        self._reader = reader
        self._query_reader = query_reader
        self._inline_views = tuple(inline_views)
        self._poll_interval = poll_interval
        self._committed = anyio.Event()
        self._locks = LocalLocks()
        self._closed = False
        self.followers = FollowerHealth()  # catch-up views and followers that stopped on an error
        self.rebuilt_views: list[ViewRebuild] = []  # the inline views rebuilt at open, for the caller to record

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        path: Path,
        *,
        registry: EventRegistry,
        inline_views: Sequence[InlineView] = (),
        synchronous: str = "FULL",
        poll_interval: float = 0.25,
    ) -> AsyncIterator[SQLiteEventStore]:
        """Create or open the store at `path`, run its writer, and close it cleanly on exit.

        Inline views whose recorded version differs from their code's are rebuilt before the store is
        yielded (listed in `rebuilt_views`), so no append ever updates rows an older version wrote.
        """
        path = Path(path)
        if synchronous.upper() not in SYNCHRONOUS_LEVELS:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS_LEVELS)}")
        await anyio.to_thread.run_sync(prepare_file, path)
        async with (
            _connect(path, synchronous, writer=True) as writer_conn,
            _connect(path, synchronous, writer=False) as reader,
            _connect(path, synchronous, writer=False) as query_reader,
        ):
            queue = WriterQueue()
            store: SQLiteEventStore
            writer = GroupWriter(writer_conn, queue, inline_views, lambda: store._wake_subscribers())
            store = cls(path, registry, writer, queue, reader, query_reader, inline_views, poll_interval)
            async with alongside(writer.run, on_exit=store._close, cancel_on_exit=False):
                store.rebuilt_views = await store.upgrade_views(inline_views)
                yield store

    @property
    def dialect(self) -> Dialect:
        return SQLITE

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def transactions(self) -> int:
        """How many write transactions this store has committed (appends share them under load)."""
        return self._writer.transactions

    def backlog(self) -> Backlog:
        """How many appends and jobs wait for the writer, and how many callers wait for room in its queue."""
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
        """Run `work` on the writer connection in a transaction of its own, between append groups.

        For view machinery only: `work` must not write to the events table.
        """
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
        page = await _fetch_page(self._reader, page_query(SQLITE, " AND ".join(clauses)), (*params, limit))
        return page.decode()

    async def read_where(
        self, where: str, params: Sequence[object], *, limit: int, descending: bool = False, source: Source = EVENTS
    ) -> list[StoredEvent]:
        """Up to `limit` events matching an SQL condition over `source` (the events table unless a view of positions
        joined to it is named), taken from the lowest position up (or the highest down when `descending`), returned
        in position order; for the audit query."""
        page = await self.read_page(where, params, limit=limit, descending=descending, source=source)
        return page.decode()

    async def read_page(
        self, where: str, params: Sequence[object], *, limit: int, descending: bool = False, source: Source = EVENTS,
        record: str | None = None,
    ) -> Page:
        """The page `read_where` reads, each event written as JSON by `record`, not yet decoded: a reader may decode
        it (`decode_as`) while the next page is read."""
        sql = page_query(SQLITE, where, descending=descending, source=source, record=record)
        return await _fetch_page(self._reader, sql, (*params, limit))

    async def read_stream(self, stream_id: str) -> list[StoredEvent]:
        """Every event of one stream, in version order."""
        events: list[StoredEvent] = []
        while page := await self.read(after=events[-1].position if events else 0, limit=PAGE, stream=stream_id):
            events.extend(page)
        return events

    async def stream_version(self, stream_id: str) -> int:
        return await self._scalar("SELECT COALESCE(MAX(version), 0) FROM events WHERE stream_id = ?", (stream_id,))

    async def head(self) -> int:
        return await self._scalar("SELECT COALESCE(MAX(position), 0) FROM events")

    async def count(self) -> int:
        return await self._scalar("SELECT COUNT(*) FROM events")

    async def checkpoint(self, view_name: str) -> int:
        """The position a catch-up view has applied up to (0 if it never ran)."""
        return await read_checkpoint(SQLiteTransaction(self._query_reader), view_name)

    async def unlogged_rebuilds(self) -> list[ViewRebuild]:
        """The rebuilds made when a view's version changed (by this process or an earlier one that stopped before
        logging them) and not yet marked logged, oldest first."""
        return await read_rebuilds(SQLiteTransaction(self._query_reader))

    async def rebuild_logged(self, rebuild: ViewRebuild) -> None:
        """Forget a rebuild once the event that logs it (under its `event_id`) is stored."""
        await self.write_transaction(partial(forget_rebuild, rebuild.event_id))

    async def subscribe(self, after: int = 0) -> AsyncIterator[StoredEvent]:
        """Every event after `after`, in order and once each: the stored ones first, then new ones as they commit."""
        async for batch in self.subscribe_batches(after):
            for event in batch:
                yield event

    async def subscribe_batches(self, after: int = 0, *, batch_size: int = 2000) -> AsyncIterator[list[StoredEvent]]:
        """Like `subscribe`, a batch at a time; ends when the store closes.

        While catching up, the next page is fetched while this one is decoded and handled.
        """
        position, ahead = after, None
        try:
            while not self._closed:
                committed = self._committed
                page = await (ahead or self._page_after(position, batch_size))
                prefetched, ahead = ahead is not None, None
                if not page.count:
                    if not prefetched:
                        with anyio.move_on_after(self._poll_interval):
                            await committed.wait()
                    continue
                position = page.last_position
                if page.count == batch_size:
                    ahead = asyncio.get_running_loop().create_task(self._page_after(position, batch_size))
                    await anyio.sleep(PREFETCH_HEAD_START)
                yield page.decode()
        finally:
            if ahead is not None:
                ahead.cancel()

    async def verify(self, progress: Callable[[int, int], None] | None = None) -> VerifyReport:
        """Recompute the hash chain over the whole log; the report names the first position where it breaks.

        Every read is made in one snapshot, on a connection of its own: an append committing meanwhile is
        neither mistaken for a gap nor held back from other readers. `progress(checked, head)` follows each page.
        """
        async with _connect(self.path, "FULL", writer=False) as conn:
            await conn.execute("BEGIN")
            try:
                return await _verify_snapshot(conn, progress or no_progress)
            finally:
                await conn.rollback()

    async def rebuild(self, view: InlineView | CatchUpView) -> None:
        """Empty the view and replay the whole log into it, in one writer transaction; records its version."""
        await self.write_transaction(partial(self._replay, view))

    async def compare_with_rebuild(self, view: InlineView | CatchUpView) -> ViewComparison:
        """The view's rows beside a replay of the log into it (a catch-up view's only up to its checkpoint), in one
        writer transaction whose replay is undone: the view is left as it was. Appends wait as for a rebuild."""
        return await self.write_transaction(partial(self._compare, view))

    async def upgrade_views(self, views: Sequence[InlineView | CatchUpView]) -> list[ViewRebuild]:
        """Create each view, and rebuild from the log each one whose recorded version is not its code's.

        A view with no recorded version that can hold nothing yet (an empty log; a catch-up view that
        never ran) only has its version recorded. Each view's rebuild, version and rebuild report (kept
        until `rebuild_logged`) commit together.
        """
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
        """A read-only query, for views reading their own tables."""
        return [tuple(row) for row in await self._query_reader.execute_fetchall(sql, params)]

    def lock(self, name: str) -> AbstractAsyncContextManager[None]:
        """A lock within this process: an SQLite log is served by one process (a CLI beside it writes no views)."""
        return self._locks.hold(name)

    async def durability(self) -> Durability:
        """What the writer connection runs with."""
        return await self.write_transaction(_read_durability)

    async def _submit(self, item: WriterItem) -> None:
        """Queue an item for the writer; while its queue is full, wait for room (back-pressure)."""
        if self._closed:
            raise StoreClosed(f"the event store {self.path} is closed")
        await self._queue.put(item)

    async def _page_after(self, position: int, limit: int) -> Page:
        return await _fetch_page(self._reader, AFTER_POSITION, (position, limit))

    async def _scalar(self, sql: str, params: Sequence[object] = ()) -> int:
        return await _scalar(self._reader, sql, params)

    async def _upgrade(self, view: InlineView | CatchUpView, tx: ViewTransaction) -> ViewRebuild | None:
        return await upgrade_view(view, tx, inline=self._is_inline(view))

    async def _replay(self, view: InlineView | CatchUpView, tx: ViewTransaction) -> int:
        return await replay_view(view, tx, inline=self._is_inline(view))

    async def _compare(self, view: InlineView | CatchUpView, tx: ViewTransaction) -> ViewComparison:
        return await compare_view(view, tx, inline=self._is_inline(view))

    def _is_inline(self, view: InlineView | CatchUpView) -> bool:
        return any(view is inline for inline in self._inline_views)

    def _wake_subscribers(self) -> None:
        self._committed.set()
        self._committed = anyio.Event()

    def _close(self) -> None:
        self._closed = True
        self._queue.close()
        self._wake_subscribers()


async def _fetch_page(conn: aiosqlite.Connection, sql: str, params: Sequence[object]) -> Page:
    rows = list(await conn.execute_fetchall(sql, params))
    return Page(*rows[0])


async def _verify_snapshot(conn: aiosqlite.Connection, progress: Progress) -> VerifyReport:
    highest = await _scalar(conn, "SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'events'")
    return await verify_chain(SQLiteTransaction(conn), highest, progress)


async def _scalar(conn: aiosqlite.Connection, sql: str, params: Sequence[object] = ()) -> int:
    rows = list(await conn.execute_fetchall(sql, params))
    return int(rows[0][0])


async def _read_durability(tx: ViewTransaction) -> Durability:
    journal = await tx.fetch("PRAGMA journal_mode")
    synchronous = await tx.fetch("PRAGMA synchronous")
    levels = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    return Durability(journal_mode=str(journal[0][0]).upper(), synchronous=levels[int(synchronous[0][0])])


@asynccontextmanager
async def _connect(path: Path, synchronous: str, *, writer: bool) -> AsyncIterator[aiosqlite.Connection]:
    """The writer begins BEGIN IMMEDIATE transactions implicitly at its first INSERT; readers are query-only."""
    isolation = "IMMEDIATE" if writer else None
    async with aiosqlite.connect(path, isolation_level=isolation, timeout=BUSY_TIMEOUT_SECONDS) as conn:
        if writer:
            mode = list(await conn.execute_fetchall("PRAGMA journal_mode = WAL"))
            if str(mode[0][0]).lower() != "wal":
                raise sqlite3.OperationalError(f"{path}: could not switch to WAL (got {mode[0][0]})")
        else:
            await conn.execute("PRAGMA query_only = ON")
        await conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        yield conn
