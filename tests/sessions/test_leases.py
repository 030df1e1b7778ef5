"""Turn leases: an open turn is closed as interrupted only once its replica's lease expired, by one replica alone."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.services import build_registry, open_services
from backend.sessions.events import (
    ModelChoice,
    Prices,
    SessionCreated,
    TurnCompleted,
    TurnStarted,
    stream_of,
    turn_end_id,
)
from backend.sessions.leases import LeaseTiming, TurnLeases, keep_once, open_turns, sweep
from backend.sessions.schemas import SendMessage
from backend.sessions.turns import start_turn
from backend.sessions.view import SessionListView
from backend.settings import Settings
from events import EventStore, Metadata
from events.open import open_event_store
from tests.sessions.conftest import event_types, parse_stream
from tests.sessions.test_streaming import stalled_session
from tests.upstreams import UpstreamServer

pytestmark = pytest.mark.anyio
TIMING = LeaseTiming(lease_s=15.0, sweep_s=5.0)
SYSTEM = Metadata(actor="system")
NO_PRICES = Prices(input=None, output=None, cache_read=None, cache_write=None)


class Clock:
    """A wall clock the test moves: each replica reads the same one, as replicas with agreeing clocks do."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Replicas:
    """Three replicas' leases on one log, and the session view they sweep through."""

    def __init__(self, store: EventStore, view: SessionListView, clock: Clock) -> None:
        self.store, self.view, self.clock = store, view, clock
        self.a, self.b, self.c = (TurnLeases(store, TIMING, name, clock) for name in ("a", "b", "c"))


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    if request.param == "sqlite":
        return tmp_path / "events.sqlite3"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def replicas(location: str | Path) -> AsyncIterator[Replicas]:
    registry = build_registry()
    view = SessionListView(registry)
    async with open_event_store(location, registry=registry, inline_views=[view]) as store:
        replicas = Replicas(store, view, Clock())
        await replicas.a.create_table()
        yield replicas


def started(turn_id: str, agent_id: str = "agent1") -> TurnStarted:
    return TurnStarted(
        agent_id=agent_id, turn_id=turn_id, instance_id="inst1", provider_id="openai", provider_type="openai",
        model_id="gpt", prices=NO_PRICES, price_status="unknown",
    )


async def open_turn(replicas: Replicas, session_id: str, turn_id: str, leases: TurnLeases | None) -> None:
    """A session with a turn in flight, leased to `leases`' replica (taken before the start, as turns do)."""
    choice = ModelChoice(instance_id="inst1", provider_id="openai", model_id="gpt")
    await replicas.store.append(
        stream_of(session_id), [SessionCreated(session_id=session_id, name="s", default=choice, system_prompt="")],
        metadata=SYSTEM,
    )
    if leases is not None:
        await leases.take(turn_id)
    await replicas.store.append(stream_of(session_id), [started(turn_id)], metadata=SYSTEM)


async def interruptions(store: EventStore, session_id: str) -> list[str]:
    return [event.event_id for event in await store.read_stream(stream_of(session_id)) if event.type == "TurnInterrupted"]


async def test_a_leased_turn_is_interrupted_only_after_its_lease_expires(replicas: Replicas) -> None:
    await open_turn(replicas, "s1", "t1", replicas.a)
    replicas.clock.now += TIMING.lease_s - 1
    assert await sweep(replicas.b, replicas.view, SYSTEM) == 0
    assert [turn.turn_id for turn in await open_turns(replicas.store, replicas.view)] == ["t1"]
    replicas.clock.now += 2
    assert await sweep(replicas.b, replicas.view, SYSTEM) == 1
    assert await interruptions(replicas.store, "s1") == [turn_end_id("t1")]
    assert await open_turns(replicas.store, replicas.view) == []


async def test_a_renewed_lease_keeps_its_turn_open(replicas: Replicas) -> None:
    await open_turn(replicas, "s1", "t1", replicas.a)
    for _ in range(4):
        replicas.clock.now += TIMING.sweep_s
        await replicas.a.renew()
        assert await sweep(replicas.b, replicas.view, SYSTEM) == 0
    replicas.clock.now += TIMING.lease_s + 0.1
    assert await sweep(replicas.b, replicas.view, SYSTEM) == 1


async def test_a_turn_without_a_lease_is_interrupted_at_the_first_sweep(replicas: Replicas) -> None:
    await open_turn(replicas, "s1", "t1", None)  # a turn from before leases
    assert await sweep(replicas.b, replicas.view, SYSTEM) == 1


