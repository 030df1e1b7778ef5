"""The single writer task: it drains queued appends and commits each group in one transaction (group commit)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import aiosqlite
import anyio
import anyio.lowlevel
import msgspec
from anyio.streams.memory import MemoryObjectReceiveStream

from events.errors import ConcurrencyConflict, EventIdReused, StoreClosed
from events.event import AppendResult, StoredEvent
from events.planning import AppendRequest, GroupState, LogTip, Planned, StoredId
from events.views import InlineView

T = TypeVar("T")

MAX_GROUP = 1000
MAX_CACHED_STREAMS = 100_000

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

Outcome = Planned | AppendResult | Exception


class PendingAppend:
    """One caller's append, waiting for the writer to commit or refuse it."""

    __slots__ = ("request", "answer")

    def __init__(self, request: AppendRequest) -> None:
        self.request = request
        self.answer: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()

    def finish(self, outcome: AppendResult | BaseException) -> None:
        if self.answer.done():
            return
        if isinstance(outcome, BaseException):
            self.answer.set_exception(outcome)
        else:
            self.answer.set_result(outcome)


class WriterJob(Generic[T]):
    """Other work that needs the write connection, run in a transaction of its own."""

    __slots__ = ("work", "answer")

    def __init__(self, work: Callable[[aiosqlite.Connection], Awaitable[T]]) -> None:
        self.work = work
        self.answer: asyncio.Future[T] = asyncio.get_running_loop().create_future()


WriterItem = PendingAppend | WriterJob[object]


class LogCache:
    """The tip and stream versions as of this writer's last commit.

    Valid only while no other connection appends. A group decided from it inserts at the
    cached next position, so an append by another process makes that insert collide
    (position is the primary key) and the group is decided again from the database.
    """

    def __init__(self, tip: LogTip) -> None:
        self.tip = tip
        self.versions: dict[str, int] = {}


class GroupWriter:
    """Commits queued appends in groups and runs writer jobs, all on one connection."""

    def __init__(self, conn: aiosqlite.Connection, inline_views: Sequence[InlineView],
                 on_commit: Callable[[], None]) -> None:
        self._conn = conn
        self._views = tuple(inline_views)
        self._on_commit = on_commit
        self._cache: LogCache | None = None
        self._last_group = 0
        self.transactions = 0

    async def run(self, queue: MemoryObjectReceiveStream[WriterItem]) -> None:
        """Serve the queue until it is closed and drained."""
        async with queue:
            async for first in queue:
                if self._last_group > 1:
                    await anyio.lowlevel.checkpoint()  # let the appenders the last commit woke queue up first
                await self._serve(_drain(first, queue))

    async def _serve(self, items: list[WriterItem]) -> None:
        appends: list[PendingAppend] = []
        for item in items:
            if isinstance(item, PendingAppend):
                if not item.answer.cancelled():
                    appends.append(item)
                continue
            await self._write_appends(appends)
            appends = []
            await self._run_job(item)
        await self._write_appends(appends)

    async def _run_job(self, job: WriterJob[object]) -> None:
        try:
            await self._conn.execute("BEGIN IMMEDIATE")
            result = await job.work(self._conn)
            await self._commit()
        except Exception as error:
            await self._rollback()
            if not job.answer.done():
                job.answer.set_exception(error)
        else:
            if not job.answer.done():
                job.answer.set_result(result)

    async def _write_appends(self, appends: list[PendingAppend]) -> None:
        if not appends:
            return
        self._last_group = len(appends)
        try:
            await self._write_group(appends)
        except BaseException as error:
            self._cache = None
            with anyio.CancelScope(shield=True):
                await self._rollback()
            failure = error if isinstance(error, Exception) else StoreClosed("the store closed during the append")
            for append in appends:
                append.finish(failure)
            if not isinstance(error, Exception):
                raise

    async def _write_group(self, appends: list[PendingAppend]) -> None:
        """Try the whole group at once (from the cache when warm); if that fails, each append alone."""
        if self._cache is not None:
            try:
                if await self._write_together(appends, fresh=False):
                    return
            except Exception:  # another connection appended since our last commit, or a view failed
                await self._rollback()
                self._cache = None
        try:
            await self._write_together(appends, fresh=True)
        except Exception:
            await self._rollback()
            self._cache = None
            await self._write_one_by_one(appends)

    async def _write_together(self, appends: list[PendingAppend], fresh: bool) -> bool:
        """Decide the group in order and insert it with one statement; False if the cache cannot decide it."""
        state = await (self._load_state(appends) if fresh else self._cached_state(appends))
        outcomes: list[Outcome] = []
        for append in appends:
            outcome = self._decide(state, append)
            if isinstance(outcome, Planned):
                state.advance(outcome)
            outcomes.append(outcome)
        planned = [outcome for outcome in outcomes if isinstance(outcome, Planned)]
        if not fresh and len(planned) < len(appends):
            return False  # a refusal or duplicate must be confirmed inside a transaction
        if planned:
            await self._conn.executemany(INSERT_EVENT, [row for plan in planned for row in plan.rows])
            await self._apply_views([event for plan in planned for event in plan.stored])
        await self._commit()
        self._committed(state, appends, outcomes)
        return True

    async def _write_one_by_one(self, appends: list[PendingAppend]) -> None:
        """Each append in a savepoint of its own, so one that fails (in a view, say) fails alone."""
        state = await self._load_state(appends)
        outcomes: list[Outcome] = []
        for append in appends:
            outcome = self._decide(state, append)
            if isinstance(outcome, Planned):
                outcome = await self._insert_alone(state, outcome)
            outcomes.append(outcome)
        await self._commit()
        self._committed(state, appends, outcomes)

    async def _insert_alone(self, state: GroupState, planned: Planned) -> Planned | Exception:
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
        return planned

    def _decide(self, state: GroupState, append: PendingAppend) -> Outcome:
        try:
            return state.plan(append.request, with_stored=bool(self._views))
        except (ConcurrencyConflict, EventIdReused) as error:
            return error

    async def _apply_views(self, events: list[StoredEvent]) -> None:
        for view in self._views:
            await view.apply(self._conn, events)

    async def _load_state(self, appends: list[PendingAppend]) -> GroupState:
        """Begin the transaction and read what it needs in one query."""
        await self._conn.execute("BEGIN IMMEDIATE")
        streams = sorted({append.request.stream_id for append in appends})
        ids = [event.event_id for append in appends for event in append.request.events]
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
        known = self._cache.versions
        streams = {append.request.stream_id for append in appends}
        versions = {stream_id: known.get(stream_id, 0) for stream_id in streams}
        unknown = sorted(streams - known.keys())
        if unknown:
            rows = await self._conn.execute_fetchall(STREAM_VERSIONS, (_json_list(unknown),))
            versions.update({stream_id: version for stream_id, version in rows})
        return GroupState(self._cache.tip, versions, {})

    def _committed(self, state: GroupState, appends: list[PendingAppend], outcomes: list[Outcome]) -> None:
        """Remember the new state, answer every caller, and wake subscribers."""
        if self._cache is None or len(self._cache.versions) > MAX_CACHED_STREAMS:
            self._cache = LogCache(state.tip)
        self._cache.tip = state.tip
        self._cache.versions.update(state.versions)
        for append, outcome in zip(appends, outcomes, strict=True):
            append.finish(outcome.result if isinstance(outcome, Planned) else outcome)
        if any(isinstance(outcome, Planned) for outcome in outcomes):
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
