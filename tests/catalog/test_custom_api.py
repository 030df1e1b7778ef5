"""Custom providers over HTTP: create, override, update, delete, as events with the actor; refusals write nothing."""

from __future__ import annotations

import copy
from typing import Any

import anyio
import pytest
from litestar.testing import AsyncTestClient

from backend.catalog.events import CustomProviderCreated
from backend.settings import Settings
from events import Metadata, SQLiteEventStore
from tests.catalog.conftest import Client, catalog_app, catalog_of, catalog_registry
from tests.conftest import LOCAL_BASE_URL

pytestmark = pytest.mark.anyio
CATALOG = "/api/v1/catalog"


async def template(client: Client, template_id: str) -> dict[str, Any]:
    templates = (await client.get(f"{CATALOG}/templates")).json()["templates"]
    chosen = next(t for t in templates if t["id"] == template_id)
    provider: dict[str, Any] = chosen["provider"]
    return provider


async def event_count(client: Client) -> int:
    store: SQLiteEventStore = client.app.state.store
    return await store.count()


async def test_templates_cover_gateways_and_local_servers(client: Client) -> None:
    response = await client.get(f"{CATALOG}/templates")
    assert response.status_code == 200
    templates = {t["id"]: t for t in response.json()["templates"]}
    assert {"openai-compatible-gateway", "anthropic-compatible-gateway", "ollama", "lm-studio", "llama-cpp"} <= templates.keys()
    for local in ("ollama", "lm-studio", "llama-cpp"):
        provider = templates[local]["provider"]
        assert templates[local]["local"] is True
        assert provider["api_key"] is None
        assert provider["api_endpoint"].startswith("http://localhost:")
        assert provider["models"][0]["price_status"] == "free"
    for template_id, t in templates.items():
        put = await client.put(f"{CATALOG}/custom/{t['suggested_id']}", json=t["provider"])
        assert put.status_code == 201, (template_id, put.text)


async def test_create_from_template_then_list_get_and_search(client: Client) -> None:
    body = await template(client, "ollama")
    response = await client.put(f"{CATALOG}/custom/ollama", json=body)
    assert response.status_code == 201
    created = response.json()
    assert created["custom"] is True and created["overridden"] is False and created["shipped"] is False
    assert created["version"] == 1 and created["updated_by"] == "local" and created["source"] == "custom"

    listed = (await client.get(f"{CATALOG}/providers")).json()
    summary = next(p for p in listed["providers"] if p["id"] == "ollama")
    assert summary["custom"] is True and summary["model_count"] == 1
    assert summary["price_in_min"] == 0.0 and summary["unknown_price_count"] == 0
    assert listed["model_count"] == 1535

    hits = (await client.get(f"{CATALOG}/models", params={"q": "llama3.2", "provider": "ollama"})).json()
    assert hits["total"] == 1 and hits["items"][0]["custom"] is True

    store: SQLiteEventStore = client.app.state.store
    (stored,) = await store.read_stream("catalog-ollama")
    assert stored.type == "CustomProviderCreated" and stored.metadata.actor == "local"


async def test_override_of_a_shipped_provider_shows_and_its_removal_restores_it(client: Client) -> None:
    shipped = (await client.get(f"{CATALOG}/providers/openai")).json()
    body = {k: v for k, v in shipped.items() if k in {
        "name", "type", "api_endpoint", "api_key", "default_large_model_id", "default_small_model_id",
        "default_headers", "models"}}
    body["name"] = "OpenAI via our proxy"
    body["api_endpoint"] = "https://proxy.example/v1"
    refused = await client.put(f"{CATALOG}/custom/openai", json=body)
    assert refused.status_code == 409 and refused.json()["errors"][0]["field"] == "id"
    response = await client.put(f"{CATALOG}/custom/openai", json={**body, "override": True})
    assert response.status_code == 201
    assert response.json()["overridden"] is True and response.json()["shipped"] is True

    summary = next(p for p in (await client.get(f"{CATALOG}/providers")).json()["providers"] if p["id"] == "openai")
    assert summary["overridden"] is True and summary["name"] == "OpenAI via our proxy"

    deleted = await client.delete(f"{CATALOG}/custom/openai")
    assert deleted.status_code == 200
    assert deleted.json()["now_showing"]["name"] == "OpenAI"
    restored = (await client.get(f"{CATALOG}/providers/openai")).json()
    assert restored["custom"] is False and restored["overridden"] is False
    assert restored["api_endpoint"] == "$OPENAI_API_ENDPOINT"


async def test_shipped_provider_cannot_be_deleted(client: Client) -> None:
    before = await event_count(client)
    response = await client.delete(f"{CATALOG}/custom/anthropic")
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "cannot be deleted" in response.json()["detail"]
    assert await event_count(client) == before


