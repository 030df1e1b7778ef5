"""Sessions and agents through the API: model choices checked when made, changes recorded, bad input refused."""

from __future__ import annotations

import pytest

from tests.sessions.conftest import (
    Client,
    event_types,
    first_agent,
    instance,
    log_head,
    ok,
    priced_instance,
    session,
)
from tests.upstreams import UpstreamServer

pytestmark = pytest.mark.anyio


def fields(body: dict[str, object]) -> set[str]:
    errors = body.get("errors", [])
    assert isinstance(errors, list)
    return {str(error["field"]) for error in errors}


async def refused(client: Client, method: str, path: str, body: object, status: int, field: str, **headers: str) -> str:
    """Assert the request is refused naming `field` and that nothing was written; the problem's text."""
    before = await log_head(client)
    response = await client.request(method, path, json=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in fields(response.json()) or field in response.text
    assert await log_head(client) == before
    return response.text


async def test_create_session_with_its_first_agent(client: Client, upstream: UpstreamServer) -> None:
    instance_id = await instance(client, upstream)
    created = await session(client, instance_id, model_id="local-large", system_prompt="Be kind.", max_tokens=64)
    assert created["name"] == "Chat" and created["default_model_id"] == "local-large" and created["version"] == 2
    agent = created["agents"][0]  # type: ignore[index]
    assert agent["instance_id"] == instance_id and agent["instance_name"] == "Local" and agent["status"] == "ready"
    assert agent["max_tokens"] == 64 and agent["model_id"] == "local-large"
    assert created["created_by"] == "local"
    assert await event_types(client, created["id"]) == ["SessionCreated", "AgentCreated"]
    listed = ok(await client.get("/api/v1/sessions", params={"limit": 1, "offset": 0}))
    assert [entry["id"] for entry in listed] == [created["id"]]  # type: ignore[union-attr]


async def test_bad_choices_are_refused_naming_the_field(client: Client, upstream: UpstreamServer) -> None:
    instance_id = await instance(client, upstream)
    base = {"name": "Chat", "instance_id": instance_id, "model_id": "local-small"}
    await refused(client, "POST", "/api/v1/sessions", {**base, "instance_id": "nope"}, 422, "instance_id")
    text = await refused(client, "POST", "/api/v1/sessions", {**base, "model_id": "gpt-nope"}, 422, "model_id")
    assert "local-small" in text and "local-large" in text  # the models it does offer
    await refused(client, "POST", "/api/v1/sessions", {**base, "name": " "}, 422, "name")
    await refused(client, "POST", "/api/v1/sessions", {**base, "name": "a\x00b"}, 422, "name")
    await refused(client, "POST", "/api/v1/sessions", {**base, "agent_name": "line\nbreak"}, 422, "agent_name")
    await refused(client, "POST", "/api/v1/sessions", {**base, "max_tokens": 0}, 422, "max_tokens")
    await refused(client, "POST", "/api/v1/sessions", {**base, "name": 5}, 400, "name")
    await refused(client, "POST", "/api/v1/sessions", {**base, "colour": "red"}, 400, "colour")
    await refused(client, "POST", "/api/v1/sessions", {**base, "reasoning_effort": "high"}, 422, "reasoning_effort")


async def test_the_offered_models_are_the_catalog_s_and_the_listed_ones(client: Client, upstream: UpstreamServer) -> None:
    instance_id = await priced_instance(client, upstream)
    created = await session(client, instance_id, model_id="local-other")  # listed by the endpoint only
    assert created["default_model_id"] == "local-other"
    base = {"name": "Chat", "instance_id": instance_id, "model_id": "local-large"}
    await refused(client, "POST", "/api/v1/sessions", {**base, "reasoning_effort": "extreme"}, 422, "reasoning_effort")
    reasoning = ok(await client.post("/api/v1/sessions", json={**base, "reasoning_effort": "high"}), 201)
    assert reasoning["agents"][0]["reasoning_effort"] == "high"  # type: ignore[index]


async def test_session_changes_are_recorded_and_need_the_current_version(client: Client, upstream: UpstreamServer) -> None:
    instance_id = await instance(client, upstream)
    created = await session(client, instance_id)
    url = f"/api/v1/sessions/{created['id']}"
    await refused(client, "PATCH", url, {"name": "Stale"}, 409, "version", **{"if-match": "1"})
    await refused(client, "PATCH", url, {"model_id": "missing"}, 422, "model_id")
    changed = ok(await client.patch(url, json={"name": "Renamed", "model_id": "local-large"}, headers={"if-match": "2"}))
    assert changed["name"] == "Renamed" and changed["default_model_id"] == "local-large"
    assert ok(await client.patch(url, json={"archived": True}))["archived"] is True
    events = ok(await client.get("/api/v1/events", params={"stream": f"session-{created['id']}"}))["events"]
    model_change = next(event for event in events if event["type"] == "SessionDefaultModelChanged")  # type: ignore[union-attr]
    assert model_change["data"]["before"]["model_id"] == "local-small"
    assert model_change["data"]["after"]["model_id"] == "local-large"
    assert [event["type"] for event in events][-3:] == ["SessionRenamed", "SessionDefaultModelChanged", "SessionArchived"]  # type: ignore[union-attr]


async def test_agents_are_added_changed_and_removed(client: Client, upstream: UpstreamServer) -> None:
    instance_id = await instance(client, upstream)
    other_id = await instance(client, upstream, "Other")
    created = await session(client, instance_id)
    url = f"/api/v1/sessions/{created['id']}/agents"
    await refused(client, "POST", url, {"name": "Critic", "instance_id": other_id, "model_id": "nope"}, 422, "model_id")
    added = ok(await client.post(url, json={"name": "Critic", "instance_id": other_id, "model_id": "local-large"}), 201)
    critic = added["agents"][1]  # type: ignore[index]
    assert critic["instance_id"] == other_id and critic["instance_name"] == "Other"
    moved = ok(await client.patch(f"{url}/{critic['id']}", json={"model_id": "local-small", "system_prompt": "Critique."}))
    assert moved["agents"][1]["model_id"] == "local-small" and moved["agents"][1]["system_prompt"] == "Critique."  # type: ignore[index]
    events = ok(await client.get("/api/v1/events", params={"stream": f"session-{created['id']}"}))["events"]
    change = next(event for event in events if event["type"] == "AgentModelChanged")  # type: ignore[union-attr]
    assert (change["data"]["before"]["model_id"], change["data"]["after"]["model_id"]) == ("local-large", "local-small")
    assert (await client.delete(f"{url}/{critic['id']}")).status_code == 204
    only = first_agent(created)
    assert (await client.delete(f"{url}/{only}")).status_code == 409
    assert len(ok(await client.get(f"/api/v1/sessions/{created['id']}"))["agents"]) == 1  # type: ignore[arg-type]


async def test_bad_messages_are_refused_before_anything_is_written(client: Client, upstream: UpstreamServer) -> None:
    instance_id = await priced_instance(client, upstream)
    created = await session(client, instance_id, model_id="local-large")  # a 64-token context window
    url = f"/api/v1/sessions/{created['id']}/agents/{first_agent(created)}/messages"
    await refused(client, "POST", url, {"text": " "}, 422, "text")
    await refused(client, "POST", url, {"text": 3}, 400, "text")
    await refused(client, "POST", url, {"text": "hi", "extra": 1}, 400, "extra")
    text = await refused(client, "POST", url, {"text": "word " * 60}, 422, "text")
    assert "tokens too many" in text
    assert (await client.post(f"/api/v1/sessions/{created['id']}/agents/nobody/messages", json={"text": "hi"})).status_code == 404
    assert upstream.scenario.requests_to("/chat/completions") == []


async def test_cancel_without_a_running_turn_is_a_conflict(client: Client, upstream: UpstreamServer) -> None:
    created = await session(client, await instance(client, upstream))
    response = await client.post(f"/api/v1/sessions/{created['id']}/agents/{first_agent(created)}/cancel")
    assert response.status_code == 409 and "no turn in progress" in response.text