async def test_a_replica_never_interrupts_a_turn_it_is_running(replicas: Replicas) -> None:
    await open_turn(replicas, "s1", "t1", replicas.a)
    replicas.clock.now += TIMING.lease_s * 3  # its renewals failed, say; it still knows the turn is alive
    assert await sweep(replicas.a, replicas.view, SYSTEM, running=["t1"]) == 0
    assert await sweep(replicas.b, replicas.view, SYSTEM) == 1


async def test_a_process_alone_on_its_log_interrupts_every_open_turn_at_start_up(replicas: Replicas) -> None:
    await open_turn(replicas, "s1", "t1", replicas.a)
    assert await sweep(replicas.b, replicas.view, SYSTEM) == 0
    assert await sweep(replicas.b, replicas.view, SYSTEM, everything=True) == 1


async def test_replicas_sweeping_together_store_one_end(replicas: Replicas) -> None:
    for index in range(5):
        await open_turn(replicas, f"s{index}", f"t{index}", replicas.a)
    replicas.clock.now += TIMING.lease_s + 1
    closed: list[int] = []

    async def sweeping(leases: TurnLeases) -> None:
        closed.append(await sweep(leases, replicas.view, SYSTEM))

    async with anyio.create_task_group() as tasks:
        for leases in (replicas.b, replicas.c, replicas.b, replicas.c):
            tasks.start_soon(sweeping, leases)
    assert sum(closed) == 5
    for index in range(5):
        assert await interruptions(replicas.store, f"s{index}") == [turn_end_id(f"t{index}")]


def ended(turn_id: str) -> TurnCompleted:
    begun = started(turn_id)
    return TurnCompleted(
        agent_id=begun.agent_id, turn_id=turn_id, instance_id=begun.instance_id, provider_id=begun.provider_id,
        provider_type=begun.provider_type, model_id=begun.model_id, text="late", finish_reason="stop",
        input_tokens=1, output_tokens=1, cache_read_tokens=0, cache_write_tokens=0, prices=NO_PRICES,
        price_status="unknown", cost_usd=None, ttft_ms=None, total_ms=1.0, attempts=1,
    )


async def test_an_end_after_an_interruption_is_a_duplicate_and_writes_nothing(replicas: Replicas) -> None:
    await open_turn(replicas, "s1", "t1", replicas.a)
    replicas.clock.now += TIMING.lease_s + 1
    assert await sweep(replicas.b, replicas.view, SYSTEM) == 1
    head = await replicas.store.head()
    result = await replicas.store.append(stream_of("s1"), [ended("t1")], metadata=SYSTEM, event_ids=[turn_end_id("t1")])
    assert result.duplicate and await replicas.store.head() == head
    types = [event.type for event in await replicas.store.read_stream(stream_of("s1"))]
    assert types == ["SessionCreated", "TurnStarted", "TurnInterrupted"]


async def test_expired_leases_are_forgotten(replicas: Replicas) -> None:
    await open_turn(replicas, "s1", "t1", replicas.a)
    replicas.clock.now += TIMING.lease_s + 1
    assert await sweep(replicas.b, replicas.view, SYSTEM) == 1  # b's claim is a lease of its own, expiring in turn
    replicas.clock.now += 2 * TIMING.lease_s + 1
    await sweep(replicas.b, replicas.view, SYSTEM)
    assert await replicas.store.fetch("SELECT turn_id FROM turn_leases") == []


async def test_a_lease_renewed_in_time_cannot_be_claimed_and_an_expired_one_is_claimed_once(replicas: Replicas) -> None:
    await open_turn(replicas, "s1", "t1", replicas.a)
    replicas.clock.now += TIMING.lease_s - 1
    assert await replicas.b.held(["t1"]) == {"t1"}
    assert await replicas.a.renew() == {"t1"}
    assert not await replicas.b.claim("t1")
    replicas.clock.now += TIMING.lease_s
    claims = [await leases.claim("t1") for leases in (replicas.b, replicas.c, replicas.b)]
    assert claims == [True, False, False]
    assert await replicas.a.renew() == set()  # once expired, a's lease is not brought back


async def test_a_turn_without_a_lease_is_claimed_by_one_replica(replicas: Replicas) -> None:
    await open_turn(replicas, "s1", "t1", None)
    assert [await replicas.b.claim("t1"), await replicas.c.claim("t1")] == [True, False]


