"""Read views built from the log: the shapes a view has, and the runner that keeps a catch-up view current."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Protocol

import anyio
import msgspec

from events.errors import FollowerStopped
from events.event import StoredEvent
from events.sql import ViewTransaction

if TYPE_CHECKING:
    from events.store import EventStore

log = logging.getLogger(__name__)
ViewRow = tuple[object, ...]


class InlineView(Protocol):
    """A view updated in the same transaction as the append, so a caller reads its own write."""

    name: str
    version: int  # raised whenever what apply writes changes; the store then rebuilds the view from the log

    async def create(self, tx: ViewTransaction) -> None: ...

    async def reset(self, tx: ViewTransaction) -> None: ...

    async def apply(self, tx: ViewTransaction, events: Sequence[StoredEvent]) -> None: ...

    async def rows(self, tx: ViewTransaction) -> list[ViewRow]:
        """Everything the view holds, one tuple a row in any order: what a rebuild from the log must reproduce."""
        ...


class CatchUpView(Protocol):
    """A view that follows the log behind the appends, its checkpoint committed with each update."""

    name: str
    version: int  # raised whenever what apply writes changes; the store then rebuilds the view from the log

    async def create(self, tx: ViewTransaction) -> None: ...

    async def reset(self, tx: ViewTransaction) -> None: ...

    async def apply(self, tx: ViewTransaction, events: Sequence[StoredEvent]) -> None: ...

    async def rows(self, tx: ViewTransaction) -> list[ViewRow]:
        """Everything the view holds, one tuple a row in any order: what a rebuild from the log must reproduce."""
        ...


async def table_rows(tx: ViewTransaction, *tables: str) -> list[ViewRow]:
    """Every row of a view's tables, each led by its table's name: `rows` for a view kept in plain tables."""
    found: list[ViewRow] = []
    for table in tables:
        found += [(table, *row) for row in await tx.fetch(f"SELECT * FROM {table}")]
    return found


class ViewComparison(msgspec.Struct, frozen=True, kw_only=True):
    """A view's rows beside a replay of the log into it (up to its checkpoint, for a catch-up view).

    `missing`: rows the replay wrote that the view lacks; `extra`: rows the view holds that the replay did not write.
    """

    view: str
    equal: bool
    rows: int
    missing: int
    extra: int


def compared(view_name: str, stored: Sequence[ViewRow], rebuilt: Sequence[ViewRow]) -> ViewComparison:
    """How `stored` differs from `rebuilt`, each row counted as often as it appears."""
    have, want = Counter(stored), Counter(rebuilt)
    missing, extra = (want - have).total(), (have - want).total()
    return ViewComparison(view=view_name, equal=not missing and not extra, rows=len(stored), missing=missing, extra=extra)


class ViewRebuild(msgspec.Struct, frozen=True, kw_only=True):
    """A view rebuilt from the log because its code version differed from the one its rows were written by.

    `from_version` 0: no version was recorded (the view is new to a log that already held events).
    `event_id`: the id to log the rebuild under, so that logging it again (after a crash) stores it once.
    """

    view: str
    from_version: int
    to_version: int
    events: int
    milliseconds: float
    event_id: str


REBUILD_COLUMNS = "view, from_version, to_version, events, milliseconds, event_id"


async def write_rebuild(tx: ViewTransaction, rebuild: ViewRebuild) -> None:
    """Keep the rebuild until it is logged; written in the rebuild's own transaction, so a crash loses neither."""
    await tx.execute(
        f"INSERT INTO view_rebuilds ({REBUILD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
        (rebuild.view, rebuild.from_version, rebuild.to_version, rebuild.events, rebuild.milliseconds,
         rebuild.event_id),
    )


async def read_rebuilds(tx: ViewTransaction) -> list[ViewRebuild]:
    """The rebuilds not yet logged, oldest first."""
    rows = await tx.fetch(f"SELECT {REBUILD_COLUMNS} FROM view_rebuilds ORDER BY rowid")
    return [
        ViewRebuild(view=view, from_version=from_version, to_version=to_version, events=events,
                    milliseconds=milliseconds, event_id=event_id)
        for view, from_version, to_version, events, milliseconds, event_id in rows
    ]


async def read_view_version(tx: ViewTransaction, view_name: str) -> int | None:
    """The code version the view's stored rows were written by, or None if none was recorded."""
    rows = await tx.fetch("SELECT version FROM view_versions WHERE view = ?", (view_name,))
    return int(rows[0][0]) if rows else None