async def test_update_records_a_new_version_and_identical_put_records_nothing(client: Client) -> None:
    body = await template(client, "lm-studio")
    assert (await client.put(f"{CATALOG}/custom/lab", json=body)).status_code == 201
    count = await event_count(client)
    same = await client.put(f"{CATALOG}/custom/lab", json=body)
    assert same.status_code == 200 and same.json()["version"] == 1
    assert await event_count(client) == count

    changed = copy.deepcopy(body)
    changed["models"].append({**changed["models"][0], "id": "second", "name": "Second"})
    response = await client.put(f"{CATALOG}/custom/lab", json=changed)
    assert response.status_code == 200
    assert response.json()["version"] == 2 and len(response.json()["models"]) == 2


async def test_if_match_guards_against_lost_updates(client: Client) -> None:
    body = await template(client, "llama-cpp")
    await client.put(f"{CATALOG}/custom/cpp", json=body)
    body["name"] = "Renamed"
    stale = await client.put(f"{CATALOG}/custom/cpp", json=body, headers={"If-Match": "0"})
    assert stale.status_code == 409
    fresh = await client.put(f"{CATALOG}/custom/cpp", json=body, headers={"If-Match": '"1"'})
    assert fresh.status_code == 200 and fresh.json()["version"] == 2
    gone = await client.delete(f"{CATALOG}/custom/cpp", headers={"If-Match": "1"})
    assert gone.status_code == 409
    assert (await client.delete(f"{CATALOG}/custom/cpp", headers={"If-Match": "2"})).status_code == 200
    assert (await client.get(f"{CATALOG}/providers/cpp")).status_code == 404


async def test_validation_lists_every_problem_and_writes_nothing(client: Client) -> None:
    body = await template(client, "openai-compatible-gateway")
    model = body["models"][0]
    body.update(type="smoke-signals", api_endpoint="gopher://x", default_small_model_id="nope")
    body["models"] = [
        {**model, "cost_per_1m_in": -1, "cost_per_1m_out": 1001, "price_status": "known"},
        {**model, "context_window": 0, "default_max_tokens": 0},
    ]
    before = await event_count(client)
    response = await client.put(f"{CATALOG}/custom/gw", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    fields = [error["field"] for error in response.json()["errors"]]
    assert fields == [
        "type",
        "api_endpoint",
        "models[0].cost_per_1m_in",
        "models[0].cost_per_1m_out",
        "models[1].id",
        "models[1].context_window",
        "models[1].default_max_tokens",
        "default_small_model_id",
    ]
    assert "has 8 problems" in response.json()["detail"]
    assert await event_count(client) == before
    assert (await client.get(f"{CATALOG}/providers/gw")).status_code == 404


async def test_custom_providers_survive_a_restart(settings: Settings) -> None:
    async with AsyncTestClient(app=catalog_app(settings), base_url=LOCAL_BASE_URL) as client:
        body = await template(client, "ollama")
        await client.put(f"{CATALOG}/custom/ollama", json=body)
        body["name"] = "Ollama (desk)"
        await client.put(f"{CATALOG}/custom/ollama", json=body)
        shipped = (await client.get(f"{CATALOG}/providers/groq")).json()
        override = {k: shipped[k] for k in ("name", "type", "api_endpoint", "api_key", "default_large_model_id", "default_small_model_id", "models")}
        await client.put(f"{CATALOG}/custom/groq", json={**override, "name": "Groq (ours)", "override": True})
        before = (await client.get(f"{CATALOG}/providers")).json()
    async with AsyncTestClient(app=catalog_app(settings), base_url=LOCAL_BASE_URL) as client:
        after = (await client.get(f"{CATALOG}/providers")).json()
        ollama = (await client.get(f"{CATALOG}/providers/ollama")).json()
    assert after == before
    assert ollama["name"] == "Ollama (desk)" and ollama["version"] == 2


async def test_writes_from_another_process_are_followed(settings: Settings) -> None:
    async with AsyncTestClient(app=catalog_app(settings), base_url=LOCAL_BASE_URL) as client:
        body = await template(client, "ollama")
        draft = catalog_of(client.app.state).templates()[2].provider
        async with SQLiteEventStore.open(settings.database_path, registry=catalog_registry()) as other:
            event = CustomProviderCreated(provider_id="elsewhere", provider=draft)
            await other.append("catalog-elsewhere", [event], metadata=Metadata(actor="cli"))
        with anyio.fail_after(5):
            while (await client.get(f"{CATALOG}/providers/elsewhere")).status_code != 200:
                await anyio.sleep(0.05)
        shown = (await client.get(f"{CATALOG}/providers/elsewhere")).json()
        assert shown["updated_by"] == "cli" and shown["models"][0]["id"] == body["models"][0]["id"]
