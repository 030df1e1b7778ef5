"""Providers misbehaving: every fault, on every chat protocol, for a connection test and for a chat turn.

One test per cell, through the service's own API on a real app with the local upstreams. Each cell checks the
outcome class, that it is recorded (the event in the log and the view the pages read), how many requests the
upstream saw (retries only where allowed, never after the first token; retry-after honoured as seconds and as
an HTTP date), and the text kept after a fault mid-stream. The last tests show that each outcome has words on
the pages and that the matrix leaves no task, connection or memory behind.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import tracemalloc
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from pathlib import Path
from typing import Literal, NamedTuple, get_args
from uuid import uuid4

import anyio
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from litestar.types import ASGIApp, Receive, Scope, Send

from backend.providers.contract import Outcome
from backend.providers.transport import MAX_RETRY_AFTER_S
from backend.services import SYSTEM, TURN_CLIENTS, Services
from backend.sessions.schemas import SendMessage
from backend.sessions.turns import start_turn
from backend.settings import Settings
from tests.conftest import api_client
from tests.sessions.conftest import first_agent, ok, send, session
from tests.upstreams import Behaviour, UpstreamServer, Urls, reply_pieces
from tests.upstreams.fixtures import refused_urls, upstream, upstream_server
from tests.upstreams.scenario import DEFAULT_KEY, DEFAULT_REPLY

__all__ = ["refused_urls", "upstream", "upstream_server"]

pytestmark = pytest.mark.anyio

Client = AsyncTestClient[Litestar]
Kind = Literal["connection_test", "chat_turn"]
PROVIDERS = ("openai", "anthropic", "gemini", "azure", "ollama")  # one catalog provider per chat protocol
POLICY = {"timeout_ms": 1500, "max_attempts": 2, "backoff_ms": 10}  # every cell's instance: room for a loaded machine
STALL_S = 3 * POLICY["timeout_ms"] / 1000  # a stall lasts well beyond the timeout
PIECES = 2  # text pieces streamed before a fault "after the first token"
CELL_DEADLINE_S = 30  # a request of a cell that takes longer hangs: the product never ended it


class Fault(NamedTuple):
    behaviour: Behaviour | Literal["refused"]
    outcome: Outcome
    status: int | None  # the HTTP status recorded with the outcome
    retried: bool  # sent again up to max_attempts, or only once
    pieces: int = 0  # text pieces streamed before the fault (chat turns)
    scenario: dict[str, object] = {}


def _statuses() -> dict[str, Fault]:
    """The error answers, for both kinds: the class decides the retry."""
    return {
        "401": Fault("unauthorized", "auth_failed", 401, retried=False),
        "403": Fault("forbidden", "auth_failed", 403, retried=False),
        "404": Fault("not_found", "not_found", 404, retried=False),
        "408": Fault("request_timeout", "timeout", 408, retried=True),
        "413": Fault("too_large", "bad_response", 413, retried=False),
        "429-retry-after-seconds": Fault("rate_limited", "rate_limited", 429, True, scenario={"retry_after_s": 0.2}),
        "429-retry-after-http-date": Fault(
            "rate_limited", "rate_limited", 429, True, scenario={"retry_after_as": "http_date", "retry_after_s": 0.05}
        ),
        "429-retry-after-http-date-without-zone": Fault(
            "rate_limited", "rate_limited", 429, True, scenario={"retry_after_as": "http_date_no_zone", "retry_after_s": 0.05}
        ),
        "429-no-retry-after": Fault("rate_limited", "rate_limited", 429, True, scenario={"retry_after_as": "absent"}),
        "429-retry-after-beyond-the-cap": Fault(
            "rate_limited", "rate_limited", 429, False, scenario={"retry_after_s": MAX_RETRY_AFTER_S + 1}
        ),
        "500": Fault("server_error", "server_error", 500, retried=True),
        "502": Fault("bad_gateway", "server_error", 502, retried=True),
        "503": Fault("unavailable", "server_error", 503, retried=True),
        "529-overloaded": Fault("overloaded", "server_error", 529, retried=True),
        "connection-refused": Fault("refused", "unreachable", None, retried=True),
        "reset-before-any-answer": Fault("hang_up", "bad_response", None, retried=True),
        "stall-before-the-first-byte": Fault("slow", "timeout", None, retried=True),
        "corrupt-gzip-body": Fault("corrupt_gzip", "bad_response", 200, retried=False),
    }


CONNECTION_TEST_FAULTS: dict[str, Fault] = {
    **_statuses(),
    "reset-mid-body": Fault("reset", "bad_response", 200, retried=True),
    "closed-mid-body": Fault("broken_stream", "bad_response", 200, retried=True),
    "stall-mid-body": Fault("stall", "timeout", None, retried=True),
    "malformed-body": Fault("malformed", "bad_response", 200, retried=False),
    "error-object-in-a-200": Fault("stream_error", "server_error", 200, retried=True),
    "body-never-ends": Fault("never_ends", "timeout", None, retried=True),
}
CHAT_TURN_FAULTS: dict[str, Fault] = {
    **_statuses(),
    "reset-before-the-first-token": Fault("reset", "bad_response", 200, retried=True),
    "reset-after-the-first-token": Fault("reset", "bad_response", 200, retried=False, pieces=PIECES),
    "closed-before-the-first-token": Fault("broken_stream", "bad_response", 200, retried=True),
    "closed-after-the-first-token": Fault("broken_stream", "bad_response", 200, retried=False, pieces=PIECES),
    "stall-before-the-first-token": Fault("stall", "timeout", 200, retried=True),
    "stall-after-the-first-token": Fault("stall", "timeout", 200, retried=False, pieces=PIECES),
    "malformed-before-the-first-token": Fault("malformed", "bad_response", 200, retried=False),
    "malformed-after-the-first-token": Fault("malformed", "bad_response", 200, retried=False, pieces=PIECES),
    "error-in-the-stream-before-the-first-token": Fault("stream_error", "server_error", 200, retried=True),
    "error-in-the-stream-after-the-first-token": Fault("stream_error", "server_error", 200, False, pieces=PIECES),
    "never-ends-before-the-first-token": Fault("never_ends", "timeout", 200, retried=True),
    "never-ends-after-the-first-token": Fault("never_ends", "timeout", 200, retried=False, pieces=PIECES),
}
FAULTS: dict[Kind, dict[str, Fault]] = {"connection_test": CONNECTION_TEST_FAULTS, "chat_turn": CHAT_TURN_FAULTS}
CELLS = [
    pytest.param(kind, provider, name, id=f"{kind}-{provider}-{name}")
    for kind, faults in FAULTS.items()
    for provider in PROVIDERS
    for name in faults
]


class App(NamedTuple):
    """The one app the whole matrix runs on, the model each provider's chats ask for, and its state before."""

    client: Client
    services: Services
    models: dict[str, str]
    tasks_before: int


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def app(tmp_path_factory: pytest.TempPathFactory, upstream_server: UpstreamServer) -> AsyncIterator[App]:
    """The app, with a custom Ollama provider (the seed ships none), warmed by one good test and turn per protocol."""
    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("faults")) / "data")
    async with api_client(settings) as client:
        services: Services = client.app.state.services
        client.app = bounded(client.app)  # type: ignore[assignment]
        templates = ok(await client.get("/api/v1/catalog/templates"))["templates"]
        draft = next(template["provider"] for template in templates if template["id"] == "ollama")  # type: ignore[union-attr]
        ollama = await client.put("/api/v1/catalog/custom/ollama", json={**draft, "api_endpoint": upstream_server.urls.ollama})
        assert ollama.status_code == 201, ollama.text
        models = {provider: await _catalog_model(client, provider) for provider in PROVIDERS}
        for provider in PROVIDERS:
            upstream_server.scenario.reset()
            urls = upstream_server.urls
            tested = await _play(client, upstream_server, urls, models, Cell("connection_test", provider, GOOD))
            answered = await _play(client, upstream_server, urls, models, Cell("chat_turn", provider, GOOD))
            assert (tested.record["outcome"], answered.record["outcome"]) == ("ok", "completed")
        upstream_server.scenario.reset()
        yield App(client, services, models, app_tasks(client))


