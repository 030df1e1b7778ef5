"""Health tells the truth about the read side: a follower of the log that stopped makes it `degraded`, by name; a
search while the search index is stopped is refused (503) rather than answered from a stale index."""

from __future__ import annotations

import threading

import anyio
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.audit.events import ServiceStarted
from backend.audit.search_view import AuditSearchView
from backend.catalog.service import CatalogService
from backend.services import Services
from events import Metadata, StoredEvent
from tests.api.test_audit import Client, services_of
from tests.conftest import LOCAL_BASE_URL

pytestmark = pytest.mark.anyio
FOLLOWER_FAILED_WITHIN = 30.0  # seconds; a guard against hanging, not a wait


def break_the_catalog_follower(services: Services, fired: threading.Event, seen: list[int]) -> None:
    """The catalog's follower raises on the next batch it is given, as a bug or a broken disk would make it."""

    async def broken(batch: list[StoredEvent]) -> None:
        seen.append(batch[-1].position)
        fired.set()
        raise RuntimeError(f"cannot apply the batch ending at position {batch[-1].position}")

    catalog: CatalogService = services.catalog
    catalog._take = broken  # type: ignore[method-assign]


async def test_health_is_ok_with_no_problems(client: Client) -> None:
    body = (await client.get("/api/v1/health")).json()
    assert (body["status"], body["problems"]) == ("ok", [])


async def test_a_stopped_catalog_follower_makes_health_degraded_with_its_name_and_error(client: Client) -> None:
    services = services_of(client)
    fired, seen = threading.Event(), list[int]()
    break_the_catalog_follower(services, fired, seen)

    async def append() -> None:
        started = ServiceStarted(version="x", data_dir="d")
        await services.store.append("service", [started], metadata=Metadata(actor="t"))

    await anyio.to_thread.run_sync(client.blocking_portal.call, append)
    assert await anyio.to_thread.run_sync(fired.wait, FOLLOWER_FAILED_WITHIN)
    body = (await client.get("/api/v1/health")).json()
    assert body["status"] == "degraded"
    assert body["problems"] == [
        {"name": "catalog", "error": f"RuntimeError: cannot apply the batch ending at position {seen[0]}"}
    ]


async def test_a_stopped_search_index_makes_health_degraded_and_search_a_503_until_it_indexes_again(
    app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(view: AuditSearchView, conn: object, events: list[StoredEvent]) -> None:
        raise RuntimeError("cannot index this batch")

    monkeypatch.setattr(AuditSearchView, "apply", broken)
    async with AsyncTestClient(app=app, base_url=LOCAL_BASE_URL) as client:
        refused = await client.get("/api/v1/audit/events", params={"q": "ServiceStarted"})
        degraded = (await client.get("/api/v1/health")).json()
        monkeypatch.undo()
        searched = await client.get("/api/v1/audit/events", params={"q": "ServiceStarted"})
        healthy = (await client.get("/api/v1/health")).json()
    assert refused.status_code == 503 and refused.headers["content-type"].startswith("application/problem+json")
    assert "RuntimeError: cannot index this batch" in refused.json()["detail"]
    assert degraded["status"] == "degraded"
    assert degraded["problems"] == [{"name": "audit_search", "error": "RuntimeError: cannot index this batch"}]
    assert searched.status_code == 200 and searched.json()["events"]
    assert (healthy["status"], healthy["problems"]) == ("ok", [])
