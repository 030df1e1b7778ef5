"""The instance list view: rebuilt from the log it equals the live one, its cache never serves stale bytes, it is fast."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import msgspec
import pytest

from backend.audit.events import SERVICE_STREAM, ViewRebuilt
from backend.instances.commands import create_instance, delete_instance, update_instance
from backend.instances.connection import run_connection_test
from backend.instances.credentials import remove_credential, set_credential
from backend.instances.events import ConnectionTested, InstanceCreated
from backend.instances.schemas import CreateInstance, SetCredential, UpdateInstance
from backend.instances.view import HOLDER_OF_NAME, TABLE, InstanceListView, evolve
from backend.services import Services, build_registry, open_services
from backend.settings import Settings
from events import Metadata, StoredEvent
from tests.instances.conftest import Client, create
from tests.upstreams import UpstreamServer

pytestmark = pytest.mark.anyio
USER = Metadata(actor="tester", request_id="r1")


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    async with open_services(settings) as opened:
        yield opened


async def snapshot(services: Services) -> tuple[bytes, list[object]]:
    view = services.instances.view
    rows = await view.all(services.store)
    return await view.list_bytes(services.store), [msgspec.to_builtins(row) for row in rows]


async def random_workload(services: Services, upstream: UpstreamServer, rounds: int) -> None:
    """Creates, edits, keys, tests and deletes chosen at random, through the domain's own commands."""
    chooser = random.Random(7)
    instances = services.instances
    ids: list[str] = []
    for number in range(rounds):
        action = chooser.choice(["create", "create", "update", "key", "test", "unkey", "delete"])
        if action == "create" or not ids:
            command = CreateInstance(name=f"instance {number}", provider_id="openai", endpoint=upstream.urls.openai)
            ids.append((await create_instance(instances, command, USER)).id)
            continue
        instance_id = chooser.choice(ids)
        instance = (await instances.row(instance_id)).instance
        if action == "update":
            await update_instance(instances, instance_id, UpdateInstance(timeout_ms=1000 + number), USER, None)
        elif action == "key":
            await set_credential(instances, instance_id, SetCredential(api_key=f"sk-key-number-{number:04d}"), USER)
        elif action == "test":
            await run_connection_test(instances, instance_id, USER)
        elif action == "unkey" and instance.credential is not None:
            await remove_credential(instances, instance_id, USER)
        elif action == "delete":
            await delete_instance(instances, instance_id, USER, instance.version)
            ids.remove(instance_id)


async def test_rebuilt_view_equals_the_live_one(services: Services, upstream: UpstreamServer) -> None:
    await random_workload(services, upstream, 60)
    live = await snapshot(services)
    assert live[0].count(b'"id"') >= 5
    await services.store.rebuild(services.instances.view)
    assert await snapshot(services) == live


async def test_list_cache_follows_every_change(services: Services) -> None:
    instances = services.instances
    assert await instances.view.list_bytes(services.store) == b"[]"
    created = await create_instance(instances, CreateInstance(name="A", provider_id="openai"), USER)
    assert b'"name":"A"' in await instances.view.list_bytes(services.store)
    await update_instance(instances, created.id, UpdateInstance(name="B"), USER, None)
    assert b'"name":"B"' in await instances.view.list_bytes(services.store)
    await delete_instance(instances, created.id, USER, None)
    assert await instances.view.list_bytes(services.store) == b"[]"


async def test_list_cache_follows_changes_another_process_commits(services: Services, settings: Settings) -> None:
    """A second set of services on the same log stands for another replica: its appends never pass through this
    process's view object, yet this process's cached list follows each of them."""
    view = services.instances.view
    assert await view.list_bytes(services.store) == b"[]"
    async with open_services(settings, serving=False) as other:
        created = await create_instance(other.instances, CreateInstance(name="Elsewhere", provider_id="openai"), USER)
        assert b'"name":"Elsewhere"' in await view.list_bytes(services.store)
        await update_instance(other.instances, created.id, UpdateInstance(name="Renamed"), USER, None)
        assert b'"name":"Renamed"' in await view.list_bytes(services.store)
        await delete_instance(other.instances, created.id, USER, None)
        assert await view.list_bytes(services.store) == b"[]"


async def test_an_unchanged_list_is_served_from_memory(services: Services) -> None:
    view = services.instances.view
    await create_instance(services.instances, CreateInstance(name="A", provider_id="openai"), USER)
    first = await view.list_bytes(services.store)
    other = ViewRebuilt(view="v", from_version=0, to_version=1, events=0, milliseconds=0.0)
    await services.store.append(SERVICE_STREAM, [other], metadata=USER)  # the log moved, but no instance changed
    assert await view.list_bytes(services.store) is first


