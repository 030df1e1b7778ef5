"""Killed mid-write: `switchboard api` runs as a child process while 50 concurrent clients create instances, set
keys, test connections and send chat turns against the local upstream; it is SIGKILLed at a random moment and
started again, ten times a run. After each start:

- every write a client saw acknowledged (a 2xx) is in the log (lost: must be 0);
- `switchboard verify` finds the hash chain intact and `switchboard views check` finds every view equal to its
  rebuild from the log;
- the vault holds exactly one key file per instance the views say has a key, of the version they name;
- no turn is left open: each turn in flight at the kill was closed (as `TurnInterrupted`, unless its end was
  recorded before the kill), and the API shows what the clients were told.

The seed of the clients' choices and the kill moments is printed; SWITCHBOARD_KILL_SEED=<seed> replays them.
"""

from __future__ import annotations

import os
import random
import secrets
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx
import msgspec
import pytest

from tests.api.conftest import free_port
from tests.reliability.kill_workload import END_TYPES, Client, Ledger
from tests.reliability.live_api import ROOT, LiveApi, server_environment, switchboard
from tests.upstreams import UpstreamServer

pytestmark = pytest.mark.anyio

KILLS = 10
CLIENTS = 50
KILL_AFTER_S = (0.3, 2.5)
"""How long the clients run before each kill, drawn at random in this range (and how long into a start a kill
while starting comes)."""
STARTUP_KILLS = 0.3
"""The share of restarts killed again while starting, before the one that is checked."""
PAGE = 500


SYSTEM_ACTOR = "system"  # the actor of what a start writes itself, its TurnInterrupted events among them


class LoggedEvent(msgspec.Struct, frozen=True):
    position: int
    type: str
    actor: str
    request_id: str
    data: dict[str, object]


class EventPage(msgspec.Struct, frozen=True):
    events: list[LoggedEvent]
    next_after: int


@dataclass
class Findings:
    """What the checks after each start found, over the whole run."""

    lost: set[tuple[str, ...]] = field(default_factory=set)  # request ids of acknowledged writes missing from the log
    problems: set[str] = field(default_factory=set)  # each told once, however many checks found it
    in_flight: Counter[str] = field(default_factory=Counter)  # how the turns no frame came for were closed
    open_at_kill: Counter[str] = field(default_factory=Counter)  # how the turns open in the log at a kill were closed
    left: Counter[str] = field(default_factory=Counter)  # how the turns their clients went away from were closed
    interrupted: int = 0  # TurnInterrupted events written by the starts
    startup_kills: int = 0


async def test_acknowledged_writes_survive_the_server_being_killed_mid_write(
    tmp_path: Path, upstream: UpstreamServer, record_property: Callable[[str, object], None]
) -> None:
    seed = int(os.environ.get("SWITCHBOARD_KILL_SEED") or secrets.randbits(32))
    print(f"\nseed {seed}: SWITCHBOARD_KILL_SEED={seed} replays its choices and kill moments")
    rng = random.Random(seed)
    env = server_environment(tmp_path / "data", free_port())
    token = switchboard(env, "token", "create", "kills", "--role", "admin").splitlines()[0].strip()
    api = LiveApi(env, tmp_path / "server.log")
    ledger, findings = Ledger(), Findings()
    clients = [
        Client(n, api.base, token, upstream.urls.openai, random.Random(rng.getrandbits(64)), ledger)
        for n in range(CLIENTS)
    ]
    api.start()
    try:
        for kill in range(1, KILLS + 1):
            delay = rng.uniform(*KILL_AFTER_S)
            await _run_until_killed(api, clients, delay)
            startup_kill = rng.uniform(*KILL_AFTER_S) if rng.random() < STARTUP_KILLS else None
            if startup_kill is not None:
                await _kill_while_starting(api, startup_kill)
                findings.startup_kills += 1
            started = time.monotonic()
            await anyio.to_thread.run_sync(api.start)
            restart_s = time.monotonic() - started
            await _check(api, token, clients, ledger, findings)
            check_s = time.monotonic() - started - restart_s
            during_start = "" if startup_kill is None else f", then {startup_kill:.2f} s into its start"
            print(f"kill {kill} after {delay:.2f} s{during_start}: restarted in {restart_s:.1f} s, checked in "
                  f"{check_s:.1f} s; "
                  f"{len(ledger.acks)} acknowledged writes so far, {len(findings.lost)} lost, "
                  f"{len(findings.problems)} problems")
    finally:
        api.stop()
    kinds = Counter(ack.what for ack in ledger.acks)
    summary = (
        f"seed {seed}: kills {KILLS} under load and {findings.startup_kills} while starting, acknowledged writes "
        f"{len(ledger.acks)}, lost {len(findings.lost)}\n"
        f"  acknowledged: {dict(kinds)}; requests cut off {ledger.unanswered}, refused {dict(ledger.refused)}\n"
        f"  turns started {len(ledger.turns)}; open in the log at a kill: closed as {dict(findings.open_at_kill)}; "
        f"without a frame: closed as {dict(findings.in_flight)}; the client gone: closed as {dict(findings.left)}; "
        f"TurnInterrupted written {findings.interrupted}"
    )
    print(summary)
    record_property("summary", summary)  # shown at the end of a run that captures output (tests/reliability/conftest.py)
    assert not ledger.faults, f"seed {seed}: {ledger.faults[:10]}"
    assert not findings.problems, f"seed {seed}: {sorted(findings.problems)[:20]}"
    assert len(findings.lost) == 0, f"seed {seed}: {sorted(findings.lost)[:20]}"
    assert set(findings.open_at_kill) == {"TurnInterrupted"}, f"seed {seed}: {dict(findings.open_at_kill)}"
    assert "Traceback" not in api.log.read_text(), f"seed {seed}: see {api.log}"


