"""Killed replicas: three `switchboard api` processes share one PostgreSQL schema while 50 clients, spread over
them, create instances with keys, rotate keys, test connections and send chat turns. One replica at a time is
SIGKILLed at a random moment; its clients go on with the others (a request the kill cut off is counted, not
acknowledged); once the survivors have closed its turns it is started again. After each start, the clients idle:

- every write a client saw acknowledged is in the log (lost: must be 0), and no request was answered with a 5xx;
- `switchboard verify` finds the chain intact up to a head equal to the number of events, whose positions have no
  gap, and `switchboard views check` finds every view equal to its rebuild;
- each turn open in the log at the kill, leased to the killed replica, was closed by a surviving replica as
  `TurnInterrupted` exactly once, within the lease and a sweep of the kill (and an allowance for a loaded machine);
  every turn ends once;
- `credential_blobs` holds the blob of each key version the views name; any other blob is one the log never
  recorded (a write the kill cut off), which replicas keep until it settles; a version the log superseded is gone.

The seed of the clients' choices, the replicas killed and the kill moments is printed; SWITCHBOARD_KILL_SEED=<seed>
replays them.
"""

from __future__ import annotations

import os
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import asyncpg
import httpx
import pytest

from tests.reliability.kill_checks import (
    SYSTEM_ACTOR,
    Findings,
    LoggedEvent,
    Shown,
    check_after_start,
    expected_blobs,
    shown_by,
)
from tests.reliability.kill_workload import END_TYPES, Client, Ledger, Servers
from tests.reliability.live_api import LiveApi, switchboard
from tests.replicas.conftest import LEASE_S, SWEEP_S, running_replicas
from tests.upstreams import UpstreamServer

pytestmark = pytest.mark.anyio

REPLICAS = 3
KILLS = 6
CLIENTS = 50
KILL_AFTER_S = (0.5, 3.0)
"""How long the clients run before each kill, drawn at random in this range."""
LOAD_ALLOWANCE_S = 1.0
CLOSE_LIMIT_S = LEASE_S + SWEEP_S + LOAD_ALLOWANCE_S
"""A killed replica's leases were renewed at most a sweep before the kill and last LEASE_S; a survivor sweeps every
SWEEP_S, its loop waking late when 50 clients keep two cores busy (3.0 s seen): its turns are closed within this of
the kill."""
SETTLE_LIMIT_S = 30.0
"""How long the turns a client went away from may take to be closed, before a check."""
POLL_S = 0.05
KEY_CHANGES = ("CredentialSet", "CredentialRotated")


@dataclass
class Kill:
    """One kill: the turns open in the log and leased to the killed replica, and how long the survivors took to
    close them (None: not all within twice the limit)."""

    number: int
    replica: int
    turn_ids: list[str] = field(default_factory=list)
    closed_s: float | None = None
    connections: int = 0  # open on the PostgreSQL server (by every client of it) just before the kill
    kept_blobs: int = 0  # blobs the log never recorded, kept by the replicas until they settle, after the restart


@pytest.fixture
def replicas(tmp_path: Path, postgres_url: str) -> Iterator[list[LiveApi]]:
    with running_replicas(tmp_path, postgres_url, "abc"[:REPLICAS]) as apis:
        yield apis


