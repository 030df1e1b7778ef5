"""The event store conformance suite: one abstract test case that every store backend must pass."""

from __future__ import annotations

import random
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from functools import partial
from typing import ClassVar

import anyio
import anyio.lowlevel
import pytest

from events import (
    AppendResult,
    ConcurrencyConflict,
    Event,
    EventIdReused,
    EventRegistry,
    EventStore,
    InlineView,
    Metadata,
    StoreClosed,
    StoredEvent,
)
from tests.events.bank import (
    AppliedLog,
    BalanceView,
    Deposited,
    Opened,
    Poison,
    SimulatedCrash,
    Withdrawn,
)

ALICE = Metadata(actor="alice", request_id="req-1")
BOB = Metadata(actor="bob", request_id="req-2")
HANG_GUARD_SECONDS = 60


class EventStoreConformance(ABC):
    """Guarantees of the event store. A backend subclasses this and supplies the hooks below."""

    refusal_error: ClassVar[type[Exception]] = Exception

    # --- hooks a backend supplies -------------------------------------------------------------

    @abstractmethod
    def open_store(
        self, registry: EventRegistry | None = None, inline_views: tuple[InlineView, ...] = ()
    ) -> AbstractAsyncContextManager[EventStore]:
        """Open (creating on first use) the one store this test works on."""

    @abstractmethod
    async def tamper_with_data(self, position: int, data: str) -> None:
        """Change the body of a stored event behind the store's back."""

    @abstractmethod
    async def remove_behind_the_back(self, position: int) -> None:
        """Remove a stored event behind the store's back."""

    @abstractmethod
    async def update_directly(self, position: int) -> None:
        """Try an UPDATE of a stored event straight in the database; the database must refuse it."""

    @abstractmethod
    async def delete_directly(self, position: int) -> None:
        """Try a DELETE of a stored event straight in the database; the database must refuse it."""

    @abstractmethod
    async def count_seen_from_outside(self) -> int:
        """How many events an independent connection to the database sees."""

    @abstractmethod
    async def append_in_another_process(self, stream_id: str, count: int) -> float:
        """Append `count` Deposited events in a separate OS process; returns the wall time of its last commit."""

    # --- appends ------------------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_append_then_read_back(self) -> None:
        async with self.open_store() as store:
            result = await store.append("acct-1", [Opened(owner="Ann"), Deposited(amount=5)], metadata=ALICE)
            events = await store.read()
        assert (result.first_position, result.last_position, result.stream_version) == (1, 2, 2)
        assert not result.duplicate
        assert [(e.position, e.stream_id, e.version, e.type) for e in events] == [
            (1, "acct-1", 1, "Opened"),
            (2, "acct-1", 2, "Deposited"),
        ]
        assert [store.registry.decode(e) for e in events] == [Opened(owner="Ann"), Deposited(amount=5)]
        assert all(e.metadata == ALICE and e.schema_version == 1 for e in events)
        assert all(e.recorded_at.utcoffset() == timedelta(0) for e in events)
        assert len({e.event_id for e in events}) == 2
        assert events[0].hash != events[1].hash

    @pytest.mark.anyio
    async def test_a_batch_that_fails_writes_nothing(self) -> None:
        view = BalanceView()
        async with self.open_store(inline_views=(view,)) as store:
            for attempt in range(2):  # the first on a cold store, the second after a write
                with pytest.raises(SimulatedCrash):
                    await store.append("acct-1", [Opened(owner="Ann"), Deposited(amount=5), Poison()], metadata=ALICE)
                assert await store.count() == attempt
                assert len(await store.fetch(f"SELECT * FROM {view.table}")) == attempt
                result = await store.append(f"acct-{attempt + 2}", [Opened(owner="Bo")], metadata=ALICE)
                assert result.first_position == attempt + 1

    @pytest.mark.anyio
    async def test_a_batch_reusing_a_stored_id_writes_nothing(self) -> None:
        async with self.open_store() as store:
            await store.append("acct-1", [Opened(owner="Ann")], metadata=ALICE, event_ids=["id-a"])
            with pytest.raises(EventIdReused):
                await store.append(
                    "acct-2", [Opened(owner="Bo"), Deposited(amount=1)], metadata=ALICE, event_ids=["id-b", "id-a"]
                )
            assert await store.count() == 1
            assert await store.stream_version("acct-2") == 0

    @pytest.mark.anyio
    async def test_stale_expected_version_conflicts_and_writes_nothing(self) -> None:
        async with self.open_store() as store:
            await store.append("acct-1", [Opened(owner="Ann")], metadata=ALICE, expected_version=0)
            await store.append("acct-1", [Deposited(amount=1)], metadata=ALICE, expected_version=1)
            with pytest.raises(ConcurrencyConflict) as conflict:
                await store.append("acct-1", [Deposited(amount=2), Deposited(amount=3)], metadata=ALICE,
                                   expected_version=1)
            with pytest.raises(ConcurrencyConflict):
                await store.append("acct-1", [Opened(owner="Ann")], metadata=ALICE, expected_version=0)
            with pytest.raises(ConcurrencyConflict):
                await store.append("acct-9", [Opened(owner="Ann")], metadata=ALICE, expected_version=3)
            assert await store.count() == 2
            assert await store.stream_version("acct-1") == 2
        assert (conflict.value.stream_id, conflict.value.expected, conflict.value.actual) == ("acct-1", 1, 2)

    @pytest.mark.anyio
    async def test_appending_stored_ids_again_returns_the_original_positions(self) -> None:
        async with self.open_store() as store:
            await store.append("acct-0", [Opened(owner="Zed")], metadata=ALICE)
            first = await store.append("acct-1", [Opened(owner="Ann"), Deposited(amount=5)], metadata=ALICE,
                                       expected_version=0, event_ids=["k-1", "k-2"])
            await store.append("acct-1", [Deposited(amount=7)], metadata=ALICE)
            again = await store.append("acct-1", [Opened(owner="Ann"), Deposited(amount=5)], metadata=ALICE,
                                       expected_version=0, event_ids=["k-1", "k-2"])
            assert await store.count() == 4
        assert (first.first_position, first.last_position, first.stream_version, first.duplicate) == (2, 3, 2, False)
        assert (again.first_position, again.last_position, again.stream_version, again.duplicate) == (2, 3, 2, True)

    @pytest.mark.anyio
    async def test_the_same_ids_appended_concurrently_are_written_once(self) -> None:
        async with self.open_store() as store:
            results = await _gather([
                partial(store.append, "acct-1", [Opened(owner="Ann")], metadata=ALICE, event_ids=["only-once"])
                for _ in range(5)
            ])
            assert await store.count() == 1
        assert {(r.first_position, r.stream_version) for r in results} == {(1, 1)}
        assert sorted(r.duplicate for r in results) == [False, True, True, True, True]

    # --- one global order under concurrency -------------------------------------------------

    @pytest.mark.anyio
    async def test_concurrent_writers_and_tailing_readers_see_one_gap_free_order(self) -> None:
        writers, appends_each = 10, 100
        total = writers * appends_each
        seen: list[list[StoredEvent]] = [[], []]

        async def tail(into: list[StoredEvent]) -> None:
            async for event in store.subscribe(after=0):
                into.append(event)
                if len(into) == total:
                    return

        async def write(writer: int) -> None:
            for version in range(appends_each):
                await store.append(f"acct-{writer}", [Deposited(amount=version)], metadata=ALICE,
                                   expected_version=version)

        with anyio.fail_after(HANG_GUARD_SECONDS):
            async with self.open_store() as store, anyio.create_task_group() as tasks:
                for into in seen:
                    tasks.start_soon(tail, into)
                for writer in range(writers):
                    tasks.start_soon(write, writer)
        for events in seen:
            assert [e.position for e in events] == list(range(1, total + 1))
            for writer in range(writers):
                mine = [e for e in events if e.stream_id == f"acct-{writer}"]
                assert [e.version for e in mine] == list(range(1, appends_each + 1))
                assert [store.registry.decode(e) for e in mine] == [Deposited(amount=v) for v in range(appends_each)]
        assert seen[0] == seen[1]

    @pytest.mark.anyio
    async def test_concurrent_appends_share_transactions(self) -> None:
        appends = 50
        async with self.open_store() as store:
            before = store.transactions
            await _gather([
                partial(store.append, f"acct-{n}", [Opened(owner=str(n))], metadata=ALICE) for n in range(appends)
            ])
            used = store.transactions - before
            assert await store.count() == appends
        assert 1 <= used < appends // 2

    @pytest.mark.anyio
    async def test_a_conflicting_append_fails_alone_in_its_group(self) -> None:
        async with self.open_store() as store:
            before = store.transactions
            outcomes = await _gather_outcomes(
                [partial(store.append, "contested", [Opened(owner="x")], metadata=ALICE, expected_version=0)
                 for _ in range(5)]
                + [partial(store.append, f"free-{n}", [Opened(owner="y")], metadata=ALICE) for n in range(5)]
            )
            used = store.transactions - before
            assert await store.count() == 6
            assert await store.stream_version("contested") == 1
        contested, free = outcomes[:5], outcomes[5:]
        assert sum(isinstance(o, ConcurrencyConflict) for o in contested) == 4
        assert all(not isinstance(o, BaseException) for o in free)
        assert used < len(outcomes)

    @pytest.mark.anyio
    @pytest.mark.parametrize("warm", [False, True], ids=["first-write", "after-a-write"])
    async def test_an_append_failing_in_a_view_fails_alone_in_its_group(self, warm: bool) -> None:
        view = BalanceView()
        async with self.open_store(inline_views=(view,)) as store:
            if warm:
                await store.append("acct-0", [Opened(owner="0")], metadata=ALICE)
            outcomes = await _gather_outcomes(
                [partial(store.append, f"acct-{n}", [Opened(owner=str(n))], metadata=ALICE) for n in range(warm, 3)]
                + [partial(store.append, "bad", [Opened(owner="b"), Poison()], metadata=ALICE)]
                + [partial(store.append, f"acct-{n}", [Deposited(amount=10)], metadata=ALICE) for n in range(3)]
                + [partial(store.append, "bad", [Opened(owner="b")], metadata=ALICE)]
            )
            assert await store.stream_version("bad") == 1
            rows = await store.fetch(f"SELECT stream_id, balance, events FROM {view.table} ORDER BY stream_id")
            positions = [e.position for e in await store.read()]
        failed = [o for o in outcomes if isinstance(o, Exception)]
        assert len(failed) == 1 and isinstance(failed[0], SimulatedCrash)
        assert positions == list(range(1, 8))
        assert [tuple(r) for r in rows] == [("acct-0", 10, 2), ("acct-1", 10, 2), ("acct-2", 10, 2), ("bad", 0, 1)]

    # --- durability and the database's own refusals ------------------------------------------

    @pytest.mark.anyio
    async def test_an_append_returns_only_after_commit(self) -> None:
        async with self.open_store() as store:
            for expected in range(1, 6):
                await store.append("acct-1", [Deposited(amount=expected)], metadata=ALICE)
                assert await self.count_seen_from_outside() == expected

    @pytest.mark.anyio
    async def test_the_database_refuses_update_and_delete(self) -> None:
        async with self.open_store() as store:
            await store.append("acct-1", [Opened(owner="Ann"), Deposited(amount=5)], metadata=ALICE)
            before = await store.read()
        with pytest.raises(self.refusal_error, match="append-only"):
            await self.update_directly(2)
        with pytest.raises(self.refusal_error, match="append-only"):
            await self.delete_directly(1)
        async with self.open_store() as store:
            assert await store.read() == before
            assert (await store.verify()).ok

    # --- tamper evidence -------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_verify_passes_on_an_untouched_log(self) -> None:
        async with self.open_store() as store:
            await _fill(store, 30)
            report = await store.verify()
            head = await store.read(after=29)
        assert report.ok and report.checked == 30 and report.first_bad_position is None
        assert report.head_hash == head[0].hash

    @pytest.mark.anyio
    async def test_verify_names_the_first_edited_position(self) -> None:
        async with self.open_store() as store:
            await _fill(store, 30)
        await self.tamper_with_data(17, '{"type":"Deposited","amount":1000000}')
        await self.tamper_with_data(23, '{"type":"Deposited","amount":0}')
        async with self.open_store() as store:
            report = await store.verify()
        assert not report.ok
        assert report.first_bad_position == 17
        assert "17" in report.reason

    @pytest.mark.anyio
    @pytest.mark.parametrize("removed", [1, 12, 30])
    async def test_verify_names_a_removed_position(self, removed: int) -> None:
        async with self.open_store() as store:
            await _fill(store, 30)
        await self.remove_behind_the_back(removed)
        async with self.open_store() as store:
            report = await store.verify()
        assert not report.ok
        assert report.first_bad_position == removed

    # --- closing -----------------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_closing_answers_queued_appends_and_ends_subscriptions(self) -> None:
        ended = anyio.Event()

        async def tail() -> None:
            async for _ in store.subscribe(after=0):
                pass
            ended.set()

        with anyio.fail_after(HANG_GUARD_SECONDS):
            async with anyio.create_task_group() as tasks:
                async with self.open_store() as store:
                    tasks.start_soon(tail)
                    for n in range(20):
                        tasks.start_soon(partial(store.append, f"acct-{n}", [Opened(owner="x")], metadata=ALICE))
                    await anyio.lowlevel.checkpoint()
                await ended.wait()
            with pytest.raises(StoreClosed):
                await store.append("acct-late", [Opened(owner="late")], metadata=ALICE)
        async with self.open_store() as store:
            assert await store.count() == 20
            assert (await store.verify()).ok

    @pytest.mark.anyio
    async def test_an_error_inside_the_open_block_comes_out_as_itself(self) -> None:
        with pytest.raises(LookupError, match="from the block"):
            async with self.open_store() as store:
                await store.append("acct-1", [Opened(owner="Ann")], metadata=ALICE)
                raise LookupError("from the block")
        async with self.open_store() as store:
            assert await store.count() == 1

    # --- subscriptions ---------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_subscribe_catches_up_then_goes_live(self) -> None:
        got: list[int] = []
        async with self.open_store() as store:
            await _fill(store, 5)
            with anyio.fail_after(HANG_GUARD_SECONDS):
                subscription = store.subscribe(after=2)
                for _ in range(3):
                    got.append((await anext(subscription)).position)
                await store.append("acct-live", [Opened(owner="L"), Deposited(amount=1)], metadata=BOB)
                got.append((await anext(subscription)).position)
                await store.append("acct-live", [Deposited(amount=2)], metadata=BOB)
                got.append((await anext(subscription)).position)
                got.append((await anext(subscription)).position)
                await subscription.aclose()  # type: ignore[attr-defined]
        assert got == [3, 4, 5, 6, 7, 8]

    @pytest.mark.anyio
    async def test_batches_read_ahead_keep_order_across_pages(self) -> None:
        seen: list[int] = []
        async with self.open_store() as store:
            await _fill(store, 60)
            with anyio.fail_after(HANG_GUARD_SECONDS):
                batches = store.subscribe_batches(after=3, batch_size=7)
                async for batch in batches:
                    assert 0 < len(batch) <= 7
                    seen.extend(e.position for e in batch)
                    if seen[-1] == 60:
                        break
                await batches.aclose()  # type: ignore[attr-defined]
        assert seen == list(range(4, 61))

    @pytest.mark.anyio
    async def test_a_subscriber_sees_appends_from_another_process(self) -> None:
        arrivals: dict[int, float] = {}

        async def tail() -> None:
            async for event in store.subscribe(after=1):
                arrivals[event.position] = time.time()
                if len(arrivals) == 3:
                    return

        with anyio.fail_after(HANG_GUARD_SECONDS):
            async with self.open_store() as store, anyio.create_task_group() as tasks:
                await store.append("shared", [Opened(owner="S")], metadata=ALICE)
                tasks.start_soon(tail)
                committed_at = await self.append_in_another_process("shared", 3)
        assert sorted(arrivals) == [2, 3, 4]
        assert arrivals[4] - committed_at < 1.0

    @pytest.mark.anyio
    async def test_appends_after_another_process_wrote_continue_the_log(self) -> None:
        async with self.open_store() as store:
            await store.append("shared", [Opened(owner="S")], metadata=ALICE, expected_version=0)
            await self.append_in_another_process("shared", 2)
            with pytest.raises(ConcurrencyConflict):
                await store.append("shared", [Deposited(amount=1)], metadata=ALICE, expected_version=1)
            result = await store.append("shared", [Deposited(amount=1)], metadata=ALICE, expected_version=3)
            await self.append_in_another_process("other", 1)
            later = await store.append("shared", [Deposited(amount=1)], metadata=ALICE)
            report = await store.verify()
        assert (result.first_position, result.stream_version) == (4, 4)
        assert (later.first_position, later.stream_version) == (6, 5)
        assert report.ok and report.checked == 6

    # --- reads -----------------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_read_filters_by_stream_type_actor_and_time(self) -> None:
        async with self.open_store() as store:
            await store.append("acct-1", [Opened(owner="Ann"), Deposited(amount=1)], metadata=ALICE)
            await store.append("acct-2", [Opened(owner="Bo")], metadata=BOB)
            await store.append("acct-1", [Withdrawn(amount=1)], metadata=BOB)
            await store.append("acct-2", [Deposited(amount=3)], metadata=ALICE)
            everything = await store.read()
            by_stream = await store.read(stream="acct-2")
            by_type = await store.read(type="Deposited")
            by_actor = await store.read(actor="bob")
            since = await store.read(since=everything[3].recorded_at)
            until = await store.read(until=everything[2].recorded_at)
            page = await store.read(after=1, limit=2)
            stream = await store.read_stream("acct-1")
            assert (await store.head(), await store.count(), await store.stream_version("acct-1")) == (5, 5, 3)
        assert [e.position for e in by_stream] == [3, 5]
        assert [e.position for e in by_type] == [2, 5]
        assert [e.position for e in by_actor] == [3, 4]
        assert [e.position for e in since] == [4, 5]
        assert [e.position for e in until] == [1, 2]
        assert [e.position for e in page] == [2, 3]
        assert [(e.position, e.version) for e in stream] == [(1, 1), (2, 2), (4, 3)]
        assert [e.recorded_at for e in everything] == sorted(e.recorded_at for e in everything)

    @pytest.mark.anyio
    async def test_read_refuses_times_without_a_zone(self) -> None:
        async with self.open_store() as store:
            with pytest.raises(ValueError, match="timezone"):
                await store.read(since=datetime(2026, 1, 1))

    @pytest.mark.anyio
    async def test_the_log_survives_reopening(self) -> None:
        async with self.open_store() as store:
            await _fill(store, 10)
        async with self.open_store() as store:
            result = await store.append("acct-0", [Deposited(amount=1)], metadata=ALICE)
            report = await store.verify()
        assert result.first_position == 11
        assert report.ok and report.checked == 11

    # --- schema evolution ------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_an_old_event_is_upcast_on_read(self) -> None:
        old, new = EventRegistry(), EventRegistry()
        old_class, new_class = _renamed_v1(), _renamed_v2()
        old.register(old_class)
        new.register(new_class)

        @new.upcaster("AccountRenamed", from_version=1)
        def split_name(body: dict[str, object]) -> dict[str, object]:
            first, _, last = str(body.pop("name")).partition(" ")
            return {**body, "first": first, "last": last}

        async with self.open_store(registry=old) as store:
            await store.append("acct-1", [old_class(name="Ann Lee")], metadata=ALICE)
        async with self.open_store(registry=new) as store:
            await store.append("acct-1", [new_class(first="Bo", last="Ek")], metadata=ALICE)
            stored = await store.read()
        assert [e.schema_version for e in stored] == [1, 2]
        assert [new.decode(e) for e in stored] == [
            new_class(first="Ann", last="Lee"),
            new_class(first="Bo", last="Ek"),
        ]

    # --- read views ------------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_an_inline_view_is_current_when_the_append_returns(self) -> None:
        view = BalanceView()
        async with self.open_store(inline_views=(view,)) as store:
            await store.append("acct-1", [Opened(owner="Ann"), Deposited(amount=5)], metadata=ALICE)
            first = await store.fetch(f"SELECT owner, balance FROM {view.table}")
            await store.append("acct-1", [Withdrawn(amount=2)], metadata=ALICE)
            second = await store.fetch(f"SELECT owner, balance FROM {view.table}")
        assert [tuple(r) for r in first] == [("Ann", 5)]
        assert [tuple(r) for r in second] == [("Ann", 3)]

    @pytest.mark.anyio
    async def test_an_inline_view_is_given_the_events_as_stored(self) -> None:
        view = AppliedLog()
        async with self.open_store(inline_views=(view,)) as store:
            await store.append("acct-1", [Opened(owner="Ann"), Deposited(amount=5)], metadata=ALICE)
            await _gather([partial(store.append, f"acct-{n}", [Deposited(amount=n)], metadata=BOB) for n in range(9)])
            stored = await store.read()
        assert sorted(view.seen, key=lambda e: e.position) == stored

    @pytest.mark.anyio
    async def test_rebuilt_views_equal_the_live_ones(self) -> None:
        inline, catch_up = BalanceView("live"), BalanceView("stats")
        query = "SELECT stream_id, owner, balance, events FROM {} ORDER BY stream_id"
        async with self.open_store(inline_views=(inline,)) as store:
            async with store.run_catch_up(catch_up) as runner:
                await _random_workload(store, random.Random(20261124))
                await runner.wait_until(await store.head())
            live_inline = await store.fetch(query.format(inline.table))
            live_catch_up = await store.fetch(query.format(catch_up.table))
            await store.rebuild(inline)
            await store.rebuild(catch_up)
            rebuilt_inline = await store.fetch(query.format(inline.table))
            rebuilt_catch_up = await store.fetch(query.format(catch_up.table))
            expected = _fold_balances(await store.read(limit=100_000), store.registry)
            assert await store.checkpoint(catch_up.name) == await store.head()
        assert len(live_inline) == 8
        assert [tuple(r) for r in live_inline] == expected
        assert [tuple(r) for r in rebuilt_inline] == expected
        assert [tuple(r) for r in live_catch_up] == expected
        assert [tuple(r) for r in rebuilt_catch_up] == expected

    @pytest.mark.anyio
    async def test_a_catch_up_view_recovers_from_a_crash_without_loss_or_repeats(self) -> None:
        view = AppliedLog(crash_at=137)
        query = f"SELECT position, times FROM {view.table} ORDER BY position"
        async with self.open_store() as store:
            await _fill(store, 300)
            with pytest.raises(SimulatedCrash), anyio.fail_after(HANG_GUARD_SECONDS):
                async with store.run_catch_up(view, batch_size=50) as runner:
                    await runner.wait_until(300)
            after_crash = await store.fetch(query)
            assert await store.checkpoint(view.name) == 100
            view.crash_at = None
            await _fill(store, 20)
            with anyio.fail_after(HANG_GUARD_SECONDS):
                async with store.run_catch_up(view, batch_size=50) as runner:
                    await runner.wait_until(320)
            after_restart = await store.fetch(query)
            assert await store.checkpoint(view.name) == 320
        assert [tuple(r) for r in after_crash] == [(p, 1) for p in range(1, 101)]
        assert [tuple(r) for r in after_restart] == [(p, 1) for p in range(1, 321)]


    @pytest.mark.anyio
    async def test_rebuilding_a_running_catch_up_view_applies_each_event_once(self) -> None:
        view = AppliedLog()
        async with self.open_store() as store:
            with anyio.fail_after(HANG_GUARD_SECONDS):
                async with store.run_catch_up(view, batch_size=10) as runner:
                    await _fill(store, 100)
                    await store.rebuild(view)
                    await _fill(store, 50)
                    await runner.wait_until(150)
            rows = await store.fetch(f"SELECT position, times FROM {view.table} ORDER BY position")
        assert [tuple(r) for r in rows] == [(p, 1) for p in range(1, 151)]


    @pytest.mark.anyio
    async def test_an_inline_view_whose_version_changed_is_rebuilt_at_open_once(self) -> None:
        query = "SELECT owner, balance FROM live_accounts"
        async with self.open_store(inline_views=(BalanceView("live"),)) as store:
            first_open = store.rebuilt_views
            await store.append("acct-1", [Opened(owner="Ann"), Deposited(amount=5)], metadata=ALICE)
        async with self.open_store(inline_views=(BalanceView("live", version=2, scale=100),)) as store:
            upgraded = store.rebuilt_views
            rebuilt = await store.fetch(query)
            await store.append("acct-1", [Withdrawn(amount=2)], metadata=ALICE)
        async with self.open_store(inline_views=(BalanceView("live", version=2, scale=100),)) as store:
            reopened = store.rebuilt_views
            live = await store.fetch(query)
        assert first_open == []
        assert [(r.view, r.from_version, r.to_version, r.events) for r in upgraded] == [("live", 1, 2, 2)]
        assert upgraded[0].milliseconds >= 0
        assert [tuple(r) for r in rebuilt] == [("Ann", 500)]
        assert reopened == []
        assert [tuple(r) for r in live] == [("Ann", 300)]

    @pytest.mark.anyio
    async def test_a_rebuild_is_kept_across_opens_until_it_is_marked_logged(self) -> None:
        async with self.open_store(inline_views=(BalanceView("live"),)) as store:
            await store.append("acct-1", [Opened(owner="Ann"), Deposited(amount=5)], metadata=ALICE)
        async with self.open_store(inline_views=(BalanceView("live", version=2, scale=100),)) as store:
            made = store.rebuilt_views
        async with self.open_store(inline_views=(BalanceView("live", version=2, scale=100),)) as store:
            kept = await store.unlogged_rebuilds()
            await store.rebuild_logged(kept[0])
            after = await store.unlogged_rebuilds()
        async with self.open_store() as store:
            reopened = await store.unlogged_rebuilds()
        assert [(r.view, r.from_version, r.to_version, r.events) for r in made] == [("live", 1, 2, 2)]
        assert kept == made and len(kept[0].event_id) == 32
        assert after == reopened == []

    @pytest.mark.anyio
    async def test_a_view_new_to_a_log_with_events_is_built_from_it(self) -> None:
        async with self.open_store() as store:
            await store.append("acct-1", [Opened(owner="Ann"), Deposited(amount=5)], metadata=ALICE)
        async with self.open_store(inline_views=(BalanceView("live"),)) as store:
            added = store.rebuilt_views
            rows = await store.fetch("SELECT owner, balance FROM live_accounts")
        assert [(r.view, r.from_version, r.to_version, r.events) for r in added] == [("live", 0, 1, 2)]
        assert [tuple(r) for r in rows] == [("Ann", 5)]

    @pytest.mark.anyio
    async def test_a_catch_up_view_whose_version_changed_is_rebuilt_with_its_checkpoint(self) -> None:
        async with self.open_store() as store:
            never_ran = await store.upgrade_views([BalanceView("stats")])
            async with store.run_catch_up(BalanceView("stats")) as runner:
                await store.append("acct-1", [Opened(owner="Ann"), Deposited(amount=5)], metadata=ALICE)
                await runner.wait_until(2)
            same = await store.upgrade_views([BalanceView("stats")])
            cents = BalanceView("stats", version=2, scale=100)
            upgraded = await store.upgrade_views([cents])
            rows = await store.fetch("SELECT owner, balance, events FROM stats_accounts")
            checkpoint = await store.checkpoint("stats")
            async with store.run_catch_up(cents) as runner:
                await store.append("acct-1", [Deposited(amount=1)], metadata=ALICE)
                await runner.wait_until(3)
            followed = await store.fetch("SELECT owner, balance, events FROM stats_accounts")
        assert never_ran == [] and same == []
        assert [(r.view, r.from_version, r.to_version, r.events) for r in upgraded] == [("stats", 1, 2, 2)]
        assert [tuple(r) for r in rows] == [("Ann", 500, 2)]
        assert checkpoint == 2
        assert [tuple(r) for r in followed] == [("Ann", 600, 3)]


    @pytest.mark.anyio
    async def test_a_failed_catch_up_view_is_listed_until_it_applies_again(self) -> None:
        async with self.open_store() as store:
            await store.append("acct-1", [Opened(owner="Ann"), Poison()], metadata=ALICE)
            view = BalanceView("stats")
            with pytest.raises(SimulatedCrash), anyio.fail_after(HANG_GUARD_SECONDS):
                async with store.run_catch_up(view) as runner:
                    await runner.wait_until(2)
            failed = store.followers.failures()
            await store.rebuild(AppliedLog("stats"))  # the view's next version copes with the event
            healthy_again = AppliedLog("stats")
            async with store.run_catch_up(healthy_again) as runner:
                await store.append("acct-1", [Deposited(amount=1)], metadata=ALICE)
                await runner.wait_until(3)
            after = store.followers.failures()
        assert [(f.name, f.error) for f in failed] == [("stats", "SimulatedCrash: poison at position 2")]
        assert after == []