async def write_view_version(tx: ViewTransaction, view_name: str, version: int) -> None:
    await tx.execute(
        "INSERT INTO view_versions (view, version) VALUES (?, ?) "
        "ON CONFLICT (view) DO UPDATE SET version = excluded.version",
        (view_name, version),
    )


async def read_checkpoint(tx: ViewTransaction, view_name: str) -> int:
    rows = await tx.fetch("SELECT position FROM checkpoints WHERE view = ?", (view_name,))
    return int(rows[0][0]) if rows else 0


async def claim_checkpoint(tx: ViewTransaction, view_name: str) -> int:
    """The checkpoint, its row held until the transaction ends: another process following the same view waits,
    then finds the events this one applied already past the checkpoint."""
    await tx.execute("INSERT INTO checkpoints (view, position) VALUES (?, 0) ON CONFLICT (view) DO NOTHING", (view_name,))
    rows = await tx.fetch(f"SELECT position FROM checkpoints WHERE view = ?{tx.dialect.row_lock}", (view_name,))
    return int(rows[0][0])


async def write_checkpoint(tx: ViewTransaction, view_name: str, position: int) -> None:
    await tx.execute(
        "INSERT INTO checkpoints (view, position) VALUES (?, ?) "
        "ON CONFLICT (view) DO UPDATE SET position = excluded.position",
        (view_name, position),
    )


class FollowerFailure(msgspec.Struct, frozen=True, kw_only=True):
    """A view or follower of the log that stopped on an error, and the error in one line."""

    name: str
    error: str


ERROR_WORDS = 300  # longest error text kept: enough to say what failed, never a whole payload


class FollowerHealth:
    """Which catch-up views and followers of the log stopped on an error; each clears once it applies again."""

    def __init__(self) -> None:
        self._failures: dict[str, str] = {}

    def failed(self, name: str, error: Exception) -> None:
        self._failures[name] = f"{type(error).__name__}: {error}"[:ERROR_WORDS]

    def recovered(self, name: str) -> None:
        self._failures.pop(name, None)

    def failures(self) -> list[FollowerFailure]:
        return [FollowerFailure(name=name, error=error) for name, error in sorted(self._failures.items())]


class CatchUpRunner:
    """Follows the log and applies it to one catch-up view, each batch with its checkpoint in one transaction.

    Events at or below the stored checkpoint are skipped inside that transaction, so a restart
    after a crash, or a rebuild running alongside, never applies an event twice or loses one.
    """

    def __init__(self, store: EventStore, view: CatchUpView, *, batch_size: int = 2000) -> None:
        self._store = store
        self._view = view
        self._batch_size = batch_size
        self.position = 0
        self.stopped = False  # a `follow` ended (an error, or the store closed): the view follows the log no more
        self._progress = anyio.Event()

    async def run(self) -> None:
        """Create the view's tables, then apply the log to it until cancelled; an error in the view ends the run
        and stays in the store's `followers` until a later run applies a batch."""
        try:
            await self._store.write_transaction(self._view.create)
            self._advance(await self._store.checkpoint(self._view.name))
            async for batch in self._store.subscribe_batches(self.position, batch_size=self._batch_size):
                self._advance(await self._store.write_transaction(partial(self._apply, batch)))
                self._store.followers.recovered(self._view.name)
        except Exception as error:
            self._store.followers.failed(self._view.name, error)
            raise

    async def follow(self) -> None:
        """`run`, for a task of its own that no block waits on: an error ends it without raising (the store's
        `followers` has it), and from then on `wait_until` raises FollowerStopped instead of waiting for ever."""
        try:
            await self.run()
        except Exception:
            log.exception("the view %s stopped following the event log", self._view.name)
        finally:
            self.stopped = True
            self._progress.set()

    async def wait_until(self, position: int) -> None:
        """Return once the view includes every event up to `position`; FollowerStopped if `follow` ended first."""
        while self.position < position:
            if self.stopped:
                raise FollowerStopped(f"{self._view.name} stopped at position {self.position}, before {position}")
            await self._progress.wait()

    async def _apply(self, batch: Sequence[StoredEvent], tx: ViewTransaction) -> int:
        checkpoint = await claim_checkpoint(tx, self._view.name)
        fresh = [event for event in batch if event.position > checkpoint]
        if not fresh:
            return checkpoint
        await self._view.apply(tx, fresh)
        await write_checkpoint(tx, self._view.name, fresh[-1].position)
        return fresh[-1].position

    def _advance(self, position: int) -> None:
        self.position = max(self.position, position)
        self._progress.set()
        self._progress = anyio.Event()