async def test_acknowledged_writes_survive_replicas_being_killed_one_at_a_time(
    replicas: list[LiveApi], postgres_url: str, upstream: UpstreamServer, record_property: Callable[[str, object], None]
) -> None:
    seed = int(os.environ.get("SWITCHBOARD_KILL_SEED") or secrets.randbits(32))
    print(f"\nseed {seed}: SWITCHBOARD_KILL_SEED={seed} replays its choices, the replicas killed and the kill moments")
    rng = random.Random(seed)
    token = switchboard(replicas[0].env, "token", "create", "kills", "--role", "admin").splitlines()[0].strip()
    ledger, findings, servers = Ledger(), Findings(), Servers([api.base for api in replicas])
    clients = [
        Client(n, servers, token, upstream.urls.openai, random.Random(rng.getrandbits(64)), ledger)
        for n in range(CLIENTS)
    ]
    kills: list[Kill] = []
    db = await asyncpg.connect(postgres_url)
    try:
        for number in range(1, KILLS + 1):
            replica, delay = rng.randrange(REPLICAS), rng.uniform(*KILL_AFTER_S)
            kill = await _run_and_kill(db, replicas[replica], servers, clients, delay, Kill(number, replica))
            kills.append(kill)
            started = time.monotonic()
            await anyio.to_thread.run_sync(replicas[replica].start)
            servers.down.clear()
            restart_s = time.monotonic() - started
            await _settled(db, findings)
            shown = await _check(db, replicas, replica, token, clients, ledger, findings, kill)
            closed = "not within the limit" if kill.closed_s is None else f"in {kill.closed_s:.2f} s"
            print(f"kill {number}: replica {'abc'[replica]} after {delay:.2f} s ({kill.connections} connections on the "
                  f"server), {len(kill.turn_ids)} of its turns open, "
                  f"closed by the others {closed}; restarted in {restart_s:.1f} s, checked in "
                  f"{time.monotonic() - started - restart_s:.1f} s; {len(ledger.acks)} acknowledged writes so far, "
                  f"{len(findings.lost)} lost, {len(findings.problems)} problems")
    finally:
        await db.close()
    summary = _summary(seed, kills, ledger, findings, shown)
    print(summary)
    record_property("summary", summary)
    assert not ledger.faults, f"seed {seed}: {ledger.faults[:10]}"
    assert not findings.problems, f"seed {seed}: {sorted(findings.problems)[:20]}"
    assert len(findings.lost) == 0, f"seed {seed}: {sorted(findings.lost.items())[:20]}"
    assert set(findings.open_at_kill) <= {"TurnInterrupted"}, f"seed {seed}: {dict(findings.open_at_kill)}"
    for api in replicas:
        assert "Traceback" not in api.log.read_text(), f"seed {seed}: see {api.log}"


async def _check(
    db: asyncpg.Connection, replicas: list[LiveApi], replica: int, token: str, clients: list[Client], ledger: Ledger,
    findings: Findings, kill: Kill,
) -> Shown:
    """Everything that must hold once the killed replica is back, the clients idle; what it shows."""
    shown = await shown_by(replicas[replica].base, token)
    await check_after_start(replicas[replica].env, shown, clients, ledger, findings)
    await _check_replicas_agree(replicas, token, shown, findings)
    _check_turns_ended_once(shown.events, findings)
    _check_closed_by_survivors(shown.events, kill, findings)
    kill.kept_blobs = await _check_blobs(db, shown, findings)
    if kill.kept_blobs > ledger.unanswered:
        findings.problems.add(f"{kill.kept_blobs} blobs the log never recorded, more than the {ledger.unanswered} "
                              "requests cut off")
    return shown


def _summary(seed: int, kills: list[Kill], ledger: Ledger, findings: Findings, shown: Shown) -> str:
    kinds = Counter(ack.what for ack in ledger.acks)
    at_kills = {turn_id for kill in kills for turn_id in kill.turn_ids}
    while_running = sum(1 for event in shown.events if event.type == "TurnInterrupted"
                        and str(event.data["turn_id"]) not in at_kills)
    times = [kill.closed_s for kill in kills if kill.turn_ids and kill.closed_s is not None]
    return (
        f"seed {seed}: replicas {REPLICAS}, kills {KILLS} (replicas {''.join('abc'[kill.replica] for kill in kills)}), "
        f"acknowledged writes {len(ledger.acks)}, lost {len(findings.lost)}\n"
        f"  acknowledged: {dict(kinds)}; requests cut off {ledger.unanswered}, refused {dict(ledger.refused)}, "
        f"5xx and other faults {len(ledger.faults)}\n"
        f"  turns started {len(ledger.turns)}; open in the log at a kill {len(at_kills)}, "
        f"closed as {dict(findings.open_at_kill)} by the survivors in at most "
        f"{max(times, default=0.0):.2f} s (lease {LEASE_S} s, sweep {SWEEP_S} s); without a frame: closed as "
        f"{dict(findings.in_flight)}; the client gone: closed as {dict(findings.left)}; TurnInterrupted written "
        f"{findings.interrupted} ({while_running} of turns not open at a kill: their lease lapsed, or their start was "
        f"committed as the replica died); most connections on the server at a kill "
        f"{max(kill.connections for kill in kills)}; blobs the log never recorded, kept until settled: {kills[-1].kept_blobs}"
    )