async def test_the_race_the_review_found_cannot_revive_a_lease(replicas: Replicas) -> None:
    """b reads the lease as expired, then a renews (too late), then b claims: a's renewal brings nothing back."""
    await open_turn(replicas, "s1", "t1", replicas.a)
    replicas.clock.now += TIMING.lease_s
    assert await replicas.b.held(["t1"]) == set()
    assert await replicas.a.renew() == set()
    assert await replicas.b.claim("t1")
    assert await sweep(replicas.c, replicas.view, SYSTEM) == 0  # b owns the claim now


async def test_a_sweep_racing_a_renew_never_leaves_a_turn_both_interrupted_and_running(location: str | Path) -> None:
    """a's clock is behind b's: a renews leases it sees unexpired, while b sees the very same leases expired.
    Whichever write comes first wins each turn; a turn is then renewed (still a's) or interrupted, never both."""
    registry = build_registry()
    view = SessionListView(registry)
    async with open_event_store(location, registry=registry, inline_views=[view]) as store:
        clock_a, clock_b = Clock(), Clock()
        replicas = Replicas(store, view, clock_a)
        a, b = TurnLeases(store, TIMING, "a", clock_a), TurnLeases(store, TIMING, "b", clock_b)
        await a.create_table()
        for round_ in range(3):
            turns = [f"r{round_}t{index}" for index in range(8)]
            for turn_id in turns:
                await open_turn(replicas, f"s-{turn_id}", turn_id, a)
            clock_a.now += TIMING.lease_s - 5  # a's leases are still its own on a's clock...
            clock_b.now = clock_a.now + 10  # ...and expired on b's, until a's renewal pushes them past it
            renewed: set[str] = set()

            async def renewing(renewed: set[str] = renewed) -> None:
                renewed.update(await a.renew())

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(renewing)
                tasks.start_soon(sweep, b, view, SYSTEM)
            interrupted = {turn_id for turn_id in turns if await interruptions(store, f"s-{turn_id}")}
            assert renewed.isdisjoint(interrupted)
            assert renewed | interrupted == set(turns)
            open_ids = {turn.turn_id for turn in await open_turns(store, view)}
            assert open_ids == renewed & open_ids and set(turns) - interrupted <= open_ids
            for turn_id in renewed:
                await a.release(turn_id)
                await store.append(stream_of(f"s-{turn_id}"), [ended(turn_id)], metadata=SYSTEM,
                                   event_ids=[turn_end_id(turn_id)])


async def test_a_replica_whose_lease_was_taken_stops_the_turn(replicas: Replicas) -> None:
    await open_turn(replicas, "s1", "t1", replicas.a)
    await open_turn(replicas, "s2", "t2", replicas.a)
    lost: list[set[str]] = []
    replicas.clock.now += TIMING.sweep_s
    await keep_once(replicas.a, replicas.view, SYSTEM, lambda: ["t1", "t2"], lost.append)
    assert lost == []
    replicas.clock.now += TIMING.lease_s
    assert await replicas.b.claim("t1")
    replicas.clock.now -= TIMING.lease_s  # a was late: t2 is still its own, t1 is b's now
    await keep_once(replicas.a, replicas.view, SYSTEM, lambda: ["t1", "t2"], lost.append)
    assert lost == [{"t1"}]


def test_a_lease_must_outlast_its_renewal_interval() -> None:
    with pytest.raises(ValueError):
        LeaseTiming(lease_s=5.0, sweep_s=5.0)


async def test_a_turn_streaming_here_whose_lease_another_replica_took_stops_at_once(
    settings: Settings, client: AsyncTestClient[Litestar], upstream: UpstreamServer
) -> None:
    session_id, agent_id = await stalled_session(client, upstream)  # the upstream stalls after the first piece
    async with open_services(settings, serving=False) as services:  # the replica running the turn, on this loop
        sessions = services.sessions
        body = await start_turn(sessions, session_id, agent_id, SendMessage(text="hi"), Metadata(actor="local"))
        assert (await anext(body)).startswith(b"event: delta")
        later = TurnLeases(sessions.store, TIMING, "other", lambda: time.time() + 2 * TIMING.lease_s)
        assert await sweep(later, sessions.view, SYSTEM) == 1  # another replica sees the lease expired and claims it
        await keep_once(sessions.leases, sessions.view, SYSTEM, sessions.running_turn_ids, sessions.lose)
        frames = [frame async for frame in body]  # ends now, not when the stalled upstream would have gone on
        turn = parse_stream(b"".join(frames).decode()).turn
        assert turn["outcome"] == "interrupted" and "recorded as interrupted" in str(turn["message"])
        assert sessions.running == {}
    assert (await event_types(client, session_id))[-2:] == ["TurnStarted", "TurnInterrupted"]
