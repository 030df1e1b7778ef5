"""Two `switchboard api` processes on one PostgreSQL schema: a Stop sent to B for a turn streaming through A ends the
turn on A as `TurnCancelled` with the text streamed so far, once, and B answers with that record. The request is
recorded as the caller's, the end as the turn's own."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.reliability.live_api import LiveApi
from tests.replicas.conftest import running_replicas
from tests.sessions.conftest import ok
from tests.sessions.test_streaming import first_delta, rest_of, stalled_session
from tests.upstreams import UpstreamServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def two_replicas(tmp_path: Path, postgres_url: str) -> Iterator[list[LiveApi]]:
    with running_replicas(tmp_path, postgres_url, "ab") as apis:
        yield apis


async def token(client: httpx.AsyncClient, name: str, role: str) -> dict[str, str]:
    issued = ok(await client.post("/api/v1/tokens", json={"name": name, "role": role}), 201)
    return {"authorization": f"Bearer {issued['token']}"}


async def test_a_stop_through_b_cancels_the_turn_streaming_through_a_once(
    two_replicas: list[LiveApi], upstream: UpstreamServer
) -> None:
    a, b = two_replicas
    async with (
        httpx.AsyncClient(base_url=a.base, timeout=10) as via_a,
        httpx.AsyncClient(base_url=b.base, timeout=10) as via_b,
    ):
        via_a.headers.update(await token(via_a, "starter", "admin"))
        via_b.headers.update(await token(via_a, "stopper", "operator"))
        session_id, agent_id = await stalled_session(via_a, upstream)
        url = f"/api/v1/sessions/{session_id}/agents/{agent_id}"
        async with via_a.stream("POST", f"{url}/messages", json={"text": "hi"}) as response:
            lines = response.aiter_lines()
            piece = await first_delta(lines)
            asked = time.perf_counter()
            stopped = ok(await via_b.post(f"{url}/cancel"))
            print(f"stop through B answered with the end recorded on A after {(time.perf_counter() - asked) * 1000:.1f} ms")
            assert (stopped["outcome"], stopped["text"]) == ("cancelled", piece)
            ending = await rest_of(lines)
        assert '"outcome":"cancelled"' in ending and piece in ending
        listed = ok(await via_b.get("/api/v1/events", params={"stream": f"session-{session_id}"}))["events"]
        assert isinstance(listed, list)
        assert [(event["type"], event["actor"]) for event in listed][-3:] == [
            ("TurnStarted", "token:starter"), ("TurnStopRequested", "token:stopper"), ("TurnCancelled", "token:starter")]
        transcript = ok(await via_b.get(f"{url}/messages"))
        assert isinstance(transcript, list)
        assert [entry["turn"]["outcome"] for entry in transcript if entry["kind"] == "turn"] == ["cancelled"]
        assert (await via_b.post(f"{url}/cancel")).status_code == 409  # nothing is left running anywhere
