"""The line of appends and jobs waiting for a store's writer: at most a bounded number of them, callers beyond that
held back in turn (back-pressure); shared by the backends' writers."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Generic, TypeVar

import msgspec

from events.errors import StoreClosed
from events.event import AppendResult
from events.planning import AppendRequest
from events.sql import ViewTransaction

T = TypeVar("T")

MAX_GROUP = 1000
QUEUE_LIMIT = 2 * MAX_GROUP  # room for the next two groups; callers beyond it wait to be let in


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

    def __init__(self, work: Callable[[ViewTransaction], Awaitable[T]]) -> None:
        self.work = work
        self.answer: asyncio.Future[T] = asyncio.get_running_loop().create_future()


WriterItem = PendingAppend | WriterJob[object]


class Backlog(msgspec.Struct, frozen=True, kw_only=True):
    """What waits for the writer: items queued (never more than `limit`) and callers held back for want of room."""

    queued: int
    held_back: int
    limit: int


class WriterQueue:
    """Appends and jobs waiting for the writer, in arrival order, never more than `limit` of them.

    A caller finding it full is held back, and let in (in turn) as the writer takes items out. Closing
    refuses new items; what is queued or held back is still served.
    """

    def __init__(self, limit: int = QUEUE_LIMIT) -> None:
        self.limit = limit
        self.closed = False
        self._items: deque[WriterItem] = deque()
        self._held: deque[tuple[asyncio.Future[None], WriterItem]] = deque()
        self._wakeup: asyncio.Future[None] | None = None

    def backlog(self) -> Backlog:
        return Backlog(queued=len(self._items), held_back=len(self._held), limit=self.limit)

    async def put(self, item: WriterItem) -> None:
        """Queue an item, waiting for room if the queue is full."""
        if self.closed:
            raise StoreClosed("the event store is closed")
        if len(self._items) < self.limit and not self._held:
            self._items.append(item)
            self.wake()
            return
        admitted = asyncio.get_running_loop().create_future()
        entry = (admitted, item)
        self._held.append(entry)
        try:
            await admitted
        except BaseException:
            if admitted.cancelled() or not admitted.done():
                with suppress(ValueError):  # given up while held back: never queued
                    self._held.remove(entry)
            elif admitted.exception() is None:
                item.answer.cancel()  # let in just as its caller gave up: the writer skips it
            raise

    def next_is_append(self) -> bool:
        return bool(self._items) and isinstance(self._items[0], PendingAppend)

    def take(self) -> list[WriterItem] | None:
        """The next thing for the writer: one job, or up to MAX_GROUP appends in a row; [] if nothing is
        queued now; None once closed and empty."""
        items = self._items
        if not items:
            self._let_in()
        if not items:
            return None if self.closed else []
        first = items.popleft()
        batch = [first]
        if isinstance(first, PendingAppend):
            while items and len(batch) < MAX_GROUP and isinstance(items[0], PendingAppend):
                batch.append(items.popleft())
        self._let_in()
        return batch

    async def wait(self) -> None:
        """Until an item is queued, the queue closes, or `wake` is called.

        Yields once first: callers answered a moment ago queue their next appends in that turn of the loop,
        and the writer finds them without being woken for them.
        """
        if self._items or self.closed:
            return
        await asyncio.sleep(0)
        if self._items or self.closed:
            return
        self._wakeup = asyncio.get_running_loop().create_future()
        try:
            await self._wakeup
        finally:
            self._wakeup = None

    def wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def close(self) -> None:
        self.closed = True
        self.wake()

    def fail(self, error: Exception) -> None:
        """Close, and answer everything queued or held back with `error`."""
        self.close()
        while self._items:
            _fail(self._items.popleft(), error)
        while self._held:
            admitted, _ = self._held.popleft()
            if not admitted.done():
                admitted.set_exception(error)  # the caller's put raises it

    def _let_in(self) -> None:
        while self._held and len(self._items) < self.limit:
            admitted, item = self._held.popleft()
            if admitted.cancelled():  # its caller gave up; it leaves the line itself
                continue
            self._items.append(item)
            admitted.set_result(None)


def _fail(item: WriterItem, error: Exception) -> None:
    if not item.answer.done():
        item.answer.set_exception(error)