async def _kill_while_starting(api: LiveApi, delay: float) -> None:
    """Start the server and kill it `delay` seconds later, while it starts up or soon after."""
    api.spawn()
    await anyio.sleep(delay)  # the moment of the kill is the experiment
    api.kill()


async def _run_until_killed(api: LiveApi, clients: list[Client], delay: float) -> None:
    """Let every client send requests for `delay` seconds, then kill the server under them."""
    killed = anyio.Event()
    async with anyio.create_task_group() as tasks:
        for client in clients:
            tasks.start_soon(client.run, killed)
        await anyio.sleep(delay)  # the moment of the kill is the experiment: nothing waits on it
        killed.set()
        api.kill()


async def _check(api: LiveApi, token: str, clients: list[Client], ledger: Ledger, findings: Findings) -> None:
    """Everything that must hold once the server is back, the clients idle."""
    async with httpx.AsyncClient(base_url=api.base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        events = await _all_events(http)
        instances = {item["id"]: item for item in (await http.get("/api/v1/instances")).json()}
        sessions = await _all_sessions(http)
        health = (await http.get("/api/v1/health")).json()
    verified, views = await _commands(api.env, ("verify",), ("views", "check"))
    findings.problems.update(f"{name}: {output}" for name, output in (("verify", verified), ("views check", views)) if output)
    if health["status"] != "ok":
        findings.problems.add(f"health: {health}")
    _check_acknowledged(events, ledger, findings)
    _check_turns(events, ledger, sessions, findings)
    _check_views_answer(instances, sessions, clients, ledger, findings)
    _check_key_files(Path(api.env["SWITCHBOARD_DATA_DIR"]) / "credentials", instances, findings)


def _check_acknowledged(events: list[LoggedEvent], ledger: Ledger, findings: Findings) -> None:
    """Each acknowledged write's events are in the log under its request id."""
    by_request: dict[str, list[LoggedEvent]] = defaultdict(list)
    for event in events:
        by_request[event.request_id].append(event)
    for ack in ledger.acks:
        logged = [event for request_id in ack.request_ids for event in by_request.get(request_id, [])]
        if not all(any(need.met_by(event.type, event.data) for event in logged) for need in ack.needs):
            findings.lost.add(ack.request_ids)


def _check_turns(events: list[LoggedEvent], ledger: Ledger, sessions: list[dict], findings: Findings) -> None:
    """No turn is open in the log or the views; each turn in flight at a kill has an end in the log."""
    problems, findings.open_at_kill = _turns_through_the_log(events)
    findings.problems.update(problems)
    started = {str(event.data["turn_id"]): event.request_id for event in events if event.type == "TurnStarted"}
    ends = {str(event.data["turn_id"]): event.type for event in events if event.type in END_TYPES}
    findings.interrupted = sum(1 for event in events if event.type == "TurnInterrupted")
    turn_of = {request_id: turn_id for turn_id, request_id in started.items()}
    for turn in ledger.turns:
        if turn.outcome is not None or turn.closed_as is not None:
            continue
        turn_id = turn_of.get(turn.request_id)
        if turn_id is None or turn_id not in ends:
            findings.problems.add(f"turn of request {turn.request_id} has no end in the log, and no frame came")
            continue
        turn.closed_as = ends[turn_id]
        (findings.left if turn.left else findings.in_flight)[turn.closed_as] += 1
    running = [(session["id"], agent["id"]) for session in sessions for agent in session["agents"]
               if agent["status"] == "running"]
    if running:
        findings.problems.add(f"agents still shown running after the start: {running[:5]}")


def _turns_through_the_log(events: list[LoggedEvent]) -> tuple[list[str], Counter[str]]:
    """Along the log, each turn ends once after it started; when a server starts, the turns left open by the
    one killed before it have all just been closed as TurnInterrupted; none is open at the log's end.

    Also how the turns open in the log at each kill were closed: a start's own events (by the system actor)
    come after everything the killed server wrote, so the turns open when they begin were open at the kill.
    A turn whose end the killed server wrote was not open at the kill, whatever its client saw."""
    problems: list[str] = []
    open_turns: dict[str, int] = {}
    open_at_kill: set[str] = set()
    closed: Counter[str] = Counter()
    starting = False
    for event in events:
        turn_id = str(event.data.get("turn_id"))
        if event.actor == SYSTEM_ACTOR and not starting:
            open_at_kill = set(open_turns)
        starting = event.actor == SYSTEM_ACTOR
        if event.type == "TurnStarted":
            open_turns[turn_id] = event.position
        elif event.type in END_TYPES and open_turns.pop(turn_id, None) is None:
            problems.append(f"{event.type} at position {event.position} ends turn {turn_id}, which was not open")
        elif event.type == "ServiceStarted" and open_turns:
            problems.append(f"turns open when the server started at position {event.position}: {sorted(open_turns)[:5]}")
        if event.type in END_TYPES and turn_id in open_at_kill:
            open_at_kill.discard(turn_id)
            closed[event.type] += 1
    if open_turns:
        problems.append(f"turns left open in the log: {sorted(open_turns)[:5]}")
    return problems, closed


def _check_views_answer(
    instances: dict[str, dict], sessions: list[dict], clients: list[Client], ledger: Ledger, findings: Findings
) -> None:
    """The API shows every acknowledged instance (its key at the acknowledged version, or a later one when a change
    went unanswered) and session, and no instance whose delete was acknowledged."""
    for owned in [owned for client in clients for owned in client.instances if not owned.deleting]:
        shown = instances.get(owned.id)
        if shown is None:
            findings.problems.add(f"instance {owned.id} ({owned.name}) is not listed")
            continue
        version = (shown["credential"] or {}).get("version", 0)
        if version < owned.key_version or (owned.key is not None and version != owned.key_version):
            findings.problems.add(f"instance {owned.id} shows key version {version}, acknowledged {owned.key_version}")
    findings.problems.update(f"deleted instance {gone} is still listed" for gone in ledger.deleted if gone in instances)
    shown_sessions = {session["id"] for session in sessions}
    findings.problems.update(f"session {chat.session_id} is not listed" for client in clients for chat in client.chats
                             if chat.session_id not in shown_sessions)


def _check_key_files(folder: Path, instances: dict[str, dict], findings: Findings) -> None:
    """The vault holds one file per instance with a key, of the version the view names, and nothing else."""
    files = {path.name for path in folder.iterdir()}
    expected = {f"{instance_id}.v{item['credential']['version']}.cred" for instance_id, item in instances.items()
                if item["credential"] is not None}
    if files != expected:
        findings.problems.add(f"key files orphaned: {sorted(files - expected)[:5]}, "
                                 f"missing: {sorted(expected - files)[:5]}")
    missing = [instance_id for instance_id, item in instances.items() if item.get("key_missing")]
    if missing:
        findings.problems.add(f"instances shown with their key missing: {missing[:5]}")


async def _all_events(http: httpx.AsyncClient) -> list[LoggedEvent]:
    events: list[LoggedEvent] = []
    after = 0
    while True:
        answer = await http.get("/api/v1/events", params={"after": after, "limit": PAGE})
        page = msgspec.json.decode(answer.content, type=EventPage)
        if not page.events:
            return events
        events += page.events
        after = page.next_after


async def _all_sessions(http: httpx.AsyncClient) -> list[dict]:
    sessions: list[dict] = []
    while page := (await http.get("/api/v1/sessions", params={"limit": PAGE, "offset": len(sessions)})).json():
        sessions += page
    return sessions


async def _commands(env: dict[str, str], *commands: tuple[str, ...]) -> list[str]:
    """Run `switchboard` commands side by side; for each, "" when it exited 0, else what it said."""
    said = [""] * len(commands)

    async def run(index: int, arguments: tuple[str, ...]) -> None:
        done = await anyio.run_process(
            [sys.executable, "-m", "backend.cli", *arguments], env=env, cwd=ROOT, check=False
        )
        if done.returncode != 0:
            said[index] = (done.stdout + done.stderr).decode()[-2000:]

    async with anyio.create_task_group() as tasks:
        for index, arguments in enumerate(commands):
            tasks.start_soon(run, index, arguments)
    return said

