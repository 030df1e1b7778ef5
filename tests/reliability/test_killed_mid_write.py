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
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from tests.api.conftest import free_port
from tests.reliability.kill_checks import (
    SYSTEM_ACTOR,
    Findings,
    LoggedEvent,
    check_after_start,
    expected_blobs,
    shown_by,
)
from tests.reliability.kill_workload import END_TYPES, Client, Ledger, Servers
from tests.reliability.live_api import LiveApi, server_environment, switchboard
from tests.upstreams import UpstreamServer

pytestmark = pytest.mark.anyio

KILLS = 10
CLIENTS = 50
KILL_AFTER_S = (0.3, 2.5)
"""How long the clients run before each kill, drawn at random in this range (and how long into a start a kill
while starting comes)."""
STARTUP_KILLS = 0.3
"""The share of restarts killed again while starting, before the one that is checked."""


async def test_acknowledged_writes_survive_the_server_being_killed_mid_write(
    tmp_path: Path, upstream: UpstreamServer, record_property: Callable[[str, object], None]
) -> None:
    seed = int(os.environ.get("SWITCHBOARD_KILL_SEED") or secrets.randbits(32))
    print(f"\nseed {seed}: SWITCHBOARD_KILL_SEED={seed} replays its choices and kill moments")
    rng = random.Random(seed)
    env = server_environment(tmp_path / "data", free_port())
    token = switchboard(env, "token", "create", "kills", "--role", "admin").splitlines()[0].strip()
    api = LiveApi(env, tmp_path / "server.log")
    ledger, findings, servers = Ledger(), Findings(), Servers([api.base])
    clients = [
        Client(n, servers, token, upstream.urls.openai, random.Random(rng.getrandbits(64)), ledger)
        for n in range(CLIENTS)
    ]
    startup_kills = 0
    api.start()
    try:
        for kill in range(1, KILLS + 1):
            delay = rng.uniform(*KILL_AFTER_S)
            await _run_until_killed(api, servers, clients, delay)
            startup_kill = rng.uniform(*KILL_AFTER_S) if rng.random() < STARTUP_KILLS else None
            if startup_kill is not None:
                await _kill_while_starting(api, startup_kill)
                startup_kills += 1
            started = time.monotonic()
            await anyio.to_thread.run_sync(api.start)
            servers.down.clear()
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
        f"seed {seed}: kills {KILLS} under load and {startup_kills} while starting, acknowledged writes "
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
    assert len(findings.lost) == 0, f"seed {seed}: {sorted(findings.lost.items())[:20]}"
    assert set(findings.open_at_kill) == {"TurnInterrupted"}, f"seed {seed}: {dict(findings.open_at_kill)}"
    assert "Traceback" not in api.log.read_text(), f"seed {seed}: see {api.log}"


async def _kill_while_starting(api: LiveApi, delay: float) -> None:
    """Start the server and kill it `delay` seconds later, while it starts up or soon after."""
    api.spawn()
    await anyio.sleep(delay)  # the moment of the kill is the experiment
    api.kill()


async def _run_until_killed(api: LiveApi, servers: Servers, clients: list[Client], delay: float) -> None:
    """Let every client send requests for `delay` seconds, then kill the server under them."""
    async with anyio.create_task_group() as tasks:
        for client in clients:
            tasks.start_soon(client.run)
        await anyio.sleep(delay)  # the moment of the kill is the experiment: nothing waits on it
        servers.down.add(api.base)
        api.kill()


async def _check(api: LiveApi, token: str, clients: list[Client], ledger: Ledger, findings: Findings) -> None:
    """Everything that must hold once the server is back, the clients idle."""
    shown = await shown_by(api.base, token)
    await check_after_start(api.env, shown, clients, ledger, findings)
    problems, findings.open_at_kill = _turns_through_the_log(shown.events)
    findings.problems.update(problems)
    _check_key_files(Path(api.env["SWITCHBOARD_DATA_DIR"]) / "credentials", shown.instances, findings)


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


def _check_key_files(folder: Path, instances: dict[str, dict], findings: Findings) -> None:
    """The vault holds one file per instance with a key, of the version the view names, and nothing else."""
    files = {path.name for path in folder.iterdir()}
    expected = expected_blobs(instances)
    if files != expected:
        findings.problems.add(f"key files orphaned: {sorted(files - expected)[:5]}, "
                                 f"missing: {sorted(expected - files)[:5]}")
