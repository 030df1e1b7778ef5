"""What the killed-mid-write tests check once a killed server is back, the clients idle: the log (hash chain intact,
positions gap-free up to the head, views equal to their rebuild), every acknowledged write in it, every turn a
client saw start ended, and the API showing what the clients were told. The vault and the turns open at a kill
differ between one server and replicas, and are checked by each test."""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import anyio
import httpx
import msgspec

from tests.reliability.kill_workload import END_TYPES, Client, Ledger
from tests.reliability.live_api import ROOT

PAGE = 500
SYSTEM_ACTOR = "system"  # the actor of what a server writes itself: its start, and the turns it closes as interrupted


class LoggedEvent(msgspec.Struct, frozen=True):
    position: int
    type: str
    actor: str
    request_id: str
    data: dict[str, object]


class EventPage(msgspec.Struct, frozen=True):
    events: list[LoggedEvent]
    next_after: int


@dataclass(frozen=True)
class Shown:
    """What a server answers once it is back: the whole log, the instances by id, the sessions, its health."""

    events: list[LoggedEvent]
    instances: dict[str, dict]
    sessions: list[dict]
    health: dict


@dataclass
class Findings:
    """What the checks after each start found, over the whole run."""

    lost: dict[tuple[str, ...], str] = field(default_factory=dict)
    """Acknowledged writes missing from the log, by their request ids: what they were, and what the log holds."""
    problems: set[str] = field(default_factory=set)  # each told once, however many checks found it
    in_flight: Counter[str] = field(default_factory=Counter)  # how the turns no frame came for were closed
    open_at_kill: Counter[str] = field(default_factory=Counter)  # how the turns open in the log at a kill were closed
    left: Counter[str] = field(default_factory=Counter)  # how the turns their clients went away from were closed
    interrupted: int = 0  # TurnInterrupted events in the log


async def shown_by(base: str, token: str) -> Shown:
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        events = await _all_events(http)
        instances = {item["id"]: item for item in (await http.get("/api/v1/instances")).json()}
        sessions = await _all_sessions(http)
        health = (await http.get("/api/v1/health")).json()
    return Shown(events, instances, sessions, health)


async def check_after_start(
    env: dict[str, str], shown: Shown, clients: list[Client], ledger: Ledger, findings: Findings
) -> None:
    """Everything both tests check once a killed server is back: the log, the acknowledged writes, the turns the
    clients saw start, and what the API shows."""
    await _check_log(env, shown.events, findings)
    if shown.health["status"] != "ok":
        findings.problems.add(f"health: {shown.health}")
    _check_acknowledged(shown.events, ledger, findings)
    _check_client_turns(shown.events, ledger, shown.sessions, findings)
    _check_views_answer(shown.instances, shown.sessions, clients, ledger, findings)


async def _check_log(env: dict[str, str], events: list[LoggedEvent], findings: Findings) -> None:
    """`switchboard verify` finds the chain intact up to a head equal to the number of events, whose positions run
    1, 2, ... without a gap; `switchboard views check` finds every view equal to its rebuild."""
    (verified, verify_said), (_, views_said) = await commands(env, ("verify", "--json"), ("views", "check"))
    findings.problems.update(f"{name}: {said}" for name, said in (("verify", verify_said), ("views check", views_said))
                             if said)
    if not verify_said:
        head = json.loads(verified)["head_position"]
        if head != len(events):
            findings.problems.add(f"verify: head {head}, {len(events)} events in the log")
    gaps = [(before.position, after.position) for before, after in zip(events, events[1:], strict=False)
            if after.position != before.position + 1]
    if gaps or (events and events[0].position != 1):
        findings.problems.add(f"positions not gap-free: {gaps[:5]}, first {events[0].position}")


def _check_acknowledged(events: list[LoggedEvent], ledger: Ledger, findings: Findings) -> None:
    """Each acknowledged write's events are in the log under its request id (or anywhere, for a turn's end another
    replica recorded)."""
    by_request: dict[str, list[LoggedEvent]] = defaultdict(list)
    for event in events:
        by_request[event.request_id].append(event)
    for ack in ledger.acks:
        logged = events if ack.anywhere else [event for request_id in ack.request_ids
                                              for event in by_request.get(request_id, [])]
        if not all(any(need.met_by(event.type, event.data) for event in logged) for need in ack.needs):
            wanted = [sorted(need.types) for need in ack.needs]
            findings.lost[ack.request_ids] = f"{ack.what}, {wanted}: logged {[(event.type, event.data) for event in logged]}"


def _check_client_turns(events: list[LoggedEvent], ledger: Ledger, sessions: list[dict], findings: Findings) -> None:
    """Each turn a client saw start without a `turn` frame has an end in the log; no agent is shown running."""
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
    running = running_agents(sessions)
    if running:
        findings.problems.add(f"agents still shown running after the start: {running[:5]}")


def running_agents(sessions: list[dict]) -> list[tuple[str, str]]:
    return [(session["id"], agent["id"]) for session in sessions for agent in session["agents"]
            if agent["status"] == "running"]


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
    missing = [instance_id for instance_id, item in instances.items() if item.get("key_missing")]
    if missing:
        findings.problems.add(f"instances shown with their key missing: {missing[:5]}")


def expected_blobs(instances: dict[str, dict]) -> set[str]:
    """The vault's blob names the views name: one per instance with a key, of the version shown."""
    return {f"{instance_id}.v{item['credential']['version']}.cred" for instance_id, item in instances.items()
            if item["credential"] is not None}


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


async def commands(env: dict[str, str], *commands: tuple[str, ...]) -> list[tuple[str, str]]:
    """Run `switchboard` commands side by side; for each, its standard output and "" when it exited 0, else what
    it said."""
    said = [("", "")] * len(commands)

    async def run(index: int, arguments: tuple[str, ...]) -> None:
        done = await anyio.run_process(
            [sys.executable, "-m", "backend.cli", *arguments], env=env, cwd=ROOT, check=False
        )
        failed = (done.stdout + done.stderr).decode()[-2000:] if done.returncode != 0 else ""
        said[index] = (done.stdout.decode(), failed)

    async with anyio.create_task_group() as tasks:
        for index, arguments in enumerate(commands):
            tasks.start_soon(run, index, arguments)
    return said