async def _run_and_kill(
    db: asyncpg.Connection, victim: LiveApi, servers: Servers, clients: list[Client], delay: float, kill: Kill
) -> Kill:
    """Let every client send requests for `delay` seconds, kill `victim` under them, and let the clients go on with
    the others until the survivors have closed its turns; then stop the clients after their requests in flight."""
    servers.stopping = False
    async with anyio.create_task_group() as tasks:
        for client in clients:
            tasks.start_soon(client.run)
        await anyio.sleep(delay)  # the moment of the kill is the experiment: nothing waits on it
        kill.connections = int(await db.fetchval("SELECT count(*) FROM pg_stat_activity"))
        servers.down.add(victim.base)
        pid = victim.pid
        victim.kill()
        killed = time.monotonic()
        kill.turn_ids = await _open_turns_leased_to(db, pid)
        kill.closed_s = await _closed_within(db, kill.turn_ids, killed, 2 * CLOSE_LIMIT_S)
        servers.stopping = True
    return kill


async def _open_turns_leased_to(db: asyncpg.Connection, pid: int) -> list[str]:
    """The turns open in the log whose lease the replica with process id `pid` holds."""
    rows = await db.fetch("SELECT turn_id FROM turn_leases WHERE replica LIKE $1", f"%:{pid}:%")
    leased = [str(row["turn_id"]) for row in rows]
    ends = await _turn_events(db, leased)
    return [turn_id for turn_id in leased if ends.get(turn_id) == ["TurnStarted"]]


async def _closed_within(db: asyncpg.Connection, turn_ids: list[str], since: float, limit_s: float) -> float | None:
    """Seconds from `since` until each of the turns has an end in the log; None when that takes over `limit_s`."""
    while time.monotonic() - since < limit_s:
        events = await _turn_events(db, turn_ids)
        if all(len(events.get(turn_id, [])) > 1 for turn_id in turn_ids):
            return time.monotonic() - since
        await anyio.sleep(POLL_S)  # polling the log for the survivors' sweeps, which announce nothing else
    return None


async def _turn_events(db: asyncpg.Connection, turn_ids: Collection[str]) -> dict[str, list[str]]:
    """The types of the starts and ends of these turns in the log, by turn, in log order."""
    rows = await db.fetch(
        "SELECT data::json->>'turn_id' AS turn_id, type FROM events WHERE type = ANY($1::text[]) "
        "AND data::json->>'turn_id' = ANY($2::text[]) ORDER BY position",
        ["TurnStarted", *END_TYPES], list(turn_ids),
    )
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(str(row["turn_id"]), []).append(str(row["type"]))
    return found


async def _settled(db: asyncpg.Connection, findings: Findings) -> None:
    """Wait until no turn is open in the log: the clients have stopped, and the turns they went away from are
    being cancelled by their replicas."""
    deadline = time.monotonic() + SETTLE_LIMIT_S
    while time.monotonic() < deadline:
        rows = await db.fetch(
            "SELECT data::json->>'turn_id' AS turn_id, count(*) AS events FROM events WHERE type = ANY($1::text[]) "
            "GROUP BY 1 HAVING count(*) < 2 LIMIT 5", ["TurnStarted", *END_TYPES],
        )
        if not rows:
            return
        await anyio.sleep(POLL_S)  # polling the log for the replicas' cancellations
    findings.problems.add(f"turns still open {SETTLE_LIMIT_S} s after the clients stopped: {[row[0] for row in rows]}")


