"""Health tells the truth about the read side: a follower of the log that stopped makes it `degraded`, by name."""

from __future__ import annotations

import threading

import anyio
import pytest

from backend.audit.events import ServiceStarted
from backend.catalog.service import CatalogService
from backend.services import Services
from events import Metadata, StoredEvent
from tests.api.test_audit import Client, services_of

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
