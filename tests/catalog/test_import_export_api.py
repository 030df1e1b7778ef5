"""Catwalk-format import and export over HTTP, and the export -> import round trip."""

from __future__ import annotations

import json

import pytest

from tests.catalog.conftest import Client
from tests.catalog.test_seed import REFERENCE, needs_reference

pytestmark = pytest.mark.anyio
CATALOG = "/api/v1/catalog"
DRAFT_FIELDS = ("name", "type", "api_endpoint", "api_key", "default_large_model_id",
                "default_small_model_id", "default_headers", "models")


def draft_of(provider: dict[str, object]) -> dict[str, object]:
    return {field: provider[field] for field in DRAFT_FIELDS}


async def test_export_is_catwalk_json_as_a_download(client: Client) -> None:
    response = await client.get(f"{CATALOG}/export/deepseek")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"] == 'attachment; filename="deepseek.json"'
    exported = response.json()
    assert exported["id"] == "deepseek" and exported["type"] == "openai-compat"
    model = exported["models"][0]
    assert model["cost_per_1m_in_cached"] == 0.0 and model["cost_per_1m_out_cached"] == 0.0028
    assert model["price_status"] == "known"


@pytest.mark.parametrize("provider_id", ["anthropic", "openrouter", "venice", "copilot", "bedrock", "azure", "gemini"])
async def test_export_then_import_gives_the_same_provider(client: Client, provider_id: str) -> None:
    original = (await client.get(f"{CATALOG}/providers/{provider_id}")).json()
    exported = (await client.get(f"{CATALOG}/export/{provider_id}")).content
    response = await client.post(f"{CATALOG}/import", params={"as_id": "copy"}, content=exported)
    assert response.status_code == 200, response.text
    (outcome,) = response.json()["providers"]
    assert outcome["status"] == "created"
    imported = (await client.get(f"{CATALOG}/providers/copy")).json()
    assert draft_of(imported) == draft_of(original)
    again = (await client.get(f"{CATALOG}/export/copy")).json()
    assert {**again, "id": provider_id} == json.loads(exported)


async def test_custom_provider_round_trips_under_another_id(client: Client) -> None:
    templates = (await client.get(f"{CATALOG}/templates")).json()["templates"]
    local = next(t for t in templates if t["id"] == "ollama")["provider"]
    local["models"].append({**local["models"][0], "id": "paid", "name": "Paid", "cost_per_1m_in": 1.0,
                            "cost_per_1m_out": 2.0, "cost_per_1m_cache_write": 0.5, "price_status": "known"})
    await client.put(f"{CATALOG}/custom/desk", json=local)
    exported = (await client.get(f"{CATALOG}/export/desk")).content
    await client.post(f"{CATALOG}/import?as_id=desk-2", content=exported)
    first = (await client.get(f"{CATALOG}/providers/desk")).json()
    second = (await client.get(f"{CATALOG}/providers/desk-2")).json()
    assert draft_of(first) == draft_of(second)
    assert second["models"][1]["cost_per_1m_cache_write"] == 0.5


@needs_reference
async def test_import_a_list_of_upstream_files_reads_cached_prices_by_price(client: Client) -> None:
    files = [json.loads((REFERENCE / name).read_bytes()) for name in ("deepseek.json", "groq.json")]
    for item in files:
        item["id"] = f"my-{item['id']}"
    response = await client.post(f"{CATALOG}/import", json=files)
    assert response.status_code == 200
    assert [o["provider"]["id"] for o in response.json()["providers"]] == ["my-deepseek", "my-groq"]
    flash = (await client.get(f"{CATALOG}/providers/my-deepseek")).json()["models"][0]
    assert (flash["cost_per_1m_cache_write"], flash["cost_per_1m_cache_read"]) == (0.0, 0.0028)


async def test_importing_a_shipped_id_with_override_overrides_it_and_reimport_is_unchanged(client: Client) -> None:
    exported = (await client.get(f"{CATALOG}/export/xai")).json()
    exported["name"] = "xAI (ours)"
    assert (await client.post(f"{CATALOG}/import", json=exported)).status_code == 409
    first = await client.post(f"{CATALOG}/import", params={"override": "true"}, json=exported)
    assert first.json()["providers"][0]["status"] == "created"
    assert first.json()["providers"][0]["provider"]["overridden"] is True
    second = await client.post(f"{CATALOG}/import", params={"override": "true"}, json=exported)
    assert second.json()["providers"][0]["status"] == "unchanged"


async def test_invalid_import_lists_every_problem_with_its_item_and_saves_nothing(client: Client) -> None:
    good_catwalk = (await client.get(f"{CATALOG}/export/groq")).json()
    bad = {**good_catwalk, "id": "bad", "type": "mystery", "default_small_model_id": "missing"}
    bad["models"] = [{**bad["models"][0], "cost_per_1m_out": -2}]
    twin = {**good_catwalk, "id": "fine"}
    response = await client.post(f"{CATALOG}/import", json=[twin, bad, twin])
    assert response.status_code == 422
    fields = [error["field"] for error in response.json()["errors"]]
    assert fields == ["[1].type", "[1].models[0].cost_per_1m_out", "[1].default_small_model_id", "[2].id"]
    for provider_id in ("fine", "bad"):
        assert (await client.get(f"{CATALOG}/providers/{provider_id}")).status_code == 404