async def _check_replicas_agree(replicas: list[LiveApi], token: str, shown: Shown, findings: Findings) -> None:
    """Every replica lists the instances the restarted one does, by the same names and key versions."""
    for api in replicas:
        async with httpx.AsyncClient(base_url=api.base, headers={"Authorization": f"Bearer {token}"}) as http:
            listed = {item["id"]: item for item in (await http.get("/api/v1/instances")).json()}
        if _names_and_keys(listed) != _names_and_keys(shown.instances):
            findings.problems.add(f"{api.base} lists other instances than the restarted replica")


def _names_and_keys(instances: dict[str, dict]) -> dict[str, tuple[str, int]]:
    return {instance_id: (item["name"], (item["credential"] or {}).get("version", 0))
            for instance_id, item in instances.items()}


def _check_turns_ended_once(events: list[LoggedEvent], findings: Findings) -> None:
    """Along the log, each turn ends once, after it started; none is open at the log's end."""
    open_turns: set[str] = set()
    for event in events:
        turn_id = str(event.data.get("turn_id"))
        if event.type == "TurnStarted":
            open_turns.add(turn_id)
        elif event.type in END_TYPES and turn_id not in open_turns:
            findings.problems.add(f"{event.type} at position {event.position} ends turn {turn_id}, which was not open")
        elif event.type in END_TYPES:
            open_turns.discard(turn_id)
    if open_turns:
        findings.problems.add(f"turns left open in the log: {sorted(open_turns)[:5]}")


def _check_closed_by_survivors(events: list[LoggedEvent], kill: Kill, findings: Findings) -> None:
    """Each turn open at the kill has one end, recorded by a replica itself (a sweep) within the limit."""
    ends: dict[str, list[LoggedEvent]] = {turn_id: [] for turn_id in kill.turn_ids}
    for event in events:
        if event.type in END_TYPES and str(event.data.get("turn_id")) in ends:
            ends[str(event.data["turn_id"])].append(event)
    for turn_id, found in ends.items():
        if len(found) != 1 or found[0].actor != SYSTEM_ACTOR:
            findings.problems.add(f"kill {kill.number}: turn {turn_id} open at the kill ended as "
                                  f"{[(event.type, event.actor) for event in found]}")
        findings.open_at_kill.update(event.type for event in found)
    if kill.turn_ids and (kill.closed_s is None or kill.closed_s > CLOSE_LIMIT_S):
        findings.problems.add(f"kill {kill.number}: its turns were closed in {kill.closed_s} s, over {CLOSE_LIMIT_S} s")


async def _check_blobs(db: asyncpg.Connection, shown: Shown, findings: Findings) -> int:
    """`credential_blobs` holds the blob of each version the views name; another is one the log never recorded
    (its instance not listed, or its version above the highest the log recorded): how many of those."""
    names = {str(row["name"]) for row in await db.fetch("SELECT name FROM credential_blobs")}
    expected = expected_blobs(shown.instances)
    if expected - names:
        findings.problems.add(f"key blobs missing: {sorted(expected - names)[:5]}")
    highest: dict[str, int] = {}
    for event in shown.events:
        if event.type in KEY_CHANGES:
            instance_id, version = str(event.data["instance_id"]), int(str(event.data["credential_version"]))
            highest[instance_id] = max(version, highest.get(instance_id, 0))
    superseded = []
    kept = 0
    for name in names - expected:
        instance_id, version = name.removesuffix(".cred").rsplit(".v", 1)
        if instance_id in shown.instances and int(version) <= highest.get(instance_id, 0):
            superseded.append(name)
        else:
            kept += 1
    if superseded:
        findings.problems.add(f"key blobs of versions the log superseded or removed: {sorted(superseded)[:5]}")
    return kept
