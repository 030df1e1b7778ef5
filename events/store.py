"""What every event store backend offers; the conformance suite runs against this shape."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol, TypeVar

from events.chain import VerifyReport
from events.event import AppendResult, Event, Metadata, StoredEvent
from events.queue import Backlog
from events.registry import EventRegistry
from events.rows import EVENTS, Page, Source
from events.sql import Dialect, Row, ViewTransaction
from events.views import CatchUpRunner, CatchUpView, FollowerHealth, InlineView, ViewComparison, ViewRebuild

T = TypeVar("T")


class EventStore(Protocol):
    """An append-only, tamper-evident event log with subscriptions and read views."""

    registry: EventRegistry
    followers: FollowerHealth
    rebuilt_views: list[ViewRebuild]  # inline views rebuilt at open because their version changed

    @property
    def transactions(self) -> int: ...

    @property
    def dialect(self) -> Dialect: ...

    @property
    def location(self) -> str:
        """Where the log is, for messages: a file path, or a database URL without its password."""
        ...

    def backlog(self) -> Backlog: ...

    async def append(
        self,
        stream_id: str,
        events: Sequence[Event],
        *,
        metadata: Metadata,
        expected_version: int | None = None,
        event_ids: Sequence[str] | None = None,
    ) -> AppendResult: ...

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
    ) -> list[StoredEvent]: ...

    async def read_where(
        self, where: str, params: Sequence[object], *, limit: int, descending: bool = False, source: Source = EVENTS
    ) -> list[StoredEvent]: ...

    async def read_page(
        self, where: str, params: Sequence[object], *, limit: int, descending: bool = False, source: Source = EVENTS,
        record: str | None = None,
    ) -> Page: ...

    async def read_stream(self, stream_id: str) -> list[StoredEvent]: ...

    async def stream_version(self, stream_id: str) -> int: ...

    async def head(self) -> int: ...

    async def count(self) -> int: ...

    async def checkpoint(self, view_name: str) -> int: ...

    async def unlogged_rebuilds(self) -> list[ViewRebuild]: ...

    async def rebuild_logged(self, rebuild: ViewRebuild) -> None: ...

    def subscribe(self, after: int = 0) -> AsyncIterator[StoredEvent]: ...

    def subscribe_batches(self, after: int = 0, *, batch_size: int = 2000) -> AsyncIterator[list[StoredEvent]]: ...

    async def verify(self, progress: Callable[[int, int], None] | None = None) -> VerifyReport: ...

    async def rebuild(self, view: InlineView | CatchUpView) -> None: ...

    async def compare_with_rebuild(self, view: InlineView | CatchUpView) -> ViewComparison: ...

    async def upgrade_views(self, views: Sequence[InlineView | CatchUpView]) -> list[ViewRebuild]: ...

    def run_catch_up(
        self, view: CatchUpView, *, batch_size: int = 2000
    ) -> AbstractAsyncContextManager[CatchUpRunner]: ...

    async def write_transaction(self, work: Callable[[ViewTransaction], Awaitable[T]]) -> T: ...

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[Row]: ...

    def lock(self, name: str) -> AbstractAsyncContextManager[None]:
        """Held by one holder at a time among every process on this store's database, for the block: what guards a
        read of the views and the append it decides (a name still free, a turn not yet running)."""
        ...
