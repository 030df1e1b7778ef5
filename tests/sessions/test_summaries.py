"""Audit summaries name instances, agents and providers by their names; the ids stay in the stream and data."""

from __future__ import annotations

import pytest

from backend.audit.names import Names
from tests.sessions.conftest import Client, first_agent, instance, ok, send, session
from tests.upstreams import UpstreamServer

pytestmark = pytest.mark.anyio


async def summaries(client: Client) -> list[str]:
    page = ok(await client.get("/api/v1/events", params={"limit": 500}))
    events = page["events"]
    assert isinstance(events, list)
    return [str(event["summary"]) for event in events]


async def test_summaries_use_instance_agent_and_provider_names(client: Client, upstream: UpstreamServer) -> None:
    instance_id = await instance(client, upstream, "Office gateway")
    created = await session(client, instance_id)
    agent_id = first_agent(created)
    await send(client, created["id"], agent_id, "hello")

    written = summaries(client)
    text = "\n".join(await written)
    assert instance_id not in text and agent_id not in text
    assert "for provider OpenAI" in text
    assert "through instance 'Office gateway'" in text
    assert f"agent {created['agents'][0]['name']!r}" in text  # type: ignore[index]
    assert "Connection test of instance 'Office gateway'" in text


async def test_an_instance_history_names_the_instance(client: Client, upstream: UpstreamServer) -> None:
    instance_id = await instance(client, upstream, "Office gateway")
    history = ok(await client.get(f"/api/v1/instances/{instance_id}/history"))
    assert isinstance(history, list)
    text = "\n".join(str(event["summary"]) for event in history)
    assert "instance 'Office gateway'" in text and instance_id not in text


async def test_unknown_ids_and_other_words_are_left_alone() -> None:
    names = Names(instances={"i1": "Prod"}, providers={"openai": "OpenAI"})
    assert names.put_in("Key set on instance i1") == "Key set on instance 'Prod'"
    assert names.put_in("Key set on instance gone7") == "Key set on instance gone7"
    assert names.put_in("Catalog refreshed: providers +2") == "Catalog refreshed: providers +2"
    assert names.put_in("Custom provider openai updated") == "Custom provider OpenAI updated"


@pytest.mark.parametrize(
    "typed",
    ["switch provider openai to local", "provider local", "it's on instance i1", 'say "agent a1" \' here'],
)
def test_names_people_typed_are_left_as_typed(typed: str) -> None:
    names = Names(instances={"i1": "Prod"}, agents={"a1": "Scout"}, providers={"openai": "OpenAI", "local": "Local"})
    assert names.put_in(f"Session {typed!r} created") == f"Session {typed!r} created"
    summary = f"Instance {typed!r} created for provider openai through instance i1"
    assert names.put_in(summary) == f"Instance {typed!r} created for provider OpenAI through instance 'Prod'"
