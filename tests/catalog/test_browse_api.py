"""Browsing over HTTP: provider summaries, one provider, model search with paging, fast enough."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from backend.catalog.seed import SEED_DIR
from backend.settings import Settings
from tests.catalog.conftest import Client, catalog_app
from tests.conftest import LOCAL_BASE_URL

pytestmark = pytest.mark.anyio
CATALOG = "/api/v1/catalog"


async def test_provider_summaries(client: Client) -> None:
    response = await client.get(f"{CATALOG}/providers")
    assert response.status_code == 200
    body = response.json()
    assert body["model_count"] == 1534 and body["warnings"] == [] and body["last_refresh"] is None
    summaries = {p["id"]: p for p in body["providers"]}
    assert len(summaries) == 41
    names = [p["name"].casefold() for p in body["providers"]]
    assert names == sorted(names)
    anthropic = summaries["anthropic"]
    assert anthropic["type"] == "anthropic" and anthropic["model_count"] == 14
    assert anthropic["custom"] is False and anthropic["overridden"] is False
    assert anthropic["price_in_min"] <= anthropic["price_in_max"]
    copilot = summaries["copilot"]
    assert copilot["unknown_price_count"] == copilot["model_count"] and copilot["price_in_min"] is None


async def test_one_provider_with_models_and_provenance(client: Client) -> None:
    body = (await client.get(f"{CATALOG}/providers/bedrock")).json()
    assert body["id"] == "bedrock" and body["type"] == "bedrock" and body["api_endpoint"] == ""
    assert body["source"].endswith("bedrock-united-states.json") and body["as_of"] == "2026-08-21"
    assert body["version"] == 0 and body["updated_at"] is None
    model = body["models"][0]
    for field in ("cost_per_1m_cache_write", "cost_per_1m_cache_read", "price_status", "reasoning_levels"):
        assert field in model


async def test_search_pages_with_total(client: Client) -> None:
    params: dict[str, str | int] = {"q": "gpt", "sort": "-context", "limit": 7}
    first = (await client.get(f"{CATALOG}/models", params=params)).json()
    second = (await client.get(f"{CATALOG}/models", params={**params, "offset": 7})).json()
    everything = (await client.get(f"{CATALOG}/models", params={**params, "limit": 500})).json()
    assert first["total"] == second["total"] == everything["total"] > 14
    assert first["items"] + second["items"] == everything["items"][:14]
    contexts = [hit["model"]["context_window"] for hit in everything["items"]]
    assert contexts == sorted(contexts, reverse=True)
    several = (await client.get(f"{CATALOG}/models?provider=openai&provider=azure&limit=500")).json()
    assert {hit["provider_id"] for hit in several["items"]} == {"openai", "azure"}
    assert several["total"] == 28 + 14


async def test_skipped_seed_files_are_reported(tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    shutil.copytree(SEED_DIR, seed)
    (seed / "broken.json").write_text("{")
    async with AsyncTestClient(app=catalog_app(Settings(data_dir=tmp_path / "data"), seed_dir=seed), base_url=LOCAL_BASE_URL) as client:
        body = (await client.get(f"{CATALOG}/providers")).json()
    assert len(body["providers"]) == 41
    (warning,) = body["warnings"]
    assert warning.startswith("skipped catalog file broken.json: is not a valid provider file")


async def test_the_service_app_serves_the_catalog_and_logs_its_events(tmp_path: Path) -> None:
    from backend.app import create_app

    async with AsyncTestClient(app=create_app(Settings(data_dir=tmp_path / "data")), base_url=LOCAL_BASE_URL) as client:
        assert (await client.get(f"{CATALOG}/providers")).json()["model_count"] == 1534
        templates = (await client.get(f"{CATALOG}/templates")).json()["templates"]
        local = next(t for t in templates if t["id"] == "llama-cpp")
        created = await client.put(f"{CATALOG}/custom/llama-cpp", json=local["provider"])
        assert created.status_code == 201
        logged = (await client.get("/api/v1/events", params={"stream": "catalog-llama-cpp"})).json()
        assert [e["type"] for e in logged["events"]] == ["CustomProviderCreated"]
        assert logged["events"][0]["summary"] == "Custom provider llama.cpp created with 1 model"


async def test_a_provider_shows_its_default_endpoint_resolved(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_ENDPOINT", raising=False)
    anthropic = (await client.get(f"{CATALOG}/providers/anthropic")).json()
    assert anthropic["api_endpoint"] == "$ANTHROPIC_API_ENDPOINT"
    assert anthropic["resolved_endpoint"] == "https://api.anthropic.com"
    monkeypatch.setenv("ANTHROPIC_API_ENDPOINT", "https://gateway.example/anthropic")
    moved = (await client.get(f"{CATALOG}/providers/anthropic")).json()
    assert moved["resolved_endpoint"] == "https://gateway.example/anthropic"
