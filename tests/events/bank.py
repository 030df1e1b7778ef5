"""A tiny domain for the event store tests: account events and read views built from them."""

from __future__ import annotations

import os
from collections.abc import Sequence

from events import Event, EventRegistry, StoredEvent, ViewRow, table_rows
from events.sql import ViewTransaction

KILLED_EXIT_CODE = 37


class Opened(Event):
    owner: str


class Deposited(Event):
    amount: int


class Withdrawn(Event):
    amount: int


class Poison(Event):
    """An event the test views refuse, to make a view fail on purpose."""


class SimulatedCrash(Exception):
    """Raised by a view to stand for a crash in the middle of an update."""


def bank_registry() -> EventRegistry:
    registry = EventRegistry()
    registry.register(Opened, Deposited, Withdrawn, Poison)
    return registry


class BalanceView:
    """Balance and event count per account; refuses Poison events. `scale` multiplies the amounts written
    (a later version of the view that keeps cents, for the version-change tests)."""

    def __init__(self, name: str = "balances", *, version: int = 1, scale: int = 1) -> None:
        self.name = name
        self.version = version
        self.scale = scale
        self.table = f"{name}_accounts"
        self._registry = bank_registry()

    async def create(self, tx: ViewTransaction) -> None:
        await tx.execute(
            f"CREATE TABLE IF NOT EXISTS {self.table} "
            "(stream_id TEXT PRIMARY KEY, owner TEXT, balance INTEGER NOT NULL, events INTEGER NOT NULL)"
        )

    async def reset(self, tx: ViewTransaction) -> None:
        await tx.execute(f"DELETE FROM {self.table}")

    async def rows(self, tx: ViewTransaction) -> list[ViewRow]:
        return await table_rows(tx, self.table)

    async def apply(self, tx: ViewTransaction, events: Sequence[StoredEvent]) -> None:
        rows = [self._row(event) for event in events]
        await tx.execute_many(
            f"INSERT INTO {self.table} (stream_id, owner, balance, events) VALUES (?, ?, ?, 1) "
            f"ON CONFLICT (stream_id) DO UPDATE SET owner = COALESCE(excluded.owner, {self.table}.owner), "
            f"balance = {self.table}.balance + excluded.balance, events = {self.table}.events + 1",
            rows,
        )

    def _row(self, stored: StoredEvent) -> tuple[str, str | None, int]:
        event = self._registry.decode(stored)
        if isinstance(event, Poison):
            raise SimulatedCrash(f"poison at position {stored.position}")
        if isinstance(event, Opened):
            return (stored.stream_id, event.owner, 0)
        if isinstance(event, Deposited):
            return (stored.stream_id, None, event.amount * self.scale)
        assert isinstance(event, Withdrawn)
        return (stored.stream_id, None, -event.amount * self.scale)


class AppliedLog:
    """Counts how many times each position was applied; can crash once it reaches a given position.

    The crash is an exception, or with `kill_process` the process ending on the spot.
    """

    def __init__(self, name: str = "applied", crash_at: int | None = None, kill_process: bool = False) -> None:
        self.name = name
        self.version = 1
        self.table = f"{name}_positions"
        self.crash_at = crash_at
        self.kill_process = kill_process
        self.seen: list[StoredEvent] = []

    async def create(self, tx: ViewTransaction) -> None:
        await tx.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (position INTEGER PRIMARY KEY, times INTEGER)")

    async def reset(self, tx: ViewTransaction) -> None:
        await tx.execute(f"DELETE FROM {self.table}")

    async def rows(self, tx: ViewTransaction) -> list[ViewRow]:
        return await table_rows(tx, self.table)

    async def apply(self, tx: ViewTransaction, events: Sequence[StoredEvent]) -> None:
        for event in events:
            await tx.execute(
                f"INSERT INTO {self.table} (position, times) VALUES (?, 1) "
                f"ON CONFLICT (position) DO UPDATE SET times = {self.table}.times + 1",
                (event.position,),
            )
            if event.position == self.crash_at:
                if self.kill_process:
                    os._exit(KILLED_EXIT_CODE)
                raise SimulatedCrash(f"crash while applying position {event.position}")
        self.seen.extend(events)