async def _catalog_model(client: Client, provider: str) -> str:
    if provider == "ollama":
        return "llama3.2"
    models = ok(await client.get(f"/api/v1/catalog/providers/{provider}"))["models"]
    assert isinstance(models, list)
    return str(models[0]["id"])


class Cell(NamedTuple):
    kind: Kind
    provider: str
    fault: Fault


GOOD = Fault("ok", "ok", 200, retried=False)


class Played(NamedTuple):
    """What a cell answered: the record the API gave back, the event in the log, and the view the pages read."""

    record: dict[str, object]
    event: dict[str, object]
    shown: dict[str, object]
    text: str  # chat turns: the text streamed to the client


class Target(NamedTuple):
    """Where a cell is played: an instance on the upstream (or on a refused origin) and, for a turn, its session."""

    kind: Kind
    instance_id: str
    chat: dict[str, object] | None


async def _target(client: Client, urls: Urls, kind: Kind, provider: str, model: str) -> Target:
    body = {
        "name": f"{kind} {provider} {uuid4().hex[:8]}",
        "provider_id": provider,
        "endpoint": getattr(urls, provider),
        **POLICY,
    }
    if provider != "ollama":
        body["api_key"] = DEFAULT_KEY
    created = await client.post("/api/v1/instances", json=body)
    assert created.status_code == 201, created.text
    instance_id = str(created.json()["id"])
    return Target(kind, instance_id, await session(client, instance_id, model) if kind == "chat_turn" else None)


