"""Stop for a turn this process does not run, on one SQLite file: a second set of services on the file (as another
replica) asks through the log and the server running the turn cancels it; a turn whose replica does not answer
gets a 202, and asking again stores nothing more."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import msgspec
import pytest

from backend.services import open_services
from backend.sessions.events import Prices, TurnStarted
from backend.sessions.leases import LeaseTiming, TurnLeases
from backend.sessions.turns import cancel_turn
from backend.sessions.view import TurnOut
from backend.settings import Settings
from events import Metadata
from tests.api.conftest import serving
from tests.sessions.conftest import event_types, first_agent, instance, ok, session
from tests.sessions.test_streaming import first_delta, rest_of, stalled_session
from tests.upstreams import UpstreamServer

pytestmark = pytest.mark.anyio
STOP_WAIT_S = 0.3


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", turn_stop_wait_s=STOP_WAIT_S)


async def test_a_stop_through_another_replica_cancels_the_turn_where_it_runs(
    tmp_path: Path, upstream: UpstreamServer
) -> None:
    settings = Settings(data_dir=tmp_path / "data")  # the default wait: the server sees the request by its slow poll
    with serving(settings) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            session_id, agent_id = await stalled_session(http, upstream)
            async with http.stream("POST", f"/api/v1/sessions/{session_id}/agents/{agent_id}/messages",
                                   json={"text": "hi"}) as response:
                lines = response.aiter_lines()
                piece = await first_delta(lines)
                async with open_services(settings, serving=False) as other:  # runs no turn of its own
                    stopped = await cancel_turn(other.sessions, session_id, agent_id, Metadata(actor="stopper"))
                assert isinstance(stopped, TurnOut)
                assert (stopped.outcome, stopped.text) == ("cancelled", piece)
                ending = await rest_of(lines)
            assert '"outcome":"cancelled"' in ending
            events = ok(await http.get("/api/v1/events", params={"stream": f"session-{session_id}"}))["events"]
            assert isinstance(events, list)
            assert [event["type"] for event in events][-3:] == ["TurnStarted", "TurnStopRequested", "TurnCancelled"]
            requested = events[-2]
            assert requested["actor"] == "stopper" and requested["summary"].startswith("Stop requested for the turn")
            assert events[-1]["actor"] == "local"  # the end is the turn's own, recorded by the replica running it


async def test_a_stop_for_a_turn_whose_replica_does_not_answer_is_accepted_once(
    settings: Settings, upstream: UpstreamServer
) -> None:
    with serving(settings) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            created = await session(http, await instance(http, upstream))
            session_id, agent_id = str(created["id"]), first_agent(created)
            turn_id = await open_elsewhere(settings, created)
            url = f"/api/v1/sessions/{session_id}/agents/{agent_id}/cancel"
            answers = [await http.post(url), await http.post(url)]
            for answer in answers:
                assert answer.status_code == 202, answer.text
                assert answer.json()["status"] == "stop_requested" and answer.json()["turn_id"] == turn_id
            types = await event_types(http, session_id)
            assert types[-2:] == ["TurnStarted", "TurnStopRequested"] and types.count("TurnStopRequested") == 1
            agent = ok(await http.get(f"/api/v1/sessions/{session_id}"))["agents"][0]  # type: ignore[index]
            assert agent["status"] == "running"


async def test_a_stop_with_no_turn_open_anywhere_is_a_conflict_and_writes_nothing(
    settings: Settings, upstream: UpstreamServer
) -> None:
    with serving(settings) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            created = await session(http, await instance(http, upstream))
            before = await event_types(http, created["id"])
            response = await http.post(f"/api/v1/sessions/{created['id']}/agents/{first_agent(created)}/cancel")
            assert response.status_code == 409 and "no turn in progress" in response.text
            assert await event_types(http, created["id"]) == before


async def open_elsewhere(settings: Settings, created: dict[str, object]) -> str:
    """A turn started by a replica that holds its lease but runs nothing here (as one that stopped answering)."""
    agent = msgspec.convert(created["agents"], list[dict[str, object]])[0]
    started = TurnStarted(
        agent_id=str(agent["id"]), turn_id=secrets.token_hex(8), instance_id=str(agent["instance_id"]),
        provider_id=str(agent["provider_id"]), provider_type="openai", model_id=str(agent["model_id"]),
        prices=Prices(input=None, output=None, cache_read=None, cache_write=None), price_status="unknown",
    )
    async with open_services(settings, serving=False) as other:
        await TurnLeases(other.store, LeaseTiming(), "elsewhere").take(started.turn_id)
        await other.sessions.append(str(created["id"]), [started], Metadata(actor="local"))
    return started.turn_id
