"""The SQLite store's writer: a bounded queue (callers beyond it wait), and groups decided while a commit runs."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from events import AppendResult, ConcurrencyConflict, Metadata, SQLiteEventStore, StoredEvent
from events.queue import QUEUE_LIMIT
from events.sql import ViewTransaction
from tests.events.bank import BalanceView, Deposited, Opened, Poison, SimulatedCrash, bank_registry

ALICE = Metadata(actor="alice")
GUARD_SECONDS = 120


class Hold:
    """A writer job that keeps the writer busy until released."""

    def __init__(self) -> None:
        self.entered = anyio.Event()
        self.released = anyio.Event()

    async def __call__(self, tx: ViewTransaction) -> None:
        self.entered.set()
        await self.released.wait()


class GatedBalances(BalanceView):
    """The balance view, whose next update waits at a gate once the gate is armed."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False
        self.reached = anyio.Event()
        self.opened = anyio.Event()

    async def apply(self, tx: ViewTransaction, events: Sequence[StoredEvent]) -> None:
        if self.armed:
            self.armed = False
            self.reached.set()
            await self.opened.wait()
        await super().apply(tx, events)


async def _deposit(store: SQLiteEventStore, n: int, into: list[AppendResult]) -> None:
    into.append(await store.append(f"acct-{n}", [Deposited(amount=n)], metadata=ALICE))


@pytest.mark.anyio
async def test_appends_beyond_the_queue_limit_wait_for_room_and_all_commit(tmp_path: Path) -> None:
    total = QUEUE_LIMIT * 2 + 37
    results: list[AppendResult] = []
    hold = Hold()
    async with SQLiteEventStore.open(tmp_path / "events.db", registry=bank_registry()) as store:
        with anyio.fail_after(GUARD_SECONDS):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(store.write_transaction, hold)
                await hold.entered.wait()
                for n in range(total):
                    tasks.start_soon(_deposit, store, n, results)
                await anyio.wait_all_tasks_blocked()  # each appender is queued or held back
                while_held = store.backlog()
                hold.released.set()
                most_queued = while_held.queued
                while len(results) < total:
                    await anyio.lowlevel.checkpoint()
                    most_queued = max(most_queued, store.backlog().queued)
        after = store.backlog()
        report = await store.verify()
    assert (while_held.queued, while_held.held_back, while_held.limit) == (QUEUE_LIMIT, total - QUEUE_LIMIT, QUEUE_LIMIT)
    assert most_queued <= QUEUE_LIMIT
    assert (after.queued, after.held_back) == (0, 0)
    assert sorted(r.first_position for r in results) == list(range(1, total + 1))
    assert report.ok and report.checked == total


@pytest.mark.anyio
async def test_a_caller_that_gives_up_while_held_back_writes_nothing(tmp_path: Path) -> None:
    results: list[AppendResult] = []
    hold = Hold()
    async with SQLiteEventStore.open(tmp_path / "events.db", registry=bank_registry()) as store:
        with anyio.fail_after(GUARD_SECONDS):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(store.write_transaction, hold)
                await hold.entered.wait()
                for n in range(QUEUE_LIMIT):
                    tasks.start_soon(_deposit, store, n, results)
                async with anyio.create_task_group() as impatient:
                    impatient.start_soon(partial(store.append, "acct-impatient", [Opened(owner="I")], metadata=ALICE))
                    await anyio.wait_all_tasks_blocked()
                    held = store.backlog().held_back
                    impatient.cancel_scope.cancel()
                after_cancel = store.backlog().held_back
                hold.released.set()
        assert await store.stream_version("acct-impatient") == 0
        assert await store.count() == QUEUE_LIMIT
    assert (held, after_cancel) == (1, 0)
    assert len(results) == QUEUE_LIMIT


@pytest.mark.anyio
async def test_closing_still_commits_the_appends_held_back(tmp_path: Path) -> None:
    total = QUEUE_LIMIT + 25
    results: list[AppendResult] = []
    hold = Hold()
    with anyio.fail_after(GUARD_SECONDS):
        async with (
            anyio.create_task_group() as tasks,
            SQLiteEventStore.open(tmp_path / "events.db", registry=bank_registry()) as store,
        ):
            tasks.start_soon(store.write_transaction, hold)
            await hold.entered.wait()
            for n in range(total):
                tasks.start_soon(_deposit, store, n, results)
            await anyio.wait_all_tasks_blocked()
            held = store.backlog().held_back
            hold.released.set()
    async with SQLiteEventStore.open(tmp_path / "events.db", registry=bank_registry()) as store:
        count = await store.count()
    assert held == 25
    assert len(results) == count == total


async def _open_three_accounts_and_arm(store: SQLiteEventStore, view: GatedBalances) -> None:
    """Open acct-1..3 (so the writer knows their versions without asking the database), then arm the gate."""
    for n in (1, 2, 3):
        await store.append(f"acct-{n}", [Opened(owner=f"owner-{n}")], metadata=ALICE)
    view.armed = True


