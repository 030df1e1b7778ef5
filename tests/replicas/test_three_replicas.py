"""Three `switchboard api` processes on one PostgreSQL schema: a change made through one reaches a live feed on
another within a second, a token issued through one works on another, and a turn whose replica is killed is
closed as interrupted by a surviving replica, once (a Stop asked through another replica meanwhile does not stop
it)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
import websockets

from tests.reliability.live_api import LiveApi
from tests.replicas.conftest import LEASE_S, SWEEP_S, running_replicas
from tests.sessions.conftest import first_agent, instance, ok, session
from tests.sessions.test_streaming import first_delta, stalled_session
from tests.upstreams import UpstreamServer

pytestmark = pytest.mark.anyio
FEED_LIMIT_S = 1.0
STOP_WAIT_S = 0.5  # a Stop through B for the turn of a killed A: answered 202 well before A's lease runs out


@pytest.fixture
def replicas(tmp_path: Path, postgres_url: str) -> Iterator[list[LiveApi]]:
    with running_replicas(tmp_path, postgres_url, "abc", SWITCHBOARD_TURN_STOP_WAIT_S=str(STOP_WAIT_S)) as apis:
        yield apis


async def next_of(live: websockets.ClientConnection, wanted: str, limit_s: float) -> dict[str, object]:
    """The next frame of type `wanted` on the feed (others pass), within `limit_s`."""
    with anyio.fail_after(limit_s):
        while True:
            frame: dict[str, object] = json.loads(await live.recv())
            if frame["type"] == wanted:
                return frame


async def reaches_feed(live: websockets.ClientConnection, wanted: str, request: object) -> float:
    """Seconds from sending a request (an awaitable) through one replica to its event on another's feed (a message's
    request is answered once its turn ends, so its time is an upper bound)."""
    started = time.perf_counter()
    await request  # type: ignore[misc]
    await next_of(live, wanted, FEED_LIMIT_S * 5)
    return time.perf_counter() - started


def feed_url(api: LiveApi, after: object) -> str:
    return api.base.replace("http", "ws", 1) + f"/api/v1/live?after={after}"


async def test_three_replicas_share_one_log(replicas: list[LiveApi], upstream: UpstreamServer) -> None:
    a, b, c = replicas
    async with (
        httpx.AsyncClient(base_url=a.base, timeout=10) as via_a,
        httpx.AsyncClient(base_url=b.base, timeout=10) as via_b,
    ):
        head = ok(await via_b.get("/api/v1/events", params={"limit": 1}))["head"]
        async with websockets.connect(feed_url(b, head)) as live:
            times: dict[str, float] = {}
            created: dict[str, object] = {}

            async def create() -> None:
                created.update(ok(await via_a.post("/api/v1/instances", json={"name": "Shared", "provider_id": "openai"}), 201))

            times["instance created on A"] = await reaches_feed(live, "InstanceCreated", create())
            rename = via_a.patch(f"/api/v1/instances/{created['id']}", json={"name": "Renamed"})
            times["instance renamed on A"] = await reaches_feed(live, "InstanceUpdated", rename)
            assert [row["name"] for row in ok(await via_b.get("/api/v1/instances"))] == ["Renamed"]  # type: ignore[index]
            chat = await session(via_a, await instance(via_a, upstream, "Chat"))
            message = via_a.post(f"/api/v1/sessions/{chat['id']}/agents/{first_agent(chat)}/messages", json={"text": "hi"})
            times["session message on A"] = await reaches_feed(live, "MessageAdded", message)
            for what, seconds in times.items():
                print(f"{what} -> B's live feed: {seconds * 1000:.1f} ms")
            assert all(seconds < FEED_LIMIT_S for seconds in times.values()), times

        issued = ok(await via_a.post("/api/v1/tokens", json={"name": "ops", "role": "admin"}), 201)
        bearer = {"authorization": f"Bearer {issued['token']}"}
        assert (await via_b.get("/api/v1/instances")).status_code == 401
        assert (await via_b.get("/api/v1/instances", headers=bearer)).status_code == 200
        via_a.headers.update(bearer)
        via_b.headers.update(bearer)

        session_id, agent_id = await stalled_session(via_a, upstream)
        head = ok(await via_b.get("/api/v1/events", params={"limit": 1}))["head"]
        async with websockets.connect(feed_url(b, head), additional_headers=bearer) as live:
            async with via_a.stream("POST", f"/api/v1/sessions/{session_id}/agents/{agent_id}/messages",
                                    json={"text": "hi"}) as response:
                await first_delta(response.aiter_lines())
                a.kill()
                killed = time.perf_counter()
            stop = await via_b.post(f"/api/v1/sessions/{session_id}/agents/{agent_id}/cancel")
            assert stop.status_code == 202 or stop.json()["outcome"] == "interrupted", stop.text
            await next_of(live, "TurnStarted", 5)
            frame = await next_of(live, "TurnInterrupted", LEASE_S + 4 * SWEEP_S + 5)
            print(f"turn on killed A interrupted by B or C after {time.perf_counter() - killed:.2f} s (lease {LEASE_S} s)")
            assert frame["stream_id"] == f"session-{session_id}"
            await anyio.sleep(3 * SWEEP_S)  # not a wait for anything: the window in which a second end would show
        events = ok(await via_b.get("/api/v1/events", params={"stream": f"session-{session_id}"}))
        listed = events if isinstance(events, list) else events["events"]
        types = [event["type"] for event in listed]  # type: ignore[index, union-attr]
        assert types.count("TurnInterrupted") == 1 and types[-1] == "TurnInterrupted"
        assert "TurnStopRequested" in types and "TurnCancelled" not in types
        agent = ok(await via_b.get(f"/api/v1/sessions/{session_id}"))["agents"][0]  # type: ignore[index]
        assert agent["status"] == "ready"
