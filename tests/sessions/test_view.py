"""The session views: rebuilt from the log they equal the live ones."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import msgspec
import pytest

from backend.instances.commands import create_instance
from backend.instances.connection import run_connection_test
from backend.instances.schemas import CreateInstance
from backend.services import Services, open_services
from backend.sessions.commands import (
    add_agent,
    create_session,
    update_agent,
    update_session,
)
from backend.sessions.schemas import (
    CreateAgent,
    CreateSession,
    SendMessage,
    UpdateAgent,
    UpdateSession,
)
from backend.sessions.turns import start_turn
from backend.settings import Settings
from events import Metadata
from tests.sessions.conftest import KEY
from tests.upstreams import UpstreamServer

pytestmark = pytest.mark.anyio
USER = Metadata(actor="tester", request_id="r1")


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    async with open_services(settings) as opened:
        yield opened


async def snapshot(services: Services) -> list[object]:
    store = services.store
    sessions = await store.fetch("SELECT session_id, last_activity, open_turns, body FROM session_view ORDER BY session_id")
    messages = await store.fetch("SELECT * FROM session_message ORDER BY session_id, agent_id, position")
    return [tuple(row) for row in sessions] + [tuple(row) for row in messages]


async def workload(services: Services, upstream: UpstreamServer, rounds: int) -> None:
    """Sessions, agents, model changes, renames and turns (completed and failed) chosen at random."""
    chooser = random.Random(11)
    upstream.scenario.key = KEY
    instance = await create_instance(
        services.instances,
        CreateInstance(name="Local", provider_id="openai", endpoint=upstream.urls.openai, api_key=KEY, max_attempts=1),
        USER,
    )
    await run_connection_test(services.instances, instance.id, USER)
    sessions = services.sessions
    created = [await create_session(sessions, CreateSession(name="S0", instance_id=instance.id, model_id="local-small"), USER)]
    for round_ in range(rounds):
        session = await sessions.session(chooser.choice(created).id)
        agent = chooser.choice(session.agents)
        action = chooser.randrange(5)
        if action == 0:
            created.append(await create_session(
                sessions, CreateSession(name=f"S{round_}", instance_id=instance.id, model_id="local-large"), USER))
        elif action == 1:
            await add_agent(sessions, session.id, CreateAgent(name=f"A{round_}"), USER)
        elif action == 2:
            model = chooser.choice(["local-small", "local-large"])
            await update_agent(sessions, session.id, agent.id, UpdateAgent(model_id=model), USER, None)
        elif action == 3:
            await update_session(sessions, session.id, UpdateSession(name=f"R{round_}"), USER, None)
        else:
            upstream.scenario.behaviour = chooser.choice(["ok", "ok", "server_error"])
            frames = await start_turn(sessions, session.id, agent.id, SendMessage(text=f"turn {round_}"), USER)
            assert b"event: turn" in b"".join([frame async for frame in frames])


async def test_rebuilt_views_equal_the_live_ones(services: Services, upstream: UpstreamServer) -> None:
    await workload(services, upstream, 40)
    live = await snapshot(services)
    assert sum(b'"kind":"turn"' in bytes(row[-1]) for row in live if isinstance(row[-1], bytes)) >= 3
    await services.store.rebuild(services.sessions.view)
    assert await snapshot(services) == live
    assert msgspec.json.decode(bytes(live[0][-1]))["session"]["version"] >= 2  # type: ignore[index]