async def _play(client: Client, upstream: UpstreamServer, urls: Urls, models: dict[str, str], cell: Cell) -> Played:
    """Set up a target for the cell on `urls`, then play it."""
    kind, provider, fault = cell
    target = await _target(client, urls, kind, provider, models[provider])
    return await _replay(client, upstream, models[provider], target, fault)


def urls_for(fault: Fault, upstream: UpstreamServer, refused: Urls) -> Urls:
    return refused if fault.behaviour == "refused" else upstream.urls


async def _replay(client: Client, upstream: UpstreamServer, model: str, target: Target, fault: Fault) -> Played:
    """Set the fault and run the connection test or the turn, on a fresh record of requests."""
    upstream.scenario.models = [model]
    upstream.scenario.requests.clear()
    _set_fault(upstream, fault)
    if target.chat is None:
        return await _connection_test(client, target.instance_id)
    return await _chat_turn(client, target.chat)


def _set_fault(upstream: UpstreamServer, fault: Fault) -> None:
    scenario = upstream.scenario
    scenario.behaviour = "ok" if fault.behaviour == "refused" else fault.behaviour
    scenario.pieces_before_fault = fault.pieces
    scenario.delay_s = STALL_S
    scenario.keepalive_s = 0.05  # a body that never ends keeps coming well within the timeout
    for field, value in fault.scenario.items():
        setattr(scenario, field, value)


async def _connection_test(client: Client, instance_id: str) -> Played:
    record = ok(await client.post(f"/api/v1/instances/{instance_id}/test"))["last_test"]
    history = ok(await client.get(f"/api/v1/instances/{instance_id}/history"))
    assert isinstance(history, list) and isinstance(record, dict)
    tested = [event for event in history if event["type"] == "ConnectionTested"]
    shown = ok(await client.get(f"/api/v1/instances/{instance_id}"))["last_test"]
    assert isinstance(shown, dict)
    return Played(record, tested[-1]["data"], shown, "")


async def _chat_turn(client: Client, chat: dict[str, object]) -> Played:
    session_id, agent_id = chat["id"], first_agent(chat)
    turn = await send(client, session_id, agent_id, "Say hello to the tests")
    events = ok(await client.get("/api/v1/events", params={"stream": f"session-{session_id}"}))["events"]
    transcript = ok(await client.get(f"/api/v1/sessions/{session_id}/agents/{agent_id}/messages"))
    assert isinstance(events, list) and isinstance(transcript, list)
    shown = transcript[-1]["turn"]
    return Played(turn.turn, events[-1], shown, "".join(turn.deltas))


def bounded(app: Litestar) -> ASGIApp:
    """The app with a deadline on every request, kept on the app's own loop (the in-process client blocks the
    test's thread while the app runs): a request the product never ends is cancelled there, its turn with it,
    and fails the cell instead of running on behind it."""

    async def call(scope: Scope, receive: Receive, send: Send) -> None:
        with anyio.fail_after(CELL_DEADLINE_S):
            await app(scope, receive, send)

    return call


