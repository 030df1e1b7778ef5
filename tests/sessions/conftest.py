"""Fixtures for session tests: the real app on a real SQLite file, instances on the local upstream servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.settings import Settings
from tests.conftest import api_client
from tests.upstreams import UpstreamServer
from tests.upstreams.fixtures import foreign, foreign_server, upstream, upstream_server

__all__ = ["foreign", "foreign_server", "upstream", "upstream_server"]

Client = AsyncTestClient[Litestar] | httpx.AsyncClient
KEY = "sk-switchboard-session-key-5a6b7c8d9e0fABCD"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with api_client(settings) as test_client:
        yield test_client


def ok(response: httpx.Response, status: int = 200) -> dict[str, object]:
    assert response.status_code == status, response.text
    body: dict[str, object] = response.json()
    return body


async def instance(client: Client, upstream: UpstreamServer, name: str = "Local", **fields: object) -> str:
    """An OpenAI-protocol instance on the upstream, tested so it lists the upstream's models; its id."""
    upstream.scenario.key = str(fields.pop("api_key", KEY))
    body = {"name": name, "provider_id": "openai", "endpoint": upstream.urls.openai, "api_key": upstream.scenario.key, **fields}
    instance_id = str(ok(await client.post("/api/v1/instances", json=body), 201)["id"])
    assert ok(await client.post(f"/api/v1/instances/{instance_id}/test"))["status"] == "connected"
    return instance_id


async def session(client: Client, instance_id: str, model_id: str = "local-small", **fields: object) -> dict[str, object]:
    body = {"name": "Chat", "instance_id": instance_id, "model_id": model_id, **fields}
    return ok(await client.post("/api/v1/sessions", json=body), 201)


def first_agent(created: dict[str, object]) -> str:
    agents = created["agents"]
    assert isinstance(agents, list)
    return str(agents[0]["id"])


class Turn(msgspec.Struct):
    """A turn's answer as streamed: the delta texts, and the closing `turn` event."""

    deltas: list[str]
    turn: dict[str, object]


def parse_stream(body: str) -> Turn:
    deltas: list[str] = []
    turns: list[dict[str, object]] = []
    for block in body.split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        data = msgspec.json.decode(lines["data"])
        if lines["event"] == "delta":
            deltas.append(data["text"])
        else:
            assert lines["event"] == "turn"
            turns.append(data)
    assert len(turns) == 1, body
    return Turn(deltas, turns[0])


async def send(client: Client, session_id: object, agent_id: object, text: str) -> Turn:
    response = await client.post(f"/api/v1/sessions/{session_id}/agents/{agent_id}/messages", json={"text": text})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return parse_stream(response.text)


async def event_types(client: Client, session_id: object) -> list[str]:
    events = ok(await client.get("/api/v1/events", params={"stream": f"session-{session_id}"}))
    assert isinstance(events, list) or "events" in events
    listed = events if isinstance(events, list) else events["events"]
    assert isinstance(listed, list)
    return [str(event["type"]) for event in listed]


def priced_provider(endpoint: str, small_prices: tuple[float, float] = (1.0, 2.0)) -> dict[str, object]:
    """A custom provider on the upstream: local-small has known prices, local-large is free, has a small
    context window and reasoning levels; any other model the endpoint lists has no catalog price."""
    small_in, small_out = small_prices
    return {
        "name": "Priced local", "type": "openai-compat", "api_endpoint": endpoint,
        "default_large_model_id": "local-large", "default_small_model_id": "local-small",
        "models": [
            {"id": "local-small", "name": "Small", "cost_per_1m_in": small_in, "cost_per_1m_out": small_out,
             "cost_per_1m_cache_read": 0.5, "context_window": 8192, "default_max_tokens": 1024},
            {"id": "local-large", "name": "Large", "cost_per_1m_in": 0, "cost_per_1m_out": 0, "price_status": "free",
             "context_window": 64, "default_max_tokens": 16, "can_reason": True, "reasoning_levels": ["low", "high"]},
        ],
    }


async def priced_instance(client: Client, upstream: UpstreamServer, small_prices: tuple[float, float] = (1.0, 2.0)) -> str:
    upstream.scenario.models = ["local-small", "local-large", "local-other"]
    put = await client.put("/api/v1/catalog/custom/priced-local", json=priced_provider(upstream.urls.openai, small_prices))
    assert put.status_code in (200, 201), put.text
    return await instance(client, upstream, "Priced", provider_id="priced-local")


async def log_head(client: Client) -> object:
    """The log's last position: unchanged when a refused request wrote nothing."""
    return ok(await client.get("/api/v1/events", params={"limit": 1}))["head"]
