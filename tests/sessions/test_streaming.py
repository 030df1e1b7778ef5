"""Turns over a real port: cancelling, one turn at a time per agent, a client going away, a server stopping, a
turn another replica closed meanwhile."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
import websockets

from backend.services import open_services
from backend.sessions.leases import LeaseTiming, TurnLeases, sweep
from backend.settings import Settings
from events import Metadata
from tests.api.conftest import free_port, serving
from tests.conftest import api_client
from tests.sessions.conftest import (
    event_types,
    first_agent,
    instance,
    ok,
    send,
    session,
)
from tests.upstreams import UpstreamServer

pytestmark = pytest.mark.anyio
STALL_S = 30.0  # far longer than any test waits: the turn only ends because it is cancelled


async def first_delta(lines: AsyncIterator[str]) -> str:
    """Read the stream up to its first delta event; its text."""
    async for line in lines:
        if line.startswith("data: "):
            text: str = json.loads(line.removeprefix("data: "))["text"]
            return text
    raise AssertionError("the stream ended before its first delta")


async def rest_of(lines: AsyncIterator[str]) -> str:
    return "\n".join([line async for line in lines])


async def stalled_session(http: httpx.AsyncClient, upstream: UpstreamServer) -> tuple[str, str]:
    """A session whose upstream sends the first piece of each answer, then stalls (Gemini's first frame carries
    text; OpenAI's carries only the role)."""
    gemini = await instance(http, upstream, provider_id="gemini", endpoint=upstream.urls.gemini, timeout_ms=60_000)
    created = await session(http, gemini)
    upstream.scenario.behaviour = "stall"
    upstream.scenario.delay_s = STALL_S
    return str(created["id"]), first_agent(created)


async def test_cancel_stops_the_turn_and_keeps_the_partial_text(settings: Settings, upstream: UpstreamServer) -> None:
    with serving(settings) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            session_id, agent_id = await stalled_session(http, upstream)
            url = f"/api/v1/sessions/{session_id}/agents/{agent_id}"
            async with http.stream("POST", f"{url}/messages", json={"text": "hi"}) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                lines = response.aiter_lines()
                piece = await first_delta(lines)
                busy = await http.post(f"{url}/messages", json={"text": "again"})
                assert busy.status_code == 409 and "in progress" in busy.text
                running = ok(await http.get(f"/api/v1/sessions/{session_id}"))["agents"][0]  # type: ignore[index]
                assert running["status"] == "running"
                cancelled = ok(await http.post(f"{url}/cancel"))
                assert (cancelled["outcome"], cancelled["text"]) == ("cancelled", piece)
                ending = await rest_of(lines)
            assert '"outcome":"cancelled"' in ending
            assert (await event_types(http, session_id))[-1] == "TurnCancelled"
            upstream.scenario.behaviour = "ok"
            assert (await send(http, session_id, agent_id, "after")).turn["outcome"] == "completed"


async def test_a_client_going_away_cancels_the_turn(settings: Settings, upstream: UpstreamServer) -> None:
    with serving(settings) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            session_id, agent_id = await stalled_session(http, upstream)
            head = ok(await http.get("/api/v1/events", params={"limit": 1}))["head"]
            async with websockets.connect(base.replace("http", "ws", 1) + f"/api/v1/live?after={head}") as live:
                async with http.stream("POST", f"/api/v1/sessions/{session_id}/agents/{agent_id}/messages", json={"text": "hi"}) as response:
                    await first_delta(response.aiter_lines())
                with anyio.fail_after(10):
                    types = [json.loads(await live.recv())["type"] for _ in range(3)]
            assert types == ["MessageAdded", "TurnStarted", "TurnCancelled"]


async def test_a_turn_another_replica_closed_tells_its_client_its_end_was_not_recorded(
    settings: Settings, upstream: UpstreamServer
) -> None:
    with serving(settings) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            session_id, agent_id = await stalled_session(http, upstream)
            url = f"/api/v1/sessions/{session_id}/agents/{agent_id}"
            async with http.stream("POST", f"{url}/messages", json={"text": "hi"}) as response:
                lines = response.aiter_lines()
                await first_delta(lines)
                async with open_services(settings, serving=False) as other:  # a replica whose clock is past the lease
                    later = TurnLeases(other.store, LeaseTiming(), "other", clock=lambda: time.time() + 60)
                    assert await sweep(later, other.sessions.view, Metadata(actor="system")) == 1
                cancelled = ok(await http.post(f"{url}/cancel"))
                assert cancelled["outcome"] == "interrupted"
                assert "another replica" in str(cancelled["message"])
                ending = await rest_of(lines)
            assert '"outcome":"interrupted"' in ending and "another replica" in ending
            assert (await event_types(http, session_id))[-2:] == ["TurnStarted", "TurnInterrupted"]
            upstream.scenario.behaviour = "ok"
            assert (await send(http, session_id, agent_id, "after")).turn["outcome"] == "completed"


def start_server(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SWITCHBOARD_DATA_DIR": str(settings.data_dir), "SWITCHBOARD_PORT": str(port)}
    return subprocess.Popen([sys.executable, "-m", "backend.cli", "api"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def wait_until_serving(http: httpx.AsyncClient, server: subprocess.Popen[bytes]) -> None:
    with anyio.fail_after(30):
        while True:
            assert server.poll() is None, "the server stopped"
            try:
                if (await http.get("/api/v1/health")).status_code == 200:
                    return
            except httpx.TransportError:
                await anyio.sleep(0.05)  # the server is still starting: nothing to wait on but its port


async def test_a_turn_left_open_by_a_stopped_server_is_interrupted_at_start_up(
    settings: Settings, upstream: UpstreamServer
) -> None:
    port = free_port()
    server = start_server(settings, port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            await wait_until_serving(http, server)
            session_id, agent_id = await stalled_session(http, upstream)
            async with http.stream("POST", f"/api/v1/sessions/{session_id}/agents/{agent_id}/messages", json={"text": "hi"}) as response:
                await first_delta(response.aiter_lines())
                server.send_signal(signal.SIGKILL)
                server.wait(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
    upstream.scenario.behaviour = "ok"
    async with api_client(settings) as client:
        assert (await event_types(client, session_id))[-2:] == ["TurnStarted", "TurnInterrupted"]
        transcript = ok(await client.get(f"/api/v1/sessions/{session_id}/agents/{agent_id}/messages"))
        assert transcript[-1]["turn"]["outcome"] == "interrupted"  # type: ignore[index]
        assert ok(await client.get(f"/api/v1/sessions/{session_id}"))["agents"][0]["status"] == "ready"  # type: ignore[index]
        turn = await send(client, session_id, agent_id, "again")
        assert turn.turn["outcome"] == "completed"
    async with api_client(settings) as client:  # a second start finds nothing left open
        assert (await event_types(client, session_id)).count("TurnInterrupted") == 1
