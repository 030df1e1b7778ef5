"""The SQLite store's single writer task: it commits queued appends in groups (group commit), deciding the next group
while the current one's COMMIT runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import aiosqlite
import anyio
import msgspec

from events.errors import StoreClosed
from events.event import StoredEvent
from events.grouping import Group, GroupPlanner, LogCache, Outcome
from events.planning import GroupState, LogTip, Planned, StoredId
from events.queue import PendingAppend, WriterJob, WriterQueue
from events.sql import SQLiteTransaction
from events.views import InlineView

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



class Flight:
    """A group whose COMMIT runs in the connection's thread while the writer decides the next group."""

    __slots__ = ("group", "commit")

    def __init__(self, group: Group, commit: asyncio.Future[None]) -> None:
        self.group = group
        self.commit = commit

    def succeeded(self) -> bool:
        return self.commit.done() and not self.commit.cancelled() and self.commit.exception() is None


class GroupWriter(GroupPlanner):
    """Commits queued appends in groups and runs writer jobs, all on one connection."""

    def __init__(self, conn: aiosqlite.Connection, queue: WriterQueue, inline_views: Sequence[InlineView],
                 on_commit: Callable[[], None]) -> None:
        self._conn = conn
        self._tx = SQLiteTransaction(conn)
        self._queue = queue
        self._views = tuple(inline_views)
        self._on_commit = on_commit
        self._cache: LogCache | None = None
        self._flight: Flight | None = None
        self.transactions = 0

    async def run(self) -> None:
        """Serve the queue until it is closed and drained."""
        queue = self._queue
        try:
            while (batch := queue.take()) is not None:
                if not batch:
                    await self._idle(queue)
                elif isinstance(batch[0], WriterJob):
                    await self._land()
                    await self._run_job(batch[0])
                else:
                    await self._write([item for item in batch if isinstance(item, PendingAppend)])
            await self._land()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._settle()
            queue.fail(StoreClosed("the store closed during the append"))
            raise

    async def _idle(self, queue: WriterQueue) -> None:
        flight = self._flight
        if flight is not None and flight.commit.done():
            await self._land()
        else:
            await queue.wait()  # an append, or the commit in flight landing, wakes us

    async def _run_job(self, job: WriterJob[object]) -> None:
        if job.answer.done():
            return
        try:
            await self._conn.execute("BEGIN IMMEDIATE")
            result = await job.work(self._tx)
            await self._commit()
        except Exception as error:
            await self._rollback()
            if not job.answer.done():
                job.answer.set_exception(error)
        else:
            if not job.answer.done():
                job.answer.set_result(result)

    async def _write(self, appends: list[PendingAppend]) -> None:
        """Decide the group from the cache (while the last group's COMMIT runs), land that commit, insert the group.

        If more appends wait by then, this group's COMMIT is left to run while they are decided; else it is awaited.
        """
        appends = [append for append in appends if not append.answer.cancelled()]
        if not appends:
            return
        async with self._answering_on_error(appends):
            group = await self._decide_from_cache(appends)
            if not await self._land() or group is None or not await self._insert(group):
                await self._write_checked(appends)
                return
            if not self._queue.next_is_append():
                await self._commit_now(group)
                return
        await self._take_off(group)

    @asynccontextmanager
    async def _answering_on_error(self, appends: list[PendingAppend]) -> AsyncIterator[None]:
        """Answer the appends with the error that ends the block (a StoreClosed if the writer is cancelled)."""
        try:
            yield
        except BaseException as error:
            self._cache = None
            with anyio.CancelScope(shield=True):
                await self._settle()
            failure = error if isinstance(error, Exception) else StoreClosed("the store closed during the append")
            for append in appends:
                append.finish(failure)
            if not isinstance(error, Exception):
                raise


    async def _decide_from_cache(self, appends: list[PendingAppend]) -> Group | None:
        """The group as decided from the state after the last group; None if that cannot decide it."""
        if self._cache is None:
            return None
        group = self._decide(await self._cached_state(appends), appends)
        if len(group.planned) < len(appends):
            return None  # a refusal or duplicate must be confirmed inside a transaction
        return group

    async def _insert(self, group: Group) -> bool:
        """Insert the group and update the views; False (rolled back) if another process appended or a view failed."""
        planned = group.planned
        try:
            await self._conn.executemany(INSERT_EVENT, [row for plan in planned for row in plan.rows])
            await self._apply_views([event for plan in planned for event in plan.stored])
        except Exception:
            await self._rollback()
            self._cache = None
            return False
        return True

    async def _commit_now(self, group: Group) -> None:
        try:
            await self._commit()
        except Exception:
            await self._rollback()
            self._cache = None
            await self._write_checked(group.appends)
        else:
            self._committed(group)

    async def _take_off(self, group: Group) -> None:
        """Start the group's COMMIT and go on; its callers are answered in one callback the moment it lands."""
        self._remember(group.state)
        commit = asyncio.ensure_future(self._conn.commit())
        flight = Flight(group, commit)
        commit.add_done_callback(lambda _: self._landed(flight))
        self._flight = flight
        await asyncio.sleep(0)  # the commit task hands COMMIT to the connection's thread before anything else

    def _landed(self, flight: Flight) -> None:
        if flight.succeeded():
            self.transactions += 1
            flight.group.answer()
            self._on_commit()
        self._queue.wake()

    async def _land(self) -> bool:
        """Wait for the commit in flight; if it failed, write its appends again from the database and return False."""
        flight = self._flight
        if flight is None:
            return True
        if not flight.commit.done():
            await asyncio.wait((flight.commit,))
        self._flight = None
        if flight.succeeded():
            return True
        self._cache = None
        async with self._answering_on_error(flight.group.appends):
            await self._rollback()
            await self._write_checked(flight.group.appends)
        return False

    async def _settle(self) -> None:
        """After an error: let the commit in flight finish (its callers learn how it went), then roll back."""
        flight, self._flight = self._flight, None
        if flight is not None:
            if not flight.commit.done():
                await asyncio.wait((flight.commit,))
            if not flight.succeeded():
                error = StoreClosed("the store closed during the append")
                for append in flight.group.appends:
                    append.finish(error)
        await self._rollback()

    async def _write_checked(self, appends: list[PendingAppend]) -> None:
        """Decide the group inside a transaction from the database; if inserting it fails, each append alone."""
        try:
            state = await self._load_state(appends)
            group = self._decide(state, appends)
            planned = group.planned
            if planned:
                await self._conn.executemany(INSERT_EVENT, [row for plan in planned for row in plan.rows])
                await self._apply_views([event for plan in planned for event in plan.stored])
            await self._commit()
        except Exception:
            await self._rollback()
            self._cache = None
            group = await self._write_one_by_one(appends)
        self._committed(group)

    async def _write_one_by_one(self, appends: list[PendingAppend]) -> Group:
        """Each append in a savepoint of its own, so one that fails (in a view, say) fails alone."""
        state = await self._load_state(appends)
        outcomes: list[Outcome] = []
        for append in appends:
            outcome = self._plan(state, append)
            if isinstance(outcome, Planned):
                outcome = await self._insert_alone(state, outcome)
            outcomes.append(outcome)
        await self._commit()
        return Group(appends, outcomes, state)

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



    async def _apply_views(self, events: list[StoredEvent]) -> None:
        for view in self._views:
            await view.apply(self._tx, events)

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

    def _committed(self, group: Group) -> None:
        """Remember the new state, answer every caller, and wake subscribers."""
        self._remember(group.state)
        group.answer()
        if group.planned:
            self._on_commit()


    async def _commit(self) -> None:
        await self._conn.commit()
        self.transactions += 1

    async def _rollback(self) -> None:
        if self._conn.in_transaction:
            await self._conn.rollback()


def _json_list(values: Sequence[str]) -> str:
    return msgspec.json.encode(values).decode()
