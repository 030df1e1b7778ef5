"""Connections to the upstreams: the shared client carries as many streams at once as there are turns, and a
turn leaves its connection to the next one.

A load of 200 chat streams found the client at httpx's defaults: 100 connections in all, so turn 101 waited for
another turn's whole answer (or its own timeout) before its request was even sent; and 20 kept alive, so nearly
every turn after a busy moment opened a new connection (for a real provider, a new TLS handshake). And every turn
stopped reading at the protocol's end of the answer, before the end of the HTTP body, so its connection was
closed rather than given back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import anyio
import httpx
import pytest
from litestar.types import ASGIApp

from backend.providers import stream_chat
from backend.services import TURN_CLIENTS, open_services
from backend.settings import Settings
from tests.api.conftest import serving_asgi
from tests.providers.peers import MESSAGES, PROTOCOLS, collect, connection, text_of
from tests.upstreams import Urls
from tests.upstreams.asgi import Receive, Scope, Send
from tests.upstreams.scenario import DEFAULT_REPLY, Scenario
from tests.upstreams.server import UpstreamApp

pytestmark = pytest.mark.anyio
STREAMS = 150
WAIT_S = 10


class Barrier:
    """An upstream that answers no request until `count` requests are open at once (or `WAIT_S` passed: 503).
    It notes the client port of every request, so that reused connections show."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.open = 0
        self.ports: list[int] = []
        self.full: anyio.Event | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        if self.full is None:
            self.full = anyio.Event()
        self.ports.append(scope["client"][1])
        self.open += 1
        if self.open >= self.count:
            self.full.set()
        with anyio.move_on_after(WAIT_S):
            await self.full.wait()
        status = 200 if self.full.is_set() else 503
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"done"})
        self.open -= 1

    def next_wave(self) -> None:
        self.full = None
        self.ports.clear()


def serving(app: ASGIApp) -> AbstractContextManager[str]:
    return serving_asgi(app, log_config=None, lifespan="off")


async def wave(http: httpx.AsyncClient, url: str, arrived: Callable[[], int] | None = None) -> list[int]:
    """`STREAMS` requests held open together; with `arrived` (the requests the upstream has seen), each is sent only
    once the one before it has arrived, as turns begin one after another under load."""
    statuses: list[int] = []

    async def one() -> None:
        async with http.stream("POST", url, timeout=WAIT_S * 2) as response:
            await response.aread()
            statuses.append(response.status_code)

    async with anyio.create_task_group() as group:
        for number in range(STREAMS):
            group.start_soon(one)
            if arrived is not None:
                await until(lambda: arrived() > number)  # noqa: B023 - awaited here
    return statuses


async def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "the upstream did not see the request"
        await anyio.sleep(0.001)


async def test_the_shared_client_holds_every_stream_open_at_once_and_keeps_the_connections(tmp_path: Path) -> None:
    barrier = Barrier(STREAMS)
    with serving(barrier) as base:
        url = f"{base}/chat"
        async with open_services(Settings(data_dir=tmp_path / "data")) as services:
            assert await wave(services.http, url) == [200] * STREAMS  # all open at once: none waited for another
            first = set(barrier.ports)
            barrier.next_wave()
            assert await wave(services.http, url, lambda: len(barrier.ports)) == [200] * STREAMS
            assert set(barrier.ports) <= first  # the second wave went over the connections of the first
            barrier.next_wave()
            assert await wave(services.sessions.clients[0], url) == [200] * STREAMS  # the turns' clients alike


async def test_a_sessions_turns_go_through_one_client_and_sessions_spread_over_all(tmp_path: Path) -> None:
    """httpcore looks through its whole pool (and for each idle connection through it again) at every request's
    start and end: turns are spread over several clients so that no pool holds them all."""
    async with open_services(Settings(data_dir=tmp_path / "data")) as services:
        sessions = services.sessions
        assert len(sessions.clients) == TURN_CLIENTS and services.http not in sessions.clients
        chosen = [sessions.client_for(f"s{number}") for number in range(100)]
        assert {id(client) for client in chosen} == {id(client) for client in sessions.clients}
        assert all(sessions.client_for(f"s{number}") is client for number, client in enumerate(chosen))


class Doorman:
    """The local upstream, noting the client port each request came in from."""

    def __init__(self) -> None:
        self.app = UpstreamApp(Scenario())
        self.ports: list[int] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.ports.append(scope["client"][1])
        await self.app(scope, receive, send)


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_turns_one_after_another_go_over_one_connection(client: httpx.AsyncClient, provider_type: str) -> None:
    doorman = Doorman()
    with serving(doorman) as base:
        for _ in range(3):
            chunks = await collect(stream_chat(client, connection(Urls.at(base), provider_type), "local-small", MESSAGES))
            assert text_of(chunks) == DEFAULT_REPLY
    assert len(doorman.ports) == 3 and len(set(doorman.ports)) == 1