async def test_list_holds_a_thousand_instances_in_name_order(client: Client) -> None:
    """Speed is measured by bench/instances.py; this checks what the list answers."""
    for number in range(1000):
        await create(client, name=f"instance {number:04d}", api_key=f"sk-bulk-key-{number:06d}")
    response = await client.get("/api/v1/instances")
    assert response.status_code == 200
    names = [item["name"] for item in response.json()]
    assert len(names) == 1000 and names == sorted(names)


async def test_rows_written_by_an_older_view_version_are_rebuilt_once_and_the_rebuild_is_logged(
    settings: Settings,
) -> None:
    """A data folder whose instance rows an older version wrote (a rotated key still showing the stale status and
    test) is rebuilt at start-up before anything is served, and the service stream says so once."""
    async with open_services(settings) as services:
        created = await create_instance(services.instances, CreateInstance(name="Prod", provider_id="openai"), USER)
        await set_credential(services.instances, created.id, SetCredential(api_key="sk-first-key-0001"), USER)
        await set_credential(services.instances, created.id, SetCredential(api_key="sk-second-key-0002"), USER)
        current = await snapshot(services)
    with sqlite3.connect(settings.database_path) as conn:  # as version 1 of the view left it
        body = json.loads(conn.execute("SELECT body FROM instance_view").fetchone()[0])
        stale = {**body, "status": "connected", "key_changed_at": None}
        conn.execute("UPDATE instance_view SET body = ?", (json.dumps(stale).encode(),))
        conn.execute("UPDATE view_versions SET version = 1 WHERE view = 'instances'")
    conn.close()
    async with open_services(settings) as services:
        rebuilt = await snapshot(services)
        first = await services.store.read(stream=SERVICE_STREAM, type="ViewRebuilt")
    async with open_services(settings) as services:
        second = await services.store.read(stream=SERVICE_STREAM, type="ViewRebuilt")
        decoded = services.registry.decode(first[0])
    assert rebuilt == current
    assert len(first) == 1 and second == first
    assert isinstance(decoded, ViewRebuilt)
    # the whole log was replayed: ServiceStarted and the three instance events
    assert (decoded.view, decoded.from_version, decoded.to_version, decoded.events) == (
        "instances", 1, InstanceListView.version, 4)



OLD_STYLE_TEST = (  # a ConnectionTested as stored before lists were kept only on change: the list on every test
    b'{"instance_id":"i1","outcome":"ok","http_status":200,"latency_ms":3.0,"model_count":2,'
    b'"model_ids":["a","b"],"message":"2 models listed","credential_version":null}'
)


def stored_as(type_name: str, data: bytes, version: int) -> StoredEvent:
    return StoredEvent(
        position=version, stream_id="instance-i1", version=version, event_id=f"e{version}", type=type_name,
        schema_version=1, data=msgspec.Raw(data), metadata=USER, recorded_at=datetime.now(UTC), hash="",
    )


def test_tests_stored_with_the_full_list_fold_as_before_and_a_test_without_one_keeps_the_last() -> None:
    """A failed test never replaces the list either."""
    registry = build_registry()
    created = InstanceCreated(
        instance_id="i1", name="Prod", provider_id="openai", provider_type="openai", endpoint="", timeout_ms=1000,
        max_attempts=1, backoff_ms=0, headers={}, api_version="",
    )
    old = registry.decode(stored_as("ConnectionTested", OLD_STYLE_TEST, 2))
    assert isinstance(old, ConnectionTested)
    unchanged = msgspec.structs.replace(old, model_ids=None)
    failed = msgspec.structs.replace(old, outcome="unreachable", model_count=0, model_ids=[])
    row = evolve(None, created, stored_as("InstanceCreated", msgspec.json.encode(created), 1))
    folds = []
    for version, event in ((2, old), (3, unchanged), (4, failed)):
        row = evolve(row, event, stored_as("ConnectionTested", msgspec.json.encode(event), version))
        assert row is not None
        folds.append((row.model_ids, row.instance.model_count, row.instance.status))
    assert folds == [(["a", "b"], 2, "connected"), (["a", "b"], 2, "connected"), (["a", "b"], 2, "error")]


async def test_a_name_is_looked_up_through_an_index_not_a_scan(services: Services, settings: Settings) -> None:
    """Every create and rename asks who holds a name: with the view scanned, creates slowed as instances grew."""
    with sqlite3.connect(settings.database_path) as conn:
        plan = " ".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {HOLDER_OF_NAME}", ("a", "b")))
    assert f"INDEX {TABLE}_by_sort_key" in plan and "SCAN" not in plan, plan