def app_tasks(client: Client) -> int:
    """How many tasks the app's event loop has (the in-process client runs the app on a loop of its own)."""

    async def count() -> int:
        return len(asyncio.all_tasks())

    return client.blocking_portal.call(count)


def expected_requests(fault: Fault) -> int:
    if fault.behaviour == "refused":
        return 0  # nothing reaches the upstream
    return POLICY["max_attempts"] if fault.retried else 1


def check_waits(upstream: UpstreamServer, fault: Fault) -> None:
    """A retried 429 waited as long as it was told: seconds, up to an HTTP date, or the back-off without one."""
    if fault.behaviour != "rate_limited" or not fault.retried:
        return
    first, second = (request.received_at for request in upstream.scenario.requests)
    scenario = upstream.scenario
    if scenario.retry_after_as in ("http_date", "http_date_no_zone"):
        assert second >= math.ceil(first + scenario.retry_after_s) - 0.005  # the date is a whole second
    elif scenario.retry_after_as == "seconds":
        assert second - first >= scenario.retry_after_s
    else:
        assert second - first >= POLICY["backoff_ms"] / 1000


@pytest.mark.parametrize(("kind", "provider", "name"), CELLS)
async def test_fault(app: App, upstream: UpstreamServer, refused_urls: Urls, kind: Kind, provider: str, name: str) -> None:
    fault = FAULTS[kind][name]
    played = await _play(app.client, upstream, urls_for(fault, upstream, refused_urls), app.models, Cell(kind, provider, fault))
    assert len(upstream.scenario.requests) == expected_requests(fault)
    check_waits(upstream, fault)
    if kind == "connection_test":
        assert (played.record["outcome"], played.record["http_status"]) == (fault.outcome, fault.status)
        assert played.record["message"] and played.record["model_count"] == 0
        assert (played.event["outcome"], played.event["http_status"]) == (fault.outcome, fault.status)
        assert played.shown == played.record
        return
    kept = "".join(reply_pieces(DEFAULT_REPLY)[: fault.pieces])
    turn = played.record
    assert (turn["outcome"], turn["error_outcome"]) == ("failed", fault.outcome)
    assert turn["message"]
    assert turn["attempts"] == (expected_requests(fault) or POLICY["max_attempts"])
    assert turn["text"] == played.text == kept  # a retried attempt leaves nothing; a fault mid-stream keeps the text
    assert (turn["ttft_ms"] is None) == (not kept)
    assert played.event["type"] == "TurnFailed"
    event = played.event["data"]
    assert isinstance(event, dict)
    assert (event["error_outcome"], event["http_status"], event["text"]) == (fault.outcome, fault.status, kept)
    assert played.shown == turn


def test_every_outcome_the_matrix_ends_in_has_words_on_the_pages() -> None:
    from frontend.words import WORDS

    ended_in = {fault.outcome for faults in FAULTS.values() for fault in faults.values()}
    assert ended_in <= set(get_args(Outcome))
    for code in (*get_args(Outcome), "failed"):
        words, colour = WORDS[code]
        assert words and words != code and colour


MEMORY_ROUNDS = 3
MEMORY_GROWTH_BYTES = 64 * 1024  # over two rounds of every OpenAI cell: a stream or task left behind a cell is more


