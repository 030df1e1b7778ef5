"""The names summaries use are looked up once per log head, shared by every request and live feed."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from backend.audit.names import Names
from backend.instances.commands import create_instance, update_instance
from backend.instances.connection import run_connection_test
from backend.instances.credentials import set_credential
from backend.instances.schemas import CreateInstance, SetCredential, UpdateInstance
from backend.services import open_services
from backend.sessions.commands import add_agent, create_session
from backend.sessions.schemas import CreateAgent, CreateSession, SendMessage
from backend.sessions.turns import start_turn
from backend.settings import Settings
from events import Metadata
from tests.conftest import api_client
from tests.instances.conftest import OTHER_SECRET, SECRET
from tests.upstreams import UpstreamServer
from tests.upstreams.fixtures import upstream, upstream_server

__all__ = ["upstream", "upstream_server"]

pytestmark = pytest.mark.anyio
USER = Metadata(actor="user")


async def test_names_are_looked_up_again_only_when_the_log_moved(tmp_path: Path) -> None:
    async with open_services(Settings(data_dir=tmp_path / "data")) as services:
        created = await create_instance(services.instances, CreateInstance(name="Prod", provider_id="openai"), USER)
        first = await services.names.now()
        seen: list[Names] = []

        async def look() -> None:
            seen.append(await services.names.now())

        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(look)
        assert first.instances[created.id] == "Prod"
        assert all(names is first for names in seen)  # same head: the one lookup serves everyone
        assert await services.names.at(await services.store.head()) is first

        await update_instance(services.instances, created.id, UpdateInstance(name="Staging"), USER, None)
        moved = await services.names.now()
        assert moved is not first and moved.instances[created.id] == "Staging"


async def test_turns_and_key_changes_keep_the_names_and_a_new_agent_renews_them(
    tmp_path: Path, upstream: UpstreamServer
) -> None:
    """Looking the names up reads every session: under chat load, with the log moving at every turn, it made
    each audit read cost in proportion to all the sessions ever held."""
    upstream.scenario.key = SECRET
    async with open_services(Settings(data_dir=tmp_path / "data")) as services:
        body = CreateInstance(name="Local", provider_id="openai", endpoint=upstream.urls.openai, api_key=SECRET)
        instance = await create_instance(services.instances, body, USER)
        await run_connection_test(services.instances, instance.id, USER)
        chat = CreateSession(name="Chat", instance_id=instance.id, model_id="local-small")
        session = await create_session(services.sessions, chat, USER)
        first = await services.names.now()

        frames = await start_turn(services.sessions, session.id, session.agents[0].id, SendMessage(text="hi"), USER)
        assert b"event: turn" in b"".join([frame async for frame in frames])
        upstream.scenario.key = OTHER_SECRET
        await set_credential(services.instances, instance.id, SetCredential(api_key=OTHER_SECRET), USER)
        await run_connection_test(services.instances, instance.id, USER)
        assert await services.names.now() is first  # the log moved, but nothing in it names anything anew

        await add_agent(services.sessions, session.id, CreateAgent(name="Second"), USER)
        renewed = await services.names.now()
        assert renewed is not first and "Second" in renewed.agents.values()


async def test_events_show_the_name_as_of_the_latest_write(settings: Settings) -> None:
    async with api_client(settings) as client:
        body = {"name": "Prod", "provider_id": "openai", "api_key": SECRET}
        created = (await client.post("/api/v1/instances", json=body)).json()
        assert "set on instance 'Prod'" in (await client.get("/api/v1/events")).text
        renamed = await client.patch(f"/api/v1/instances/{created['id']}", json={"name": "Staging"})
        assert renamed.status_code == 200, renamed.text
        events = (await client.get("/api/v1/events")).text
        assert "set on instance 'Staging'" in events and "on instance 'Prod'" not in events