@pytest.mark.anyio
async def test_appends_decided_while_a_commit_runs_continue_the_log(tmp_path: Path) -> None:
    view = GatedBalances()
    outcomes: dict[str, AppendResult] = {}

    async def append(name: str, stream: str, expected: int | None) -> None:
        outcomes[name] = await store.append(stream, [Deposited(amount=10)], metadata=ALICE, expected_version=expected)

    async with SQLiteEventStore.open(tmp_path / "events.db", registry=bank_registry(), inline_views=(view,)) as store:
        await _open_three_accounts_and_arm(store, view)
        with anyio.fail_after(GUARD_SECONDS):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(append, "first", "acct-1", 1)
                await view.reached.wait()  # the first group waits in its transaction
                tasks.start_soon(append, "second", "acct-1", 2)
                tasks.start_soon(append, "third", "acct-2", None)
                await anyio.wait_all_tasks_blocked()
                view.opened.set()
        rows = await store.fetch(f"SELECT stream_id, balance, events FROM {view.table} ORDER BY stream_id")
        report = await store.verify()
    assert [(r.first_position, r.stream_version) for r in outcomes.values()] == [(4, 2), (5, 3), (6, 2)]
    assert [tuple(r) for r in rows] == [("acct-1", 20, 3), ("acct-2", 10, 2), ("acct-3", 0, 1)]
    assert report.ok and report.checked == 6


@pytest.mark.anyio
async def test_refusals_and_duplicates_decided_while_a_commit_runs_are_checked_against_the_log(tmp_path: Path) -> None:
    view = GatedBalances()
    outcomes: dict[str, AppendResult | Exception] = {}

    async def append(name: str, stream: str, expected: int | None, ids: list[str] | None) -> None:
        try:
            outcomes[name] = await store.append(
                stream, [Deposited(amount=10)], metadata=ALICE, expected_version=expected, event_ids=ids
            )
        except Exception as error:
            outcomes[name] = error

    async with SQLiteEventStore.open(tmp_path / "events.db", registry=bank_registry(), inline_views=(view,)) as store:
        await _open_three_accounts_and_arm(store, view)
        with anyio.fail_after(GUARD_SECONDS):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(append, "first", "acct-1", 1, ["dep-1"])
                await view.reached.wait()
                tasks.start_soon(append, "stale", "acct-1", 1, None)
                tasks.start_soon(append, "again", "acct-1", None, ["dep-1"])
                tasks.start_soon(append, "fresh", "acct-2", None, None)
                await anyio.wait_all_tasks_blocked()
                view.opened.set()
        report = await store.verify()
    first, stale, again, fresh = (outcomes[name] for name in ("first", "stale", "again", "fresh"))
    assert isinstance(first, AppendResult) and (first.first_position, first.duplicate) == (4, False)
    assert isinstance(stale, ConcurrencyConflict) and stale.actual == 2
    assert isinstance(again, AppendResult) and (again.first_position, again.duplicate) == (4, True)
    assert isinstance(fresh, AppendResult) and fresh.first_position == 5
    assert report.ok and report.checked == 5


@pytest.mark.anyio
async def test_a_view_failing_in_a_group_decided_while_a_commit_runs_fails_alone(tmp_path: Path) -> None:
    view = GatedBalances()
    outcomes: dict[str, AppendResult | Exception] = {}

    async def append(name: str, stream: str, events: list[Opened | Deposited | Poison]) -> None:
        try:
            outcomes[name] = await store.append(stream, events, metadata=ALICE)
        except Exception as error:
            outcomes[name] = error

    async with SQLiteEventStore.open(tmp_path / "events.db", registry=bank_registry(), inline_views=(view,)) as store:
        await _open_three_accounts_and_arm(store, view)
        with anyio.fail_after(GUARD_SECONDS):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(append, "first", "acct-1", [Deposited(amount=1)])
                await view.reached.wait()
                tasks.start_soon(append, "before", "acct-2", [Deposited(amount=3)])
                tasks.start_soon(append, "poisoned", "acct-3", [Deposited(amount=1), Poison()])
                tasks.start_soon(append, "after", "acct-2", [Deposited(amount=5)])
                await anyio.wait_all_tasks_blocked()
                view.opened.set()
        rows = await store.fetch(f"SELECT stream_id, balance, events FROM {view.table} ORDER BY stream_id")
        report = await store.verify()
    assert isinstance(outcomes["poisoned"], SimulatedCrash)
    assert [o.first_position for o in (outcomes["first"], outcomes["before"], outcomes["after"])
            if isinstance(o, AppendResult)] == [4, 5, 6]
    assert [tuple(r) for r in rows] == [("acct-1", 1, 2), ("acct-2", 8, 3), ("acct-3", 0, 1)]
    assert report.ok and report.checked == 6
