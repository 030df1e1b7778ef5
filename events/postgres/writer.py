"""The PostgreSQL store's writer task: commits queued appends in groups, one transaction a group, and runs writer
jobs. Every write transaction first locks the one-row `event_log_head`, so writers in all processes take turns and
positions are handed out gap-free in commit order.

A group is decided from what the writer remembers of the log (its head, the versions of the streams it wrote), or
when another process has appended since, from the log read in one snapshot, and written by one statement whose
first act is to update the head row from the position it was decided at: that takes the head's lock (waiting for
any other writer) and finds no row to update if another process appended meanwhile; then nothing is written and
the group is decided again. A group holding a refusal or a duplicate, or one that other processes kept getting
ahead of, is decided inside a transaction that locks the head before reading the log's state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import asyncpg

from events.errors import StoreClosed
from events.event import StoredEvent
from events.grouping import Group, GroupPlanner, LogCache, Outcome
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

STREAM_VERSIONS = "SELECT s, (SELECT max(version) FROM events WHERE stream_id = s) FROM unnest($1::text[]) AS s"

# The head moves from the position the rows follow ($16; no row when it is elsewhere, and then nothing is inserted),
# the rows go in as one array a column, and listeners are told, all in one statement.
INSERT_EVENTS = """
WITH head AS (
    UPDATE event_log_head SET position = $12, hash = $13, recorded_at = $14 WHERE position = $16 RETURNING position
), inserted AS (
    INSERT INTO events (position, event_id, stream_id, version, type, schema_version, data, metadata, actor,
                        recorded_at, hash)
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::integer[], $7::text[],
                         $8::text[], $9::text[], $10::text[], $11::text[])
    WHERE EXISTS (SELECT FROM head)
)
SELECT pg_notify($15, position::text) FROM head
"""
OPTIMISTIC_TRIES = 3  # guarded writes of a group before it is decided with the head locked

Connect = Callable[[], Awaitable[asyncpg.Connection]]


class HeadMoved(Exception):
    """Another process appended since the position a group was decided from."""


class PostgresWriter(GroupPlanner):
    """Serves the queue on one connection of its own (opened again if it is lost)."""

    def __init__(self, conn: asyncpg.Connection, connect: Connect, queue: WriterQueue,
                 inline_views: Sequence[InlineView], channel: str, on_commit: Callable[[], None]) -> None:
        self._conn = conn
        self._connect = connect
        self._queue = queue
        self._views = tuple(inline_views)
        self._channel = channel
        self._on_commit = on_commit
        self._cache: LogCache | None = None
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
                group = await self._write_optimistic(appends) or await self._write_group(appends)
            except Exception:
                await self._rollback()
                self._cache = None
                group = await self._write_one_by_one(appends)
        except Exception as error:
            await self._rollback()
            self._cache = None
            for append in appends:
                append.finish(error)
            return
        except BaseException:
            self._cache = None
            for append in appends:
                append.finish(StoreClosed("the store closed during the append"))
            raise
        self._remember(group.state)
        group.answer()
        if group.planned:
            self._on_commit()

    async def _write_optimistic(self, appends: list[PendingAppend]) -> Group | None:
        """The group decided from the cache (or, failing that, from the log read in one snapshot) and written by the
        guarded statement; tried again from a fresh read if another process appended first. None if a refusal or
        duplicate has to be confirmed with the head locked, or other processes kept getting in first."""
        for _ in range(OPTIMISTIC_TRIES):
            cache = self._cache
            state = await (self._cached_state(cache, appends) if cache else self._load_state(appends, lock=False))
            start = state.tip.position
            group = self._decide(state, appends)
            if len(group.planned) < len(appends):
                return None
            try:
                if self._views:
                    await self._conn.execute("BEGIN")
                await self._insert(group.planned, start, group.state.tip)
            except (HeadMoved, asyncpg.UniqueViolationError):  # another process appended, or a caller's id is stored
                await self._rollback()
                self._cache = None
                continue
            if self._views:
                await self._apply_views([event for plan in group.planned for event in plan.stored])
                await self._commit()
            else:
                self.transactions += 1
            return group
        return None

    async def _write_group(self, appends: list[PendingAppend]) -> Group:
        state = await self._load_state(appends)
        start = state.tip.position
        group = self._decide(state, appends)
        planned = group.planned
        if planned:
            await self._insert(planned, start, state.tip)
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
            tip = LogTip(position=last[0], hash=last[10], recorded_at=state.recorded_at)
            await self._insert([planned], state.tip.position, tip)
            await self._apply_views(planned.stored)
        except Exception as error:
            await self._conn.execute("ROLLBACK TO SAVEPOINT append")
            return error
        finally:
            if not self._conn.is_closed():
                await self._conn.execute("RELEASE SAVEPOINT append")
        state.advance(planned)
        return planned


    async def _insert(self, planned: list[Planned], start: int, tip: LogTip) -> None:
        """Insert the rows that follow position `start` and move the head to `tip`; HeadMoved (nothing written)
        if the head is no longer at `start`."""
        columns = list(zip(*(row for plan in planned for row in plan.rows), strict=True))
        moved = await self._conn.fetch(
            INSERT_EVENTS, *columns, tip.position, tip.hash, tip.recorded_at, self._channel, start
        )
        if not moved:
            raise HeadMoved(f"the log's head is no longer at position {start}")

    async def _apply_views(self, events: list[StoredEvent]) -> None:
        tx = PostgresTransaction(self._conn)
        for view in self._views:
            await view.apply(tx, events)

    async def _load_state(self, appends: list[PendingAppend], *, lock: bool = True) -> GroupState:
        """Read what deciding the group needs, in one snapshot; with `lock`, in a transaction begun by waiting for
        the head (then every id of the group is looked up, else only the callers' own)."""
        if lock:
            await self._begin()
        elif self._conn.is_closed():
            self._conn = await self._connect()
        streams = sorted({append.request.stream_id for append in appends})
        # Fresh ids cannot be stored already, unless a group was written just before its connection was lost: the
        # transaction that decides a group again after a failure looks for them too.
        ids = [event.event_id for append in appends if lock or append.request.caller_ids
               for event in append.request.events]
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

    async def _cached_state(self, cache: LogCache, appends: list[PendingAppend]) -> GroupState:
        streams = {append.request.stream_id for append in appends}
        versions = {stream_id: cache.versions.get(stream_id, 0) for stream_id in streams}
        unknown = sorted(streams - cache.versions.keys())
        if unknown:
            rows = await self._conn.fetch(STREAM_VERSIONS, unknown)
            versions.update({stream_id: version or 0 for stream_id, version in rows})
        return GroupState(cache.tip, versions, {})


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
