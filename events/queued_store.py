"""What both event store backends share: the writer queue in front of one writer task, reads built on a backend's
page fetch, subscriptions woken at each commit, and the views' upkeep run as writer jobs."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from functools import partial
from typing import ClassVar, TypeVar

import anyio
import msgspec

from events.background import alongside
from events.errors import StoreClosed
from events.event import AppendResult, Event, Metadata, StoredEvent
from events.planning import AppendRequest, encode_events
from events.queue import Backlog, PendingAppend, WriterItem, WriterJob, WriterQueue
from events.registry import EventRegistry
from events.rows import EVENTS, Page, Source, format_time, page_query
from events.sql import Dialect, ViewTransaction
from events.upkeep import PAGE, compare_view, forget_rebuild, replay_view, upgrade_view
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


class QueuedStore(ABC):
    """An event log whose writes go through one queue to one writer task; a backend adds its connections, how it
    fetches a page and a number, and where the log's head is."""

    DIALECT: ClassVar[Dialect]
    HEAD: ClassVar[str]  # the query for the log's last position
    AFTER_POSITION: ClassVar[str]  # the page after a position, as the backend's page fetch takes it
    PREFETCH_PAUSE: ClassVar[float]  # how long a subscriber lets the next page's fetch start before decoding

    def __init__(self, registry: EventRegistry, queue: WriterQueue, inline_views: Sequence[InlineView],
                 poll_interval: float) -> None:
        self.registry = registry
        self._queue = queue
        self._inline_views = tuple(inline_views)
        self._poll_interval = poll_interval
        self._committed = anyio.Event()
        self._closed = False
        self.followers = FollowerHealth()  # catch-up views and followers that stopped on an error
        self.rebuilt_views: list[ViewRebuild] = []  # the inline views rebuilt at open, for the caller to record

    @property
    def dialect(self) -> Dialect:
        return self.DIALECT

    @property
    @abstractmethod
    def location(self) -> str: ...

    @abstractmethod
    async def _page(self, sql: str, params: Sequence[object]) -> Page:
        """One page query (`?` placeholders) on a reader connection."""

    @abstractmethod
    async def _scalar(self, sql: str, params: Sequence[object] = ()) -> int:
        """One number (`?` placeholders) on a reader connection."""

    @abstractmethod
    def _reading(self) -> AbstractAsyncContextManager[ViewTransaction]:
        """A reader connection for the views' own tables."""

    async def _before_subscribing(self) -> None:
        """What a backend does before a subscription's first page: nothing unless it says so."""
        return None

    def _on_caught_up(self) -> None:
        """What a backend does each time a subscriber finds no new event: nothing unless it says so."""
        return None

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
        """Run `work` on the writer connection in a transaction of its own, between append groups (on PostgreSQL
        holding the log's head, so no process appends meanwhile). For view machinery only: `work` must not write to
        the events table."""
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
        return (await self._page(page_query(self.DIALECT, " AND ".join(clauses)), (*params, limit))).decode()

    async def read_where(
        self, where: str, params: Sequence[object], *, limit: int, descending: bool = False, source: Source = EVENTS
    ) -> list[StoredEvent]:
        """Up to `limit` events matching an SQL condition (`?` placeholders) over `source` (the events table unless a
        view of positions joined to it is named), taken from the lowest position up (or the highest down when
        `descending`), returned in position order; for the audit query."""
        page = await self.read_page(where, params, limit=limit, descending=descending, source=source)
        return page.decode()

    async def read_page(
        self, where: str, params: Sequence[object], *, limit: int, descending: bool = False, source: Source = EVENTS,
        record: str | None = None,
    ) -> Page:
        """The page `read_where` reads, each event written as JSON by `record`, not yet decoded: a reader may decode
        it (`decode_as`) while the next page is read."""
        sql = page_query(self.DIALECT, where, descending=descending, source=source, record=record)
        return await self._page(sql, (*params, limit))

    async def read_stream(self, stream_id: str) -> list[StoredEvent]:
        """Every event of one stream, in version order."""
        events: list[StoredEvent] = []
        while page := await self.read(after=events[-1].position if events else 0, limit=PAGE, stream=stream_id):
            events.extend(page)
        return events

    async def stream_version(self, stream_id: str) -> int:
        return await self._scalar("SELECT COALESCE(MAX(version), 0) FROM events WHERE stream_id = ?", (stream_id,))

    async def head(self) -> int:
        return await self._scalar(self.HEAD)

    async def count(self) -> int:
        return await self._scalar("SELECT COUNT(*) FROM events")

    async def checkpoint(self, view_name: str) -> int:
        """The position a catch-up view has applied up to (0 if it never ran)."""
        async with self._reading() as tx:
            return await read_checkpoint(tx, view_name)

    async def unlogged_rebuilds(self) -> list[ViewRebuild]:
        """The rebuilds made when a view's version changed (by this process or an earlier one that stopped before
        logging them) and not yet marked logged, oldest first."""
        async with self._reading() as tx:
            return await read_rebuilds(tx)

    async def rebuild_logged(self, rebuild: ViewRebuild) -> None:
        """Forget a rebuild once the event that logs it (under its `event_id`) is stored."""
        await self.write_transaction(partial(forget_rebuild, rebuild.event_id))

    async def subscribe(self, after: int = 0) -> AsyncIterator[StoredEvent]:
        """Every event after `after`, in order and once each: the stored ones first, then new ones as they commit."""
        async for batch in self.subscribe_batches(after):
            for event in batch:
                yield event

    async def subscribe_batches(self, after: int = 0, *, batch_size: int = 2000) -> AsyncIterator[list[StoredEvent]]:
        """Like `subscribe`, a batch at a time; ends when the store closes. Woken by each commit (on PostgreSQL by
        commits in any process, through NOTIFY), with a look every `poll_interval` in case a wake-up was lost.

        While catching up, the next page is fetched while this one is decoded and handled.
        """
        await self._before_subscribing()
        position, ahead = after, None
        try:
            while not self._closed:
                committed = self._committed
                page = await (ahead or self._page(self.AFTER_POSITION, (position, batch_size)))
                prefetched, ahead = ahead is not None, None
                if not page.count:
                    self._on_caught_up()
                    if not prefetched:
                        with anyio.move_on_after(self._poll_interval):
                            await committed.wait()
                    continue
                position = page.last_position
                if page.count == batch_size:
                    ahead = asyncio.get_running_loop().create_task(
                        self._page(self.AFTER_POSITION, (position, batch_size)))
                    await asyncio.sleep(self.PREFETCH_PAUSE)
                yield page.decode()
        finally:
            if ahead is not None:
                ahead.cancel()

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

    async def _submit(self, item: WriterItem) -> None:
        """Queue an item for the writer; while its queue is full, wait for room (back-pressure)."""
        if self._closed:
            raise StoreClosed(f"the event store {self.location} is closed")
        await self._queue.put(item)

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
