"""The SQLite event store: appends through one group-committing writer, reads, subscriptions, verify and rebuild."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import aiosqlite
import anyio
import msgspec

from events.background import alongside
from events.chain import VerifyReport
from events.locks import LocalLocks
from events.queue import WriterQueue
from events.queued_store import QueuedStore
from events.registry import EventRegistry
from events.rows import Page, page_query
from events.schema import BUSY_TIMEOUT_SECONDS, SYNCHRONOUS_LEVELS, prepare_file
from events.sql import SQLITE, Row, SQLiteTransaction, ViewTransaction
from events.upkeep import (
    Progress,
    no_progress,
    verify_chain,
)
from events.views import (
    InlineView,
)
from events.writer import GroupWriter

# Decoding a page holds the GIL; this pause lets the reader thread get into SQLite first, so
# the next page is fetched while this one is decoded.
PREFETCH_HEAD_START = 0.0002
AFTER_POSITION = page_query(SQLITE, "position > ?")


class Durability(msgspec.Struct, frozen=True):
    """The writer connection's journal mode and synchronous level, as SQLite reports them."""

    journal_mode: str
    synchronous: str


class SQLiteEventStore(QueuedStore):
    """An append-only event log in one SQLite file; open it with `SQLiteEventStore.open`."""

    DIALECT = SQLITE
    HEAD = "SELECT COALESCE(MAX(position), 0) FROM events"
    AFTER_POSITION = AFTER_POSITION
    PREFETCH_PAUSE = PREFETCH_HEAD_START

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
        super().__init__(registry, queue, inline_views, poll_interval)
        self.path = path
        self._writer = writer
        self._reader = reader
        self._query_reader = query_reader
        self._locks = LocalLocks()

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
    def location(self) -> str:
        return str(self.path)

    @property
    def transactions(self) -> int:
        """How many write transactions this store has committed (appends share them under load)."""
        return self._writer.transactions

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

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """A read-only query, for views reading their own tables."""
        return [tuple(row) for row in await self._query_reader.execute_fetchall(sql, params)]

    def lock(self, name: str) -> AbstractAsyncContextManager[None]:
        """A lock within this process: an SQLite log is served by one process (a CLI beside it writes no views)."""
        return self._locks.hold(name)

    async def durability(self) -> Durability:
        """What the writer connection runs with."""
        return await self.write_transaction(_read_durability)

    async def _page(self, sql: str, params: Sequence[object]) -> Page:
        return await _fetch_page(self._reader, sql, params)

    async def _scalar(self, sql: str, params: Sequence[object] = ()) -> int:
        return await _scalar(self._reader, sql, params)

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[ViewTransaction]:
        yield SQLiteTransaction(self._query_reader)


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
