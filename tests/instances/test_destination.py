"""A key goes only to the origin it was confirmed for: each chain end to end, against a recording listener
on another origin (`foreign`) that must never receive the key."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from backend.catalog.catwalk import to_catwalk
from backend.catalog.events import CustomProviderCreated, custom_stream
from backend.catalog.schema import ProviderDraft
from backend.catalog.seed import load_seed
from backend.instances.events import CredentialSet, InstanceCreated, stream_of
from backend.services import open_services
from backend.settings import Settings
from events import Metadata
from tests.catalog.catalog_server import serve_catalog
from tests.conftest import api_client
from tests.instances.conftest import OTHER_SECRET, SECRET, Client, create, error_fields
from tests.upstreams import UpstreamServer

pytestmark = pytest.mark.anyio
MASTER = "switchboard-master-secret-0123456789abcdef"
USER = Metadata(actor="user")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key or endpoint variable from the machine running the tests leaks in."""
    for provider in load_seed().providers:
        for placeholder in (provider.api_key or "", provider.api_endpoint):
            if placeholder.startswith("$"):
                monkeypatch.delenv(placeholder[1:], raising=False)
    for name in ("OLLAMA_HOST", "MY_GATEWAY_API_KEY", "MY_GATEWAY_BASE_URL", "SWITCHBOARD_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)


def gateway(endpoint: str, api_key: str | None = "$MY_GATEWAY_API_KEY") -> dict[str, Any]:
    """A custom OpenAI-compatible provider as PUT /catalog/custom takes it."""
    model = {"id": "m", "name": "M", "cost_per_1m_in": 0, "cost_per_1m_out": 0,
             "context_window": 8000, "default_max_tokens": 1000}
    return {"name": "My gateway", "type": "openai-compat", "api_endpoint": endpoint, "api_key": api_key,
            "default_large_model_id": "m", "default_small_model_id": "m", "models": [model]}


def catwalk(provider_id: str, endpoint: str, api_key: str) -> dict[str, Any]:
    return {"id": provider_id, **gateway(endpoint, api_key)}


async def put_gateway(client: Client, provider_id: str, body: dict[str, Any]) -> None:
    response = await client.put(f"/api/v1/catalog/custom/{provider_id}", json=body)
    assert response.status_code in (200, 201), response.text


async def get(client: Client, instance_id: object) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get(f"/api/v1/instances/{instance_id}")).json()
    return body


async def history_types(client: Client, instance_id: object) -> list[str]:
    return [event["type"] for event in (await client.get(f"/api/v1/instances/{instance_id}/history")).json()]


# 1. Environment variables


