"""A provider as the catalog showed it at a log position or time: the seed, refreshes from a real catalog service,
and custom providers created, updated, grown, overriding a shipped one and deleted — on a real SQLite file."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import anyio
import msgspec
import pytest

from backend.catalog.schema import Model
from events import Metadata, SQLiteEventStore
from tests.catalog.catalog_server import serve_catalog, served_list
from tests.catalog.conftest import Client, catalog_of
from tests.catalog.test_custom_api import template

pytestmark = pytest.mark.anyio
CATALOG = "/api/v1/catalog"
JSON = dict[str, Any]


def store_of(client: Client) -> SQLiteEventStore:
    store: SQLiteEventStore = client.app.state.store
    return store


class Timeline:
    """What GET /providers/{id} answered after each step, with the log position then."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.seen: list[tuple[int, str, int, JSON | None]] = []

    async def snap(self, *provider_ids: str) -> None:
        head = await store_of(self.client).head()
        for provider_id in provider_ids:
            response = await self.client.get(f"{CATALOG}/providers/{provider_id}")
            assert response.status_code in (200, 404), response.text
            shown = response.json() if response.is_success else None
            self.seen.append((head, provider_id, response.status_code, shown))


async def as_of(client: Client, provider_id: str, point: object) -> Any:
    return await client.get(f"{CATALOG}/providers/{provider_id}", params={"as_of": str(point)})


async def live_through(client: Client) -> Timeline:
    """seed → create acme → update it → add a model → override openai → refresh (drops pioneer, reprices openai)
    → delete acme → delete the override."""
    timeline = Timeline(client)
    await timeline.snap("openai", "pioneer", "acme")
    draft = await template(client, "ollama")
    assert (await client.put(f"{CATALOG}/custom/acme", json=draft)).status_code == 201
    await timeline.snap("acme")
    assert (await client.put(f"{CATALOG}/custom/acme", json={**draft, "name": "Acme Local"})).status_code == 200
    await timeline.snap("acme")
    model = msgspec.convert({**draft["models"][0], "id": "acme-2", "name": "Acme 2"}, Model)
    add = partial(catalog_of(client.app.state).add_model, "acme", model, Metadata(actor="local"))
    await anyio.to_thread.run_sync(client.blocking_portal.call, add)  # on the app's own loop
    await timeline.snap("acme")
    openai = (await client.get(f"{CATALOG}/providers/openai")).json()
    override = {key: openai[key] for key in draft} | {"name": "OpenAI (ours)", "override": True}
    assert (await client.put(f"{CATALOG}/custom/openai", json=override)).status_code == 201, "override"
    await timeline.snap("openai")
    listed = served_list()
    listed[[p["id"] for p in listed].index("openai")]["models"][0]["cost_per_1m_in"] = 99.0
    with serve_catalog(json.dumps(listed).encode()) as service:
        assert (await client.post(f"{CATALOG}/refresh", json={"url": service.url})).status_code == 200
    await timeline.snap("pioneer", "openai")
    assert (await client.delete(f"{CATALOG}/custom/acme")).status_code == 200
    assert (await client.delete(f"{CATALOG}/custom/openai")).status_code == 200
    await timeline.snap("acme", "openai")
    return timeline


async def test_as_of_each_position_answers_what_the_catalog_showed_then(client: Client) -> None:
    timeline = await live_through(client)
    for position, provider_id, status, shown in timeline.seen:
        response = await as_of(client, provider_id, position)
        assert response.status_code == status, (position, provider_id, response.text)
        if shown is not None:
            assert response.json() == shown, (position, provider_id)
    openai = [shown for _, pid, _, shown in timeline.seen if pid == "openai" and shown]
    assert [shown["name"] for shown in openai] == ["OpenAI", "OpenAI (ours)", "OpenAI (ours)", "OpenAI"]
    assert openai[0]["models"][0]["cost_per_1m_in"] != 99.0 and openai[-1]["models"][0]["cost_per_1m_in"] == 99.0
    acme = [shown for _, pid, _, shown in timeline.seen if pid == "acme" and shown]
    assert [len(shown["models"]) for shown in acme] == [1, 1, 2] and [p["version"] for p in acme] == [1, 2, 3]


async def test_as_of_a_time_includes_what_was_recorded_at_that_time(client: Client) -> None:
    timeline = await live_through(client)
    stored = await store_of(client).read(limit=500)
    at = {event.position: event.recorded_at for event in stored}
    for position, provider_id, status, shown in timeline.seen:
        if position in at:
            response = await as_of(client, provider_id, at[position].isoformat())
            assert response.status_code == status and (shown is None or response.json() == shown)
    before_all = await as_of(client, "acme", "2000-01-01T00:00:00+00:00")
    assert before_all.status_code == 404


async def test_a_deleted_custom_provider_is_still_shown_as_it_was(client: Client) -> None:
    timeline = await live_through(client)
    assert (await client.get(f"{CATALOG}/providers/acme")).status_code == 404
    last = next(position for position, pid, status, _ in reversed(timeline.seen) if pid == "acme" and status == 200)
    response = await as_of(client, "acme", last)
    assert response.status_code == 200 and response.json()["name"] == "Acme Local"
    gone = await as_of(client, "acme", await store_of(client).head())
    assert gone.status_code == 404 and gone.headers["content-type"].startswith("application/problem+json")
    assert "acme" in gone.json()["detail"]


@pytest.mark.parametrize("value", ["soon", "-2", "2026-05-01T00:00:00", "2026-02-30T00:00:00Z", "9" * 30, ""])
async def test_a_bad_as_of_is_a_400_naming_it(client: Client, value: str) -> None:
    response = await as_of(client, "openai", value)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert {error["field"] for error in response.json()["errors"]} == {"as_of"}
