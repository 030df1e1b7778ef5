"""The audit routes: health, the paged and filtered event list, bad input, OpenAPI and docs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.audit.events import ServiceStarted
from backend.services import Services
from events import Metadata

pytestmark = pytest.mark.anyio
Client = AsyncTestClient[Litestar]


def services_of(client: Client) -> Services:
    services: Services = client.app.state.services
    return services


async def append_started(client: Client, stream: str, actor: str, count: int = 1) -> None:
    """Append on the app's own event loop (the test client runs the app in a portal thread)."""
    store = services_of(client).store

    async def append_all() -> None:
        for n in range(count):
            event = ServiceStarted(version=f"test-{n}", data_dir="/nowhere")
            await store.append(stream, [event], metadata=Metadata(actor=actor, request_id=f"r{n}"))

    await anyio.to_thread.run_sync(client.blocking_portal.call, append_all)


async def test_health_counts_the_start_event(client: Client) -> None:
    response = await client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["last_position"] == 1
    assert body["event_count"] == 1


async def test_start_is_logged_with_a_readable_summary(client: Client) -> None:
    body = (await client.get("/api/v1/events")).json()
    [event] = body["events"]
    assert event["type"] == "ServiceStarted"
    assert event["actor"] == "system"
    assert event["stream_id"] == "service"
    assert event["summary"].startswith("Switchboard ")
    assert event["data"]["data_dir"].endswith("data")
    assert body["next_after"] == 1 and body["head"] == 1


async def test_pages_follow_position(client: Client) -> None:
    await append_started(client, "s-a", "alice", count=7)
    first = (await client.get("/api/v1/events", params={"limit": 3})).json()
    assert [e["position"] for e in first["events"]] == [1, 2, 3]
    second = (await client.get("/api/v1/events", params={"after": first["next_after"], "limit": 3})).json()
    assert [e["position"] for e in second["events"]] == [4, 5, 6]
    assert second["head"] == 8


async def test_filters_by_stream_type_and_actor(client: Client) -> None:
    await append_started(client, "s-a", "alice", count=2)
    await append_started(client, "s-b", "bob", count=3)
    by_stream = (await client.get("/api/v1/events", params={"stream": "s-b"})).json()["events"]
    assert {e["stream_id"] for e in by_stream} == {"s-b"} and len(by_stream) == 3
    by_actor = (await client.get("/api/v1/events", params={"actor": "alice"})).json()["events"]
    assert [e["actor"] for e in by_actor] == ["alice", "alice"]
    by_type = (await client.get("/api/v1/events", params={"type": "ServiceStarted"})).json()["events"]
    assert len(by_type) == 6
    none = (await client.get("/api/v1/events", params={"type": "NoSuchEvent"})).json()["events"]
    assert none == []


async def test_filters_by_time(client: Client) -> None:
    now = datetime.now(UTC)
    later = (now + timedelta(hours=1)).isoformat()
    earlier = (now - timedelta(hours=1)).isoformat()
    assert (await client.get("/api/v1/events", params={"since": later})).json()["events"] == []
    assert len((await client.get("/api/v1/events", params={"since": earlier})).json()["events"]) == 1
    assert (await client.get("/api/v1/events", params={"until": earlier})).json()["events"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"after": "-1"}, "after"),
        ({"after": "abc"}, "after"),
        ({"after": str(2**63)}, "after"),
        ({"since": "yesterday"}, "since"),
        ({"colour": "blue"}, "colour"),
    ],
)
async def test_bad_query_is_a_problem_naming_the_field(client: Client, params: dict[str, str], field: str) -> None:
    response = await client.get("/api/v1/events", params=params)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 400
    assert field in [error["field"] for error in problem["errors"]]


async def test_since_after_until_is_refused(client: Client) -> None:
    now = datetime.now(UTC)
    params = {"since": now.isoformat(), "until": (now - timedelta(days=1)).isoformat()}
    response = await client.get("/api/v1/events", params=params)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "until"


async def test_unknown_route_is_a_problem(client: Client) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_openapi_lists_the_routes(client: Client) -> None:
    schema = (await client.get("/api/schema/openapi.json")).json()
    assert {"/api/v1/health", "/api/v1/events"} <= set(schema["paths"])