def _renamed_v1() -> type[Event]:
    class AccountRenamed(Event):
        name: str

    return AccountRenamed


def _renamed_v2() -> type[Event]:
    class AccountRenamed(Event):
        schema_version: ClassVar[int] = 2
        first: str
        last: str

    return AccountRenamed


async def _fill(store: EventStore, count: int) -> None:
    for n in range(count):
        await store.append(f"acct-{n % 3}", [Deposited(amount=n)], metadata=ALICE)


async def _random_workload(store: EventStore, rng: random.Random) -> None:
    """Seeded appends over eight accounts and three event types, with some stale expected versions."""
    streams = [f"acct-{n}" for n in range(8)]
    for stream in streams:
        await store.append(stream, [Opened(owner=stream.upper())], metadata=ALICE)
    for _ in range(300):
        stream = rng.choice(streams)
        batch: list[Event] = [
            rng.choice([Deposited(amount=rng.randint(1, 100)), Withdrawn(amount=rng.randint(1, 50))])
            for _ in range(rng.randint(1, 3))
        ]
        version = await store.stream_version(stream)
        expected = rng.choice([None, version, version - 1])
        try:
            await store.append(stream, batch, metadata=rng.choice([ALICE, BOB]), expected_version=expected)
        except ConcurrencyConflict:
            assert expected == version - 1


