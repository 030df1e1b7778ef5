"""The PostgreSQL store's writer task: commits queued appends in groups, one transaction a group, and runs writer
jobs. Every write transaction first locks the one-row `event_log_head`, so writers in all processes take turns and
positions are handed out gap-free in commit order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import asyncpg

from events.errors import ConcurrencyConflict, EventIdReused, StoreClosed
from events.event import AppendResult, StoredEvent
from events.planning import GroupState, LogTip, Planned, StoredId
from events.postgres.transaction import PostgresTransaction
from events.queue import PendingAppend, WriterJob, WriterQueue
from events.views import InlineView

BEGIN_LOCKED = "BEGIN; SELECT 1 FROM event_log_head FOR UPDATE"

# Read after the head is locked (a statement of its own, so it sees every commit before the lock was granted):
# the log's last row, the version of each stream in the group, and which of the callers' own ids are stored.
LOAD_STATE = """
SELECT 'tip', hash, position, 0::bigint, recorded_at::text FROM event_log_head
UNION ALL
SELECT 'stream', s, (SELECT max(version) FROM events WHERE stream_id = s), 0, NULL FROM unnest($1::text[]) AS s
UNION ALL
SELECT 'id', event_id, position, version, stream_id FROM events WHERE event_id = ANY($2::text[])
"""

# The rows go in as one array a column; the head moves and listeners are told in the same statement.
INSERT_EVENTS = """
WITH inserted AS (
    INSERT INTO events (position, event_id, stream_id, version, type, schema_version, data, metadata, actor,
                        recorded_at, hash)
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::integer[], $7::text[],
                         $8::text[], $9::text[], $10::text[], $11::text[])
), head AS (
    UPDATE event_log_head SET position = $12, hash = $13, recorded_at = $14
)
SELECT pg_notify($15, $12::text)
"""

Outcome = Planned | AppendResult | Exception
Connect = Callable[[], Awaitable[asyncpg.Connection]]


class Group:
    """Appends decided together: each one's outcome, and the log's state after them."""

    __slots__ = ("appends", "outcomes", "state")

    def __init__(self, appends: list[PendingAppend], outcomes: list[Outcome], state: GroupState) -> None:
        self.appends = appends
        self.outcomes = outcomes
        self.state = state

    @property
    def planned(self) -> list[Planned]:
        return [outcome for outcome in self.outcomes if isinstance(outcome, Planned)]

    def answer(self) -> None:
        for append, outcome in zip(self.appends, self.outcomes, strict=True):
            append.finish(outcome.result if isinstance(outcome, Planned) else outcome)


class PostgresWriter:
    """Serves the queue on one connection of its own (opened again if it is lost)."""

    def __init__(self, conn: asyncpg.Connection, connect: Connect, queue: WriterQueue,
                 inline_views: Sequence[InlineView], channel: str, on_commit: Callable[[], None]) -> None:
        self._conn = conn
        self._connect = connect
        self._queue = queue
        self._views = tuple(inline_views)
        self._channel = channel
        self._on_commit = on_commit
        self.transactions = 0

    @property
    def conn(self) -> asyncpg.Connection:
        return self._conn

    async def run(self) -> None:
        """Serve the queue until it is closed and drained."""
        queue = self._queue
        try:
            while (batch := queue.take()) is not None:
                if not batch:
                    await queue.wait()
                elif isinstance(batch[0], WriterJob):
                    await self._run_job(batch[0])
                else:
                    await self._write([item for item in batch if isinstance(item, PendingAppend)])
        except BaseException:
            queue.fail(StoreClosed("the store closed during the append"))
            raise

    async def _run_job(self, job: WriterJob[object]) -> None:
        if job.answer.done():
            return
        try:
            await self._begin()
            result = await job.work(PostgresTransaction(self._conn))
            await self._commit()
        except Exception as error:
            await self._rollback()
            if not job.answer.done():
                job.answer.set_exception(error)
        else:
            if not job.answer.done():
                job.answer.set_result(result)

    async def _write(self, appends: list[PendingAppend]) -> None:
        """The group in one transaction; if that fails, each append in a savepoint of its own, so one that fails
        (in a view, say) fails alone."""
        appends = [append for append in appends if not append.answer.cancelled()]
        if not appends:
            return
        try:
            try:
                group = await self._write_group(appends)
            except Exception:
                await self._rollback()
                group = await self._write_one_by_one(appends)
        except Exception as error:
            await self._rollback()
            for append in appends:
                append.finish(error)
            return
        except BaseException:
            for append in appends:
                append.finish(StoreClosed("the store closed during the append"))
            raise
        group.answer()
        if group.planned:
            self._on_commit()

    async def _write_group(self, appends: list[PendingAppend]) -> Group:
        state = await self._load_state(appends)
        outcomes: list[Outcome] = []
        for append in appends:
            outcome = self._plan(state, append)
            if isinstance(outcome, Planned):
                state.advance(outcome)
            outcomes.append(outcome)
        group = Group(appends, outcomes, state)
        planned = group.planned
        if planned:
            await self._insert(planned, state.tip)
            await self._apply_views([event for plan in planned for event in plan.stored])
        await self._commit()
        return group

    async def _write_one_by_one(self, appends: list[PendingAppend]) -> Group:
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
            last = planned.rows[-1]
            await self._insert([planned], LogTip(position=last[0], hash=last[10], recorded_at=state.recorded_at))
            await self._apply_views(planned.stored)
        except Exception as error:
            await self._conn.execute("ROLLBACK TO SAVEPOINT append")
            return error
        finally:
            if not self._conn.is_closed():
                await self._conn.execute("RELEASE SAVEPOINT append")
        state.advance(planned)
        return planned

    def _plan(self, state: GroupState, append: PendingAppend) -> Outcome:
        try:
            return state.plan(append.request, with_stored=bool(self._views))
        except (ConcurrencyConflict, EventIdReused) as error:
            return error

    async def _insert(self, planned: list[Planned], tip: LogTip) -> None:
        columns = list(zip(*(row for plan in planned for row in plan.rows), strict=True))
        await self._conn.execute(INSERT_EVENTS, *columns, tip.position, tip.hash, tip.recorded_at, self._channel)

    async def _apply_views(self, events: list[StoredEvent]) -> None:
        tx = PostgresTransaction(self._conn)
        for view in self._views:
            await view.apply(tx, events)

    async def _load_state(self, appends: list[PendingAppend]) -> GroupState:
        """Begin the transaction, wait for the head, and read what deciding the group needs."""
        await self._begin()
        streams = sorted({append.request.stream_id for append in appends})
        ids = [event.event_id for append in appends if append.request.caller_ids for event in append.request.events]
        rows = await self._conn.fetch(LOAD_STATE, streams, ids)
        tip = LogTip()
        versions = dict.fromkeys(streams, 0)
        stored_ids: dict[str, StoredId] = {}
        for kind, key, a, b, c in rows:
            if kind == "tip":
                tip = LogTip(position=a, hash=key, recorded_at=c)
            elif kind == "stream":
                versions[key] = a or 0
            else:
                stored_ids[key] = StoredId(a, b, c)
        return GroupState(tip, versions, stored_ids)

    async def _begin(self) -> None:
        if self._conn.is_closed():
            self._conn = await self._connect()
        await self._conn.execute(BEGIN_LOCKED)

    async def _commit(self) -> None:
        await self._conn.execute("COMMIT")
        self.transactions += 1

    async def _rollback(self) -> None:
        if not self._conn.is_closed() and self._conn.is_in_transaction():
            await self._conn.execute("ROLLBACK")
