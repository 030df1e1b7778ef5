"""Refresh from a real catalog service on 127.0.0.1: ETag and 304, counts, failures that keep the catalog."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from backend.catalog.limits import MAX_MODELS
from backend.catalog.refresh import MAX_CATALOG_RESPONSE
from backend.settings import Settings
from events import SQLiteEventStore
from tests.catalog.catalog_server import CatalogServer, serve_catalog, served_list
from tests.catalog.conftest import Client, catalog_app
from tests.conftest import LOCAL_BASE_URL

pytestmark = pytest.mark.anyio
CATALOG = "/api/v1/catalog"


@pytest.fixture
def service() -> Iterator[CatalogServer]:
    with serve_catalog(json.dumps(served_list()).encode()) as server:
        yield server


async def refresh(client: Client, url: str | None = None) -> tuple[int, dict[str, Any]]:
    response = await (client.post(f"{CATALOG}/refresh", json={"url": url}) if url else client.post(f"{CATALOG}/refresh"))
    return response.status_code, response.json()


async def test_refresh_counts_changes_and_then_honours_304(client: Client, service: CatalogServer) -> None:
    status, body = await refresh(client, service.url)
    assert status == 200, body
    assert body["status"] == "updated" and body["etag"] == service.etag
    assert body["counts"] == {
        "providers_added": 0, "providers_changed": 0, "providers_removed": 1,
        "models_added": 0, "models_changed": 0, "models_removed": 17, "prices_changed": 0,
    }
    assert (await client.get(f"{CATALOG}/providers/pioneer")).status_code == 404

    status, body = await refresh(client, service.url)
    assert status == 200 and body["status"] == "not_modified"
    assert service.seen_if_none_match == [None, service.etag]

    listed = served_list()
    listed[0]["models"][0]["cost_per_1m_in"] = 99.0  # a price change
    listed[0]["models"][1]["name"] = "Renamed"  # a change that is not a price
    listed[0]["models"].pop()  # a model removed
    listed.append({**listed[1], "id": "newcomer", "name": "Newcomer"})  # a provider added
    service.body = json.dumps(listed).encode()
    status, body = await refresh(client, service.url)
    assert status == 200 and body["status"] == "updated"
    assert body["counts"] == {
        "providers_added": 1, "providers_changed": 1, "providers_removed": 0,
        "models_added": len(listed[1]["models"]), "models_changed": 2, "models_removed": 1,
        "prices_changed": 1,
    }
    changed = (await client.get(f"{CATALOG}/providers/{listed[0]['id']}")).json()
    assert changed["models"][0]["cost_per_1m_in"] == 99.0
    assert changed["source"] == f"{service.url}/v2/providers"
    assert (await client.get(f"{CATALOG}/providers/newcomer")).status_code == 200


async def test_refresh_is_an_event_and_survives_restart(settings: Settings, service: CatalogServer) -> None:
    async with AsyncTestClient(app=catalog_app(settings), base_url=LOCAL_BASE_URL) as client:
        await refresh(client, service.url)
        store: SQLiteEventStore = client.app.state.store
        (event,) = await store.read_stream("catalog")
        assert event.type == "CatalogRefreshed" and event.metadata.actor == "local"
        before = (await client.get(f"{CATALOG}/providers")).json()
    async with AsyncTestClient(app=catalog_app(settings), base_url=LOCAL_BASE_URL) as client:
        after = (await client.get(f"{CATALOG}/providers")).json()
        assert after == before
        assert after["last_refresh"]["etag"] == service.etag
        status, body = await refresh(client, service.url)
        assert body["status"] == "not_modified"


async def test_refresh_uses_the_configured_url(tmp_path: Path, service: CatalogServer) -> None:
    settings = Settings(data_dir=tmp_path / "data", catalog_url=service.url + "/")
    async with AsyncTestClient(app=catalog_app(settings), base_url=LOCAL_BASE_URL) as client:
        status, body = await refresh(client)
        assert status == 200 and body["url"] == f"{service.url}/v2/providers"


async def expect_kept(client: Client, status_code: int, reason: str, url: str) -> None:
    before = (await client.get(f"{CATALOG}/providers")).json()
    response = await client.post(f"{CATALOG}/refresh", json={"url": url})
    assert response.status_code == status_code, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert reason in response.json()["detail"] and "current catalog is kept" in response.json()["detail"]
    assert (await client.get(f"{CATALOG}/providers")).json() == before
    store: SQLiteEventStore = client.app.state.store
    assert await store.read_stream("catalog") == []


async def test_empty_list_keeps_the_catalog(client: Client, service: CatalogServer) -> None:
    service.body = b"[]"
    await expect_kept(client, 502, "listed no providers", service.url)


async def test_server_error_keeps_the_catalog(client: Client, service: CatalogServer) -> None:
    service.status = 503
    await expect_kept(client, 502, "answered HTTP 503", service.url)


async def test_garbage_keeps_the_catalog(client: Client, service: CatalogServer) -> None:
    service.body = b'{"not": "a list"}'
    await expect_kept(client, 502, "not a Catwalk provider list", service.url)


async def test_only_invalid_providers_keep_the_catalog(client: Client, service: CatalogServer) -> None:
    service.body = json.dumps([{"id": "x", "name": "X", "type": "nope", "models": []}]).encode()
    await expect_kept(client, 502, "no valid provider", service.url)


async def test_unreachable_service_keeps_the_catalog(client: Client) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    await expect_kept(client, 502, "unreachable", f"http://127.0.0.1:{port}")


async def test_slow_service_times_out_cleanly(tmp_path: Path, service: CatalogServer) -> None:
    service.delay = 1.5
    settings = Settings(data_dir=tmp_path / "data")
    async with AsyncTestClient(app=catalog_app(settings, refresh_timeout=0.3), base_url=LOCAL_BASE_URL) as client:
        await expect_kept(client, 504, "did not answer within 0.3s", service.url)


async def test_invalid_providers_are_skipped_and_reported(client: Client, service: CatalogServer) -> None:
    listed = served_list()
    listed.append({"id": "broken", "name": "Broken", "type": "openai-compat", "api_endpoint": "x", "models": []})
    service.body = json.dumps(listed).encode()
    status, body = await refresh(client, service.url)
    assert status == 200
    (skipped,) = body["skipped"]
    assert skipped["provider_id"] == "broken" and "models: must list at least one model" in skipped["reason"]


async def test_providers_over_the_size_limits_are_skipped(client: Client, service: CatalogServer) -> None:
    listed = served_list()
    huge = {**listed[0], "id": "huge", "models": [{**listed[0]["models"][0], "id": f"m{n}"} for n in range(MAX_MODELS + 1)]}
    listed.append(huge)
    service.body = json.dumps(listed).encode()
    status, body = await refresh(client, service.url)
    assert status == 200
    (skipped,) = body["skipped"]
    assert skipped["provider_id"] == "huge" and "models: must list at most 2,000 models" in skipped["reason"]
    assert (await client.get(f"{CATALOG}/providers/huge")).status_code == 404


async def test_an_oversized_answer_keeps_the_catalog(client: Client, service: CatalogServer) -> None:
    service.body = b"[" + b" " * MAX_CATALOG_RESPONSE + b"]"
    await expect_kept(client, 502, "sent more than 16 MB", service.url)