def _fold_balances(events: list[StoredEvent], registry: EventRegistry) -> list[tuple[str, str, int, int]]:
    """The balances computed straight from the log, to compare views against."""
    accounts: dict[str, list[str | int]] = {}
    for stored in events:
        event = registry.decode(stored)
        account = accounts.setdefault(stored.stream_id, ["", 0, 0])
        account[2] = int(account[2]) + 1
        if isinstance(event, Opened):
            account[0] = event.owner
        elif isinstance(event, Deposited):
            account[1] = int(account[1]) + event.amount
        elif isinstance(event, Withdrawn):
            account[1] = int(account[1]) - event.amount
    return [(stream, str(a[0]), int(a[1]), int(a[2])) for stream, a in sorted(accounts.items())]


async def _gather_outcomes(calls: Sequence[Callable[[], Awaitable[AppendResult]]]) -> list[AppendResult | Exception]:
    """Run the calls concurrently; each outcome is its result or the exception it raised."""
    outcomes: dict[int, AppendResult | Exception] = {}

    async def run(index: int) -> None:
        try:
            outcomes[index] = await calls[index]()
        except Exception as error:
            outcomes[index] = error

    async with anyio.create_task_group() as tasks:
        for index in range(len(calls)):
            tasks.start_soon(run, index)
    return [outcomes[index] for index in range(len(calls))]


async def _gather(calls: Sequence[Callable[[], Awaitable[AppendResult]]]) -> list[AppendResult]:
    """Run the calls concurrently; all must succeed."""
    results: list[AppendResult] = []
    for outcome in await _gather_outcomes(calls):
        if isinstance(outcome, Exception):
            raise outcome
        results.append(outcome)
    return results