async def test_the_matrix_leaves_no_task_connection_or_memory_behind(app: App, refused_urls: Urls) -> None:
    """After the matrix, and three more rounds of every OpenAI cell on the same instances and sessions (measured
    for memory, with logging off: pytest keeps every log record): the app's loop has the tasks it had before,
    and the only connections open to the upstream are at most one idle one per client (the turns' and the shared
    one). The rounds play on an upstream of their own, so no connection another test left to the shared one counts."""
    with UpstreamServer() as upstream:
        targets = {
            (kind, name): await _target(app.client, urls_for(fault, upstream, refused_urls), kind, "openai", app.models["openai"])
            for kind, faults in FAULTS.items()
            for name, fault in faults.items()
        }
        sizes = []
        logging.disable(logging.CRITICAL)
        tracemalloc.start()
        try:
            for _ in range(MEMORY_ROUNDS):
                for (kind, name), target in targets.items():
                    upstream.scenario.reset()
                    await _replay(app.client, upstream, app.models["openai"], target, FAULTS[kind][name])
                gc.collect()
                sizes.append(tracemalloc.get_traced_memory()[0])
        finally:
            tracemalloc.stop()
            logging.disable(logging.NOTSET)
        upstream.scenario.reset()
        assert sizes[-1] - sizes[0] < MEMORY_GROWTH_BYTES, sizes
        await eventually(lambda: app_tasks(app.client) == app.tasks_before)

        def only_an_idle_connection_left() -> bool:
            open_now, client_side = upstream.open_connections(), client_sockets(upstream.port)
            # Each of the app's clients may keep one idle connection for its next request; the upstream may have
            # closed one meanwhile (CLOSE_WAIT until its pool looks at it again). More would be sockets no pool holds.
            return (
                open_now <= 1 + TURN_CLIENTS
                and client_side.get("ESTABLISHED", 0) == open_now
                and set(client_side) <= {"ESTABLISHED", "CLOSE_WAIT"}
                and sum(client_side.values()) <= 1 + TURN_CLIENTS
            )

        await eventually(
            only_an_idle_connection_left,
            lambda: f"{upstream.open_connections()} open at the upstream, client sockets {client_sockets(upstream.port)}",
        )
        assert app.client.blocking_portal.call(connections_in_use, app.services) == 0


async def test_a_client_that_goes_away_mid_stream_leaves_no_connection_in_use(app: App, upstream: UpstreamServer) -> None:
    """The client of a turn goes away after the first text of an answer that never ends: the turn is recorded as
    cancelled and the service's connection pool holds no connection still serving it."""
    model = app.models["openai"]
    target = await _target(app.client, upstream.urls, "chat_turn", "openai", model)
    assert target.chat is not None
    session_id, agent_id = str(target.chat["id"]), str(first_agent(target.chat))
    upstream.scenario.models = [model]
    _set_fault(upstream, Fault("never_ends", "timeout", 200, retried=False, pieces=PIECES))
    sessions = app.services.sessions

    async def leave_mid_stream() -> bytes:
        body = await start_turn(sessions, session_id, agent_id, SendMessage(text="Say hello to the tests"), SYSTEM)
        running = sessions.running[(session_id, agent_id)]
        async with aclosing(body):
            first = await anext(body)
        with anyio.fail_after(CELL_DEADLINE_S):
            await running.ended.wait()
        return first

    first = app.client.blocking_portal.call(leave_mid_stream)
    assert first.startswith(b"event: delta")
    events = ok(await app.client.get("/api/v1/events", params={"stream": f"session-{session_id}"}))["events"]
    assert isinstance(events, list) and events[-1]["type"] == "TurnCancelled"
    assert app.client.blocking_portal.call(connections_in_use, app.services) == 0


async def connections_in_use(services: Services) -> int:
    """Connections of the service's pools (the shared client's and the turns') neither idle nor closed: each still
    serves a response no one closed."""
    pools = [client._transport._pool for client in (services.http, *services.sessions.clients)]  # type: ignore[attr-defined]
    return sum(not (connection.is_idle() or connection.is_closed()) for pool in pools for connection in pool.connections)


async def eventually(condition: Callable[[], bool], explain: Callable[[], str] = str, seconds: float = 10) -> None:
    """Wait until `condition` holds, failing after `seconds`: the app's loop and the upstream run in threads of
    their own and finish closing in their own time."""
    with anyio.move_on_after(seconds):
        while not condition():
            await anyio.sleep(0.02)
    assert condition(), explain()


TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "04": "FIN_WAIT1", "05": "FIN_WAIT2", "08": "CLOSE_WAIT", "09": "LAST_ACK"}


def client_sockets(port: int) -> dict[str, int]:
    """The TCP sockets to `port` in this network namespace (/proc/self/net lists the namespace's, not only this
    process's) by state, TIME_WAIT and CLOSE left out (no longer anyone's)."""
    counts: dict[str, int] = {}
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        lines = Path(table).read_text().splitlines()[1:] if Path(table).exists() else []
        for line in lines:
            fields = line.split()
            remote_port, state = int(fields[2].rsplit(":", 1)[1], 16), fields[3]
            if remote_port == port and state in TCP_STATES:
                counts[TCP_STATES[state]] = counts.get(TCP_STATES[state], 0) + 1
    return counts
