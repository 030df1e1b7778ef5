"""Importing keys from the environment: preview shows last four only, apply is idempotent, actor env-import."""

from __future__ import annotations

import pytest

from backend.catalog.seed import load_seed
from backend.instances.env_import import ollama_url
from tests.instances.conftest import OTHER_SECRET, SECRET, Client, create
from tests.upstreams import UpstreamServer

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider key variable from the machine running the tests leaks in."""
    for provider in load_seed().providers:
        if provider.api_key and provider.api_key.startswith("$"):
            monkeypatch.delenv(provider.api_key[1:], raising=False)
    monkeypatch.delenv("OLLAMA_HOST", raising=False)


async def test_nothing_in_the_environment_means_nothing_to_import(client: Client) -> None:
    assert (await client.get("/api/v1/import/env")).json() == {"candidates": []}
    assert (await client.post("/api/v1/import/env")).json() == {"created": [], "existing": []}


async def test_preview_uses_the_catalog_placeholders_and_shows_last_four_only(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROQ_API_KEY", SECRET)
    monkeypatch.setenv("HF_TOKEN", OTHER_SECRET)  # a placeholder no hard-coded list would guess
    response = await client.get("/api/v1/import/env")
    assert SECRET not in response.text and OTHER_SECRET not in response.text
    candidates = {c["provider_id"]: c for c in response.json()["candidates"]}
    assert set(candidates) == {"groq", "huggingface"}
    assert candidates["groq"]["last4"] == "QRST" and candidates["groq"]["variable"] == "GROQ_API_KEY"
    assert candidates["groq"]["action"] == "create" and candidates["groq"]["name"] == "Groq (environment)"
    assert (await client.get("/api/v1/instances")).json() == []


async def test_apply_creates_once_as_env_import(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", SECRET)
    first = (await client.post("/api/v1/import/env")).json()
    assert len(first["created"]) == 1 and first["existing"] == []
    [instance] = (await client.get("/api/v1/instances")).json()
    assert instance["provider_id"] == "groq" and instance["created_by"] == "env-import"
    assert instance["credential"]["last4"] == "QRST"
    history = (await client.get(f"/api/v1/instances/{instance['id']}/history")).json()
    assert {event["actor"] for event in history} == {"env-import"}
    assert {event["correlation_id"] for event in history} == {"requested by local"}
    head = (await client.get("/api/v1/health")).json()["last_position"]
    second = (await client.post("/api/v1/import/env")).json()
    assert second == {"created": [], "existing": [instance["id"]]}
    assert (await client.get("/api/v1/health")).json()["last_position"] == head
    preview = (await client.get("/api/v1/import/env")).json()["candidates"]
    assert [(c["action"], c["existing_instance_id"]) for c in preview] == [("exists", instance["id"])]


async def test_a_key_already_configured_by_hand_counts_as_present(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    created = await create(client, name="My Groq", provider_id="groq", api_key=SECRET)
    monkeypatch.setenv("GROQ_API_KEY", SECRET)
    assert (await client.post("/api/v1/import/env")).json() == {"created": [], "existing": [created["id"]]}


async def test_a_new_key_gets_a_name_of_its_own(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    await create(client, name="Groq (environment)", provider_id="groq", api_key=SECRET)
    monkeypatch.setenv("GROQ_API_KEY", OTHER_SECRET)
    [candidate] = (await client.get("/api/v1/import/env")).json()["candidates"]
    assert candidate["name"] == "Groq (environment) 2" and candidate["action"] == "create"


async def test_an_unusable_value_is_shown_as_invalid_and_skipped(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "abc")
    [candidate] = (await client.get("/api/v1/import/env")).json()["candidates"]
    assert candidate["action"] == "invalid" and candidate["last4"] is None
    assert (await client.post("/api/v1/import/env")).json()["created"] == []


async def test_ollama_host_adds_a_local_instance_and_its_provider(
    client: Client, monkeypatch: pytest.MonkeyPatch, upstream: UpstreamServer
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", upstream.urls.ollama)
    [candidate] = (await client.get("/api/v1/import/env")).json()["candidates"]
    assert candidate["provider_id"] == "ollama" and candidate["creates_provider"] is True
    assert candidate["last4"] is None and candidate["endpoint"] == upstream.urls.ollama
    [instance_id] = (await client.post("/api/v1/import/env")).json()["created"]
    assert (await client.get("/api/v1/catalog/providers/ollama")).json()["custom"] is True
    test = (await client.post(f"/api/v1/instances/{instance_id}/test")).json()["last_test"]
    assert test["outcome"] == "ok"
    assert (await client.post("/api/v1/import/env")).json() == {"created": [], "existing": [instance_id]}


def test_ollama_host_forms() -> None:
    assert ollama_url("127.0.0.1") == "http://127.0.0.1:11434"
    assert ollama_url("0.0.0.0:8080") == "http://0.0.0.0:8080"
    assert ollama_url("https://ollama.example.com/") == "https://ollama.example.com"
    assert ollama_url("[::1]") == "http://[::1]:11434"
    assert ollama_url("[::1]:9000") == "http://[::1]:9000"


async def test_env_import_refuses_query_parameters(client: Client) -> None:
    assert (await client.get("/api/v1/import/env", params={"dry": "1"})).status_code == 400


async def test_the_same_key_on_another_endpoint_is_not_present(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    await create(
        client, name="Groq via gateway", provider_id="groq", endpoint="https://gw.example.com/v1", api_key=SECRET
    )
    monkeypatch.setenv("GROQ_API_KEY", SECRET)
    [candidate] = (await client.get("/api/v1/import/env")).json()["candidates"]
    assert candidate["action"] == "create" and candidate["existing_instance_id"] is None
    assert candidate["default_endpoint"].startswith("https://") and candidate["endpoint"] == ""


async def test_the_provider_default_written_out_is_the_same_endpoint(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROQ_API_KEY", SECRET)
    [candidate] = (await client.get("/api/v1/import/env")).json()["candidates"]
    endpoint = candidate["default_endpoint"]
    created = await create(client, name="Groq", provider_id="groq", endpoint=endpoint, api_key=SECRET)
    [again] = (await client.get("/api/v1/import/env")).json()["candidates"]
    assert (again["action"], again["existing_instance_id"]) == ("exists", created["id"])
