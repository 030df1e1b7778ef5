"""The single writer task: it drains queued appends and commits each group in one transaction (group commit)."""

from __future__ import annotations

import sqlite3
import time
import uuid
from datetime import timedelta
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import aiosqlite
import anyio
import msgspec
from anyio.streams.memory import MemoryObjectReceiveStream

from events.chain import GENESIS_HASH, event_hash
from events.errors import ConcurrencyConflict, EventIdReused, StoreClosed
from events.event import AppendResult, Metadata, StoredEvent
from events.rows import EPOCH
from events.views import InlineView

T = TypeVar("T")

MAX_GROUP = 1000
MAX_CACHED_STREAMS = 100_000

InsertRow = tuple[int, str, str, int, str, int, str, str, str, int, str]

INSERT_EVENT = (
    "INSERT INTO events (position, event_id, stream_id, version, type, schema_version, "
    "data, metadata, actor, recorded_at, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

# One query for what a transaction must know about the log: its last row, the versions of
# the streams in the group, and which of the group's event ids are already stored.
LOAD_STATE = """
SELECT 'tip', hash, position, recorded_at, NULL
  FROM (SELECT hash, position, recorded_at FROM events ORDER BY position DESC LIMIT 1)
UNION ALL
SELECT 'stream', stream_id, MAX(version), NULL, NULL
  FROM events WHERE stream_id IN (SELECT value FROM json_each(?1)) GROUP BY stream_id
UNION ALL
SELECT 'id', event_id, position, version, stream_id
  FROM events WHERE event_id IN (SELECT value FROM json_each(?2))
"""

STREAM_VERSIONS = (
    "SELECT stream_id, MAX(version) FROM events WHERE stream_id IN (SELECT value FROM json_each(?)) GROUP BY stream_id"
)


class EncodedEvent(msgspec.Struct, frozen=True):
    """An event ready to be stored: its id, type, schema version and JSON body."""

    event_id: str
    type: str
    schema_version: int
    data: str


@dataclass(eq=False)
class PendingAppend:
    """One caller's append, waiting for the writer to commit or refuse it."""

    stream_id: str
    events: Sequence[EncodedEvent]
    metadata: Metadata
    metadata_json: str
    expected_version: int | None
    done: anyio.Event = field(default_factory=anyio.Event)
    result: AppendResult | None = None
    error: BaseException | None = None

    def finish(self, outcome: AppendResult | BaseException) -> None:
        if isinstance(outcome, BaseException):
            self.error = outcome
        else:
            self.result = outcome
        self.done.set()

    async def outcome(self) -> AppendResult:
        await self.done.wait()
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


@dataclass(eq=False)
class WriterJob(Generic[T]):
    """Other work that needs the write connection, run in a transaction of its own."""

    work: Callable[[aiosqlite.Connection], Awaitable[T]]
    done: anyio.Event = field(default_factory=anyio.Event)
    result: T | None = None
    error: BaseException | None = None

    async def outcome(self) -> T:
        await self.done.wait()
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


WriterItem = PendingAppend | WriterJob[object]


class LogTip(msgspec.Struct):
    """The last row of the log: where the next append starts and the hash it chains to."""

    position: int = 0
    hash: str = GENESIS_HASH
    recorded_at: int = 0


class StoredId(msgspec.Struct, frozen=True):
    position: int
    version: int
    stream_id: str


class Planned(msgspec.Struct):
    """An accepted append: its rows, the events as they will be stored, and the caller's answer."""

    rows: list[InsertRow]
    stored: list[StoredEvent]
    result: AppendResult


class GroupState:
    """What one transaction knows about the log while it plans its appends in order."""

    def __init__(self, tip: LogTip, versions: dict[str, int], stored_ids: dict[str, StoredId]) -> None:
        self.tip = tip
        self.versions = versions
        self.stored_ids = stored_ids
        self.recorded_at = max(time.time_ns() // 1000, tip.recorded_at)

    def plan(self, append: PendingAppend, with_stored: bool) -> Planned | AppendResult:
        """Decide one append against the state: accepted, a duplicate, or an error raised."""
        duplicate = self._duplicate(append)
        if duplicate is not None:
            return duplicate
        actual = self.versions[append.stream_id]
        if append.expected_version is not None and append.expected_version != actual:
            raise ConcurrencyConflict(append.stream_id, append.expected_version, actual)
        return self._rows(append, actual, with_stored)

    def advance(self, planned: Planned) -> None:
        last = planned.rows[-1]
        self.tip = LogTip(position=last[0], hash=last[10], recorded_at=self.recorded_at)
        self.versions[last[2]] = last[3]
        for row in planned.rows:
            self.stored_ids[row[1]] = StoredId(row[0], row[3], row[2])

    def _duplicate(self, append: PendingAppend) -> AppendResult | None:
        found = [self.stored_ids.get(event.event_id) for event in append.events]
        if all(stored is None for stored in found):
            return None
        if any(stored is None or stored.stream_id != append.stream_id for stored in found):
            raise EventIdReused(f"append to {append.stream_id!r} reuses event ids stored by another append")
        known = [stored for stored in found if stored is not None]
        return AppendResult(known[0].position, known[-1].position, known[-1].version, duplicate=True)

    def _rows(self, append: PendingAppend, version: int, with_stored: bool) -> Planned:
        rows: list[InsertRow] = []
        stored: list[StoredEvent] = []
        position, previous = self.tip.position, self.tip.hash
        recorded_at = self.recorded_at
        for event in append.events:
            position += 1
            version += 1
            previous = event_hash(
                previous, position, append.stream_id, version, event.event_id, event.type,
                event.schema_version, event.data, append.metadata_json, recorded_at,
            )
            rows.append((
                position, event.event_id, append.stream_id, version, event.type, event.schema_version,
                event.data, append.metadata_json, append.metadata.actor, recorded_at, previous,
            ))
        if with_stored:
            stored = [_stored_from_row(row, append.metadata) for row in rows]
        result = AppendResult(rows[0][0], rows[-1][0], version)
        return Planned(rows, stored, result)


def _stored_from_row(row: InsertRow, metadata: Metadata) -> StoredEvent:
    position, event_id, stream_id, version, type, schema_version, data, _, _, recorded_at, hash = row
    return StoredEvent(
        position=position, stream_id=stream_id, version=version, event_id=event_id, type=type,
        schema_version=schema_version, data=msgspec.Raw(data), metadata=metadata,
        recorded_at=EPOCH + timedelta(microseconds=recorded_at), hash=hash,
    )


def new_event_id() -> str:
    return uuid.uuid4().hex


class LogCache:
    """The tip and stream versions as of this writer's last commit.

    Valid only while no other connection has appended; a group planned from it inserts at
    the cached next position, so an append by another process makes that insert collide
    (position is the primary key) and the group is planned again from the database.
    """

    def __init__(self, tip: LogTip, versions: dict[str, int]) -> None:
        self.tip = tip
        self.versions = versions


class GroupWriter:
    """Commits queued appends in groups and runs writer jobs, all on one connection."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        inline_views: Sequence[InlineView],
        on_commit: Callable[[], None],
    ) -> None:
        self._conn = conn
        self._views = tuple(inline_views)
        self._on_commit = on_commit
        self._cache: LogCache | None = None
        self.transactions = 0

    async def run(self, queue: MemoryObjectReceiveStream[WriterItem]) -> None:
        """Serve the queue until it is closed and drained."""
        async with queue:
            async for first in queue:
                await self._serve(_drain(first, queue))

    async def _serve(self, items: list[WriterItem]) -> None:
        appends: list[PendingAppend] = []
        for item in items:
            if isinstance(item, PendingAppend):
                appends.append(item)
                continue
            await self._write_appends(appends)
            appends = []
            await self._run_job(item)
        await self._write_appends(appends)

    async def _run_job(self, job: WriterJob[object]) -> None:
        try:
            await self._conn.execute("BEGIN IMMEDIATE")
            job.result = await job.work(self._conn)
            await self._commit()
        except Exception as error:
            await self._rollback()
            job.error = error
        finally:
            job.done.set()

    async def _write_appends(self, appends: list[PendingAppend]) -> None:
        if not appends:
            return
        try:
            await self._write_group(appends)
        except BaseException as error:
            self._cache = None
            with anyio.CancelScope(shield=True):
                await self._rollback()
            failure = error if isinstance(error, Exception) else StoreClosed("the store closed during the append")
            for append in appends:
                if not append.done.is_set():
                    append.finish(failure)
            if not isinstance(error, Exception):
                raise

    async def _write_group(self, appends: list[PendingAppend]) -> None:
        if self._cache is not None:
            try:
                if await self._write_together(appends, fresh=False):
                    return
            except sqlite3.IntegrityError:
                await self._rollback()
                self._cache = None
            except Exception:
                await self._rollback()
                self._cache = None
                await self._write_one_by_one(appends)
                return
        try:
            await self._write_together(appends, fresh=True)
        except Exception:
            await self._rollback()
            self._cache = None
            await self._write_one_by_one(appends)

    async def _write_together(self, appends: list[PendingAppend], fresh: bool) -> bool:
        """Plan and insert the whole group with one INSERT; False if the cache could not decide it."""
        state = await (self._load_state(appends) if fresh else self._cached_state(appends))
        outcomes: list[Planned | AppendResult | BaseException] = []
        for append in appends:
            outcomes.append(self._plan(state, append))
            if isinstance(outcomes[-1], Planned):
                state.advance(outcomes[-1])
        planned = [outcome for outcome in outcomes if isinstance(outcome, Planned)]
        if not fresh and len(planned) < len(appends):
            return False
        if planned:
            await self._conn.executemany(INSERT_EVENT, [row for plan in planned for row in plan.rows])
            await self._apply_views([event for plan in planned for event in plan.stored])
        await self._commit()
        self._remember(state, changed=bool(planned))
        for append, outcome in zip(appends, outcomes):
            append.finish(outcome.result if isinstance(outcome, Planned) else outcome)
        return True

    async def _write_one_by_one(self, appends: list[PendingAppend]) -> None:
        """Each append in a savepoint of its own, so one that fails in a view fails alone."""
        state = await self._load_state(appends)
        outcomes: list[AppendResult | BaseException] = []
        for append in appends:
            outcome = self._plan(state, append)
            if isinstance(outcome, Planned):
                outcome = await self._insert_alone(state, outcome)
            outcomes.append(outcome)
        await self._commit()
        self._remember(state, changed=True)
        for append, result in zip(appends, outcomes):
            append.finish(result)

    async def _insert_alone(self, state: GroupState, planned: Planned) -> AppendResult | BaseException:
        await self._conn.execute("SAVEPOINT append")
        try:
            await self._conn.executemany(INSERT_EVENT, planned.rows)
            await self._apply_views(planned.stored)
        except Exception as error:
            await self._conn.execute("ROLLBACK TO append")
            await self._conn.execute("RELEASE append")
            return error
        await self._conn.execute("RELEASE append")
        state.advance(planned)
        return planned.result

    def _plan(self, state: GroupState, append: PendingAppend) -> Planned | AppendResult | BaseException:
        try:
            return state.plan(append, with_stored=bool(self._views))
        except (ConcurrencyConflict, EventIdReused) as error:
            return error

    async def _apply_views(self, events: list[StoredEvent]) -> None:
        for view in self._views:
            await view.apply(self._conn, events)

    async def _load_state(self, appends: list[PendingAppend]) -> GroupState:
        """Start the transaction and read what it needs in one query."""
        await self._conn.execute("BEGIN IMMEDIATE")
        streams = sorted({append.stream_id for append in appends})
        ids = [event.event_id for append in appends for event in append.events]
        rows = await self._conn.execute_fetchall(LOAD_STATE, (_json_list(streams), _json_list(ids)))
        tip = LogTip()
        versions = dict.fromkeys(streams, 0)
        stored_ids: dict[str, StoredId] = {}
        for kind, key, a, b, c in rows:
            if kind == "tip":
                tip = LogTip(position=a, hash=key, recorded_at=b)
            elif kind == "stream":
                versions[key] = a
            else:
                stored_ids[key] = StoredId(a, b, c)
        return GroupState(tip, versions, stored_ids)

    async def _cached_state(self, appends: list[PendingAppend]) -> GroupState:
        assert self._cache is not None
        cache = self._cache
        unknown = sorted({a.stream_id for a in appends if a.stream_id not in cache.versions})
        versions = {append.stream_id: cache.versions.get(append.stream_id, 0) for append in appends}
        if unknown:
            rows = await self._conn.execute_fetchall(STREAM_VERSIONS, (_json_list(unknown),))
            versions.update({stream_id: version for stream_id, version in rows})
        return GroupState(cache.tip, versions, {})

    def _remember(self, state: GroupState, changed: bool) -> None:
        if self._cache is None or len(self._cache.versions) > MAX_CACHED_STREAMS:
            self._cache = LogCache(state.tip, {})
        self._cache.tip = state.tip
        self._cache.versions.update(state.versions)
        if changed:
            self._on_commit()

    async def _commit(self) -> None:
        await self._conn.commit()
        self.transactions += 1

    async def _rollback(self) -> None:
        if self._conn.in_transaction:
            await self._conn.rollback()


def _drain(first: WriterItem, queue: MemoryObjectReceiveStream[WriterItem]) -> list[WriterItem]:
    items = [first]
    while len(items) < MAX_GROUP:
        try:
            items.append(queue.receive_nowait())
        except (anyio.WouldBlock, anyio.EndOfStream):
            break
    return items


def _json_list(values: Sequence[str]) -> str:
    return msgspec.json.encode(values).decode()