async def test_a_provider_naming_the_master_key_is_refused_everywhere(
    client: Client, foreign: UpstreamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWITCHBOARD_MASTER_KEY", MASTER)
    head = (await client.get("/api/v1/health")).json()["last_position"]
    put = await client.put("/api/v1/catalog/custom/openai", json=gateway(foreign.urls.openai, "$SWITCHBOARD_MASTER_KEY"))
    assert put.status_code == 422 and error_fields(put.json()) == {"api_key"}
    assert "SWITCHBOARD_MASTER_KEY" in put.json()["errors"][0]["message"]
    imported = await client.post(
        "/api/v1/catalog/import", json=catwalk("openai", foreign.urls.openai, "${SWITCHBOARD_MASTER_KEY}")
    )
    assert imported.status_code == 422 and error_fields(imported.json()) == {"api_key"}
    endpoint = await client.put("/api/v1/catalog/custom/gw", json=gateway("$SWITCHBOARD_MASTER_KEY"))
    assert endpoint.status_code == 422 and error_fields(endpoint.json()) == {"api_endpoint"}
    assert (await client.get("/api/v1/health")).json()["last_position"] == head

    preview = await client.get("/api/v1/import/env")
    assert MASTER[-4:] not in preview.text and preview.json() == {"candidates": []}
    assert (await client.post("/api/v1/import/env")).json() == {"created": [], "existing": []}
    assert not foreign.scenario.saw(MASTER)


async def test_a_refresh_listing_such_a_provider_skips_it(client: Client, foreign: UpstreamServer) -> None:
    listed = [msgspec.to_builtins(to_catwalk(provider)) for provider in load_seed().providers]
    listed[0] = {**listed[0], "api_key": "$SWITCHBOARD_MASTER_KEY", "api_endpoint": foreign.urls.openai}
    with serve_catalog(json.dumps(listed).encode()) as service:
        response = await client.post("/api/v1/catalog/refresh", json={"url": service.url})
    assert response.status_code == 200, response.text
    [skipped] = response.json()["skipped"]
    assert skipped["provider_id"] == listed[0]["id"] and "SWITCHBOARD_MASTER_KEY" in skipped["reason"]


async def test_the_import_never_reads_a_variable_outside_the_rules(
    settings: Settings, foreign: UpstreamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even a provider recorded before the rules existed (written straight into the log) is not read."""
    draft = msgspec.convert(gateway(foreign.urls.openai, "$SWITCHBOARD_MASTER_KEY"), ProviderDraft)
    async with open_services(settings) as services:
        event = CustomProviderCreated(provider_id="old", provider=draft)
        await services.store.append(custom_stream("old"), [event], metadata=USER)
    monkeypatch.setenv("SWITCHBOARD_MASTER_KEY", MASTER)
    async with api_client(settings) as client:
        assert (await client.get("/api/v1/catalog/providers/old")).status_code == 200
        assert (await client.get("/api/v1/import/env")).json() == {"candidates": []}
        assert (await client.post("/api/v1/import/env")).json()["created"] == []
    assert not foreign.scenario.saw(MASTER)


async def test_the_preview_says_where_each_key_goes(
    client: Client, foreign: UpstreamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    await put_gateway(client, "gw", gateway(foreign.urls.openai))
    monkeypatch.setenv("GROQ_API_KEY", SECRET)
    monkeypatch.setenv("MY_GATEWAY_API_KEY", OTHER_SECRET)
    preview = await client.get("/api/v1/import/env")
    assert SECRET not in preview.text and OTHER_SECRET not in preview.text
    sends_to = {c["provider_id"]: c["sends_to"] for c in preview.json()["candidates"]}
    assert sends_to == {"groq": "https://api.groq.com", "gw": foreign.urls.origin}
    assert not foreign.scenario.requests


async def test_a_key_for_an_endpoint_that_resolves_to_nothing_is_not_imported(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    await put_gateway(client, "gw", gateway("${MY_GATEWAY_BASE_URL}"))
    monkeypatch.setenv("MY_GATEWAY_API_KEY", SECRET)
    [candidate] = (await client.get("/api/v1/import/env")).json()["candidates"]
    assert candidate["action"] == "invalid" and candidate["sends_to"] is None and candidate["last4"] is None
    assert (await client.post("/api/v1/import/env")).json()["created"] == []


# 2. Endpoint changes


async def test_patching_the_endpoint_to_another_origin_needs_the_key_again(
    client: Client, upstream: UpstreamServer, foreign: UpstreamServer
) -> None:
    upstream.scenario.key = SECRET
    created = await create(client, endpoint=upstream.urls.openai, api_key=SECRET)
    assert created["credential"]["origin"] == upstream.urls.origin and created["endpoint_status"] == "ok"
    url = f"/api/v1/instances/{created['id']}"
    refused = await client.patch(url, json={"endpoint": foreign.urls.openai})
    assert refused.status_code == 422 and error_fields(refused.json()) == {"endpoint"}
    assert "keep_credential" in refused.json()["errors"][0]["message"]
    assert (await get(client, created["id"]))["endpoint"] == upstream.urls.openai
    assert (await client.post(f"{url}/test")).json()["last_test"]["outcome"] == "ok"

    same_origin = await client.patch(url, json={"endpoint": upstream.urls.openai + "/"})
    assert same_origin.status_code == 200  # another path on the same origin: the key may follow

    foreign.scenario.key = OTHER_SECRET
    moved = await client.patch(url, json={"endpoint": foreign.urls.openai, "api_key": OTHER_SECRET})
    assert moved.status_code == 200, moved.text
    assert moved.json()["credential"] | {"set_at": None, "rotated_at": None} == moved.json()["credential"] | {
        "set_at": None, "rotated_at": None, "origin": foreign.urls.origin, "version": 2, "last4": "WXYZ"
    }
    assert OTHER_SECRET not in moved.text
    assert (await history_types(client, created["id"]))[-2:] == ["InstanceUpdated", "CredentialRotated"]
    assert (await client.post(f"{url}/test")).json()["last_test"]["outcome"] == "ok"
    assert foreign.scenario.saw(OTHER_SECRET) and not foreign.scenario.saw(SECRET)


async def test_keep_credential_is_recorded_and_moves_the_key_on_purpose(
    client: Client, upstream: UpstreamServer, foreign: UpstreamServer
) -> None:
    created = await create(client, endpoint=upstream.urls.openai, api_key=SECRET)
    url = f"/api/v1/instances/{created['id']}"
    kept = await client.patch(url, json={"endpoint": foreign.urls.openai, "keep_credential": True})
    assert kept.status_code == 200 and kept.json()["credential"]["origin"] == foreign.urls.origin
    [event] = (await client.get(f"{url}/history")).json()[-1:]
    assert event["type"] == "InstanceUpdated"
    assert event["data"]["keep_credential"] is True and event["data"]["credential_origin"] == foreign.urls.origin


async def test_a_moved_provider_default_is_refused_until_confirmed(
    client: Client, upstream: UpstreamServer, foreign: UpstreamServer
) -> None:
    await put_gateway(client, "gw", gateway(upstream.urls.openai))
    upstream.scenario.key = SECRET
    created = await create(client, provider_id="gw", api_key=SECRET)
    url = f"/api/v1/instances/{created['id']}"
    assert [item["endpoint_status"] for item in (await client.get("/api/v1/instances")).json()] == ["ok"]
    await put_gateway(client, "gw", gateway(foreign.urls.openai))  # the default moves under the instance

    shown = await get(client, created["id"])
    assert shown["endpoint_status"] == "changed" and shown["current_origin"] == foreign.urls.origin
    assert shown["credential"]["origin"] == upstream.urls.origin
    listed = (await client.get("/api/v1/instances")).json()
    assert [item["endpoint_status"] for item in listed] == ["changed"]

    refused = await client.post(f"{url}/test")
    assert refused.status_code == 409 and refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"] == "endpoint_changed" and error_fields(refused.json()) == {"endpoint"}
    assert SECRET not in refused.text and not foreign.scenario.requests

    stale = await client.post(f"{url}/confirm-endpoint", json={}, headers={"if-match": '"1"'})
    assert stale.status_code == 409
    wrong = await client.post(f"{url}/confirm-endpoint", json={"origin": upstream.urls.origin})
    assert wrong.status_code == 409 and error_fields(wrong.json()) == {"origin"}
    confirmed = await client.post(
        f"{url}/confirm-endpoint", json={"origin": foreign.urls.origin}, headers={"if-match": f'"{shown["version"]}"'}
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["endpoint_status"] == "ok" and confirmed.json()["credential"]["origin"] == foreign.urls.origin
    [event] = (await client.get(f"{url}/history")).json()[-1:]
    assert event["type"] == "EndpointConfirmed" and event["data"]["previous_origin"] == upstream.urls.origin
    head = (await client.get("/api/v1/health")).json()["last_position"]
    assert (await client.post(f"{url}/confirm-endpoint", json={})).status_code == 200
    assert (await client.get("/api/v1/health")).json()["last_position"] == head  # already confirmed: nothing new


async def test_a_catwalk_import_over_a_shipped_provider_does_not_take_its_keys(
    client: Client, upstream: UpstreamServer, foreign: UpstreamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attack: import a provider with id `openai` pointing elsewhere, then test the victim's instance."""
    monkeypatch.setenv("OPENAI_API_ENDPOINT", upstream.urls.openai)
    created = await create(client, api_key=SECRET)
    assert created["credential"]["origin"] == upstream.urls.origin
    imported = await client.post("/api/v1/catalog/import", params={"override": "true"}, json=catwalk("openai", foreign.urls.openai, "$OPENAI_API_KEY"))
    assert imported.status_code == 200, imported.text
    refused = await client.post(f"/api/v1/instances/{created['id']}/test")
    assert refused.status_code == 409 and refused.json()["type"] == "endpoint_changed"
    assert not foreign.scenario.saw(SECRET) and not foreign.scenario.requests


async def test_a_refresh_moving_the_default_is_refused_until_confirmed(
    client: Client, foreign: UpstreamServer
) -> None:
    created = await create(client, provider_id="groq", api_key=SECRET)
    assert created["credential"]["origin"] == "https://api.groq.com"
    listed = [msgspec.to_builtins(to_catwalk(provider)) for provider in load_seed().providers]
    listed = [item | {"api_endpoint": foreign.urls.openai} if item["id"] == "groq" else item for item in listed]
    with serve_catalog(json.dumps(listed).encode()) as service:
        assert (await client.post("/api/v1/catalog/refresh", json={"url": service.url})).status_code == 200
    assert (await get(client, created["id"]))["endpoint_status"] == "changed"
    refused = await client.post(f"/api/v1/instances/{created['id']}/test")
    assert refused.status_code == 409 and not foreign.scenario.requests


async def test_a_key_set_before_origins_were_kept_is_pinned_at_start_up(
    settings: Settings, upstream: UpstreamServer
) -> None:
    events = [
        InstanceCreated(instance_id="old1", name="Old", provider_id="openai", provider_type="openai",
                        endpoint=upstream.urls.openai, timeout_ms=1000, max_attempts=1, backoff_ms=0, headers={}),
        CredentialSet(instance_id="old1", fingerprint="f" * 16, last4="ABCD", credential_version=1, verified=False),
    ]
    async with open_services(settings) as services:
        await services.store.append(stream_of("old1"), events, metadata=USER, expected_version=0)
        row = await services.instances.row("old1")
        assert row.instance.credential is not None and row.instance.credential.origin is None
    async with api_client(settings) as client:
        shown = await get(client, "old1")
        assert shown["credential"]["origin"] == upstream.urls.origin and shown["endpoint_status"] == "ok"
        [event] = (await client.get("/api/v1/instances/old1/history")).json()[-1:]
        assert event["type"] == "EndpointConfirmed" and event["actor"] == "system"


# 3. Placeholders


@pytest.mark.parametrize("endpoint", ["$MY_GATEWAY_BASE_URL", "${MY_GATEWAY_BASE_URL}"])
async def test_an_unset_placeholder_is_unresolved_never_a_public_host(client: Client, endpoint: str) -> None:
    await put_gateway(client, "gw", gateway(endpoint))
    keyed = await client.post("/api/v1/instances", json={"name": "Gw", "provider_id": "gw", "api_key": SECRET})
    assert keyed.status_code == 422 and error_fields(keyed.json()) == {"endpoint"}
    created = await create(client, name="Gw", provider_id="gw")
    assert created["endpoint_status"] == "unresolved" and created["current_origin"] is None
    refused = await client.post(f"/api/v1/instances/{created['id']}/test")
    assert refused.status_code == 409 and refused.json()["type"] == "endpoint_unresolved"
    assert await history_types(client, created["id"]) == ["InstanceCreated"]


async def test_a_shipped_placeholder_falls_back_only_while_the_shipped_endpoint_is_kept(client: Client) -> None:
    shipped = await create(client, name="OpenAI")
    assert shipped["current_origin"] == "https://api.openai.com" and shipped["endpoint_status"] == "ok"
    openai = (await client.get("/api/v1/catalog/providers/openai")).json()
    override = {key: openai[key] for key in ProviderDraft.__struct_fields__}
    await put_gateway(client, "openai", {**override, "override": True})  # an override keeping $OPENAI_API_ENDPOINT
    kept = await get(client, shipped["id"])
    assert kept["current_origin"] == "https://api.openai.com" and kept["endpoint_status"] == "ok"
    await put_gateway(client, "mine", override)  # a custom provider naming the same variable: no public fallback
    assert (await create(client, name="Mine", provider_id="mine"))["endpoint_status"] == "unresolved"
    moved = {**override, "api_endpoint": "$OTHER_API_ENDPOINT", "override": True}
    await put_gateway(client, "openai", moved)  # the override no longer keeps the shipped endpoint
    assert (await get(client, shipped["id"]))["endpoint_status"] == "unresolved"


async def test_placeholders_resolve_the_same_way_everywhere(
    client: Client, upstream: UpstreamServer, foreign: UpstreamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream.scenario.key = SECRET
    await put_gateway(client, "gw", gateway(f"${{MY_GATEWAY_BASE_URL:-{upstream.urls.openai}}}"))
    created = await create(client, name="Gw", provider_id="gw", api_key=SECRET)
    assert created["current_origin"] == upstream.urls.origin
    assert (await client.post(f"/api/v1/instances/{created['id']}/test")).json()["last_test"]["outcome"] == "ok"
    monkeypatch.setenv("MY_GATEWAY_BASE_URL", foreign.urls.openai)  # the variable now points elsewhere
    assert (await get(client, created["id"]))["endpoint_status"] == "changed"
    assert (await client.post(f"/api/v1/instances/{created['id']}/test")).status_code == 409
    assert not foreign.scenario.requests
