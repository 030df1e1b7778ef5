"""An instance's history: the whole of it oldest first as before, or paged newest first with limit and before."""

from __future__ import annotations

import httpx
import pytest

from tests.instances.conftest import Client, create

pytestmark = pytest.mark.anyio


async def instance_with_events(client: Client, updates: int) -> str:
    created = await create(client)
    for number in range(updates):
        response = await client.patch(f"/api/v1/instances/{created['id']}", json={"timeout_ms": 1000 + number})
        assert response.status_code == 200, response.text
    return str(created["id"])


def next_link(response: httpx.Response) -> str | None:
    link = response.links.get("next")
    return None if link is None else str(link["url"])


async def test_pages_run_newest_first_and_follow_next_to_the_oldest(client: Client) -> None:
    instance_id = await instance_with_events(client, updates=4)  # five events
    whole = (await client.get(f"/api/v1/instances/{instance_id}/history")).json()
    pages: list[list[int]] = []
    url: str | None = f"/api/v1/instances/{instance_id}/history?limit=2"
    while url is not None:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        pages.append([event["position"] for event in response.json()])
        url = next_link(response)
    assert [event["type"] for event in whole] == ["InstanceCreated", *["InstanceUpdated"] * 4]
    positions = [event["position"] for event in whole]
    assert pages == [positions[:2:-1][:2], positions[2:0:-1], positions[:1]]
    assert sum(pages, []) == positions[::-1]


async def test_before_alone_pages_from_that_position_down(client: Client) -> None:
    instance_id = await instance_with_events(client, updates=2)
    whole = (await client.get(f"/api/v1/instances/{instance_id}/history")).json()
    newest = whole[-1]["position"]
    response = await client.get(f"/api/v1/instances/{instance_id}/history", params={"before": newest})
    assert [event["position"] for event in response.json()] == [e["position"] for e in reversed(whole[:-1])]
    assert next_link(response) is None


async def test_a_page_past_the_oldest_event_is_empty_and_an_unknown_instance_is_not_found(client: Client) -> None:
    instance_id = await instance_with_events(client, updates=0)
    empty = await client.get(f"/api/v1/instances/{instance_id}/history", params={"before": 1, "limit": 5})
    missing = await client.get("/api/v1/instances/no-such-instance/history", params={"limit": 5})
    assert (empty.status_code, empty.json(), next_link(empty)) == (200, [], None)
    assert missing.status_code == 404


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 501}, {"before": 0}, {"limit": "many"}])
async def test_bad_paging_is_refused_with_the_field_named(client: Client, query: dict[str, object]) -> None:
    instance_id = await instance_with_events(client, updates=0)
    response = await client.get(f"/api/v1/instances/{instance_id}/history", params=query)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert {error["field"] for error in response.json()["errors"]} == set(query)
