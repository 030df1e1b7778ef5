"""The vault through the running service: crash ordering, start-up reconciliation, missing keys, format upgrade."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.instances.events import CredentialSet, InstanceCreated
from backend.instances.master_key import FINGERPRINT, derive
from backend.instances.view import InstanceListView
from backend.secret import Secret
from backend.services import build_registry
from backend.settings import Settings
from events import Metadata, SQLiteEventStore
from tests.conftest import api_client
from tests.instances.conftest import OTHER_SECRET, SECRET, Client, create, instances_of, key_path, vault_folder
from tests.instances.test_vault import PASSPHRASE, write_format_1
from tests.upstreams import UpstreamServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def said(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """What the backend logs; its handler sits on the `backend` logger, since the app replaces the root's."""
    logger = logging.getLogger("backend")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO)
    yield caplog
    logger.removeHandler(caplog.handler)


def file_names(client: Client) -> list[str]:
    return sorted(path.name for path in vault_folder(instances_of(client).vault).iterdir())


async def history_types(client: Client, instance_id: object) -> list[str]:
    return [event["type"] for event in (await client.get(f"/api/v1/instances/{instance_id}/history")).json()]


async def test_a_key_written_but_never_recorded_is_removed_at_start_up(
    settings: Settings, upstream: UpstreamServer, said: pytest.LogCaptureFixture
) -> None:
    upstream.scenario.key = SECRET
    async with api_client(settings) as first:
        created = await create(first, endpoint=upstream.urls.openai, api_key=SECRET)
        # a rotation that crashed between writing the new version's file and appending its event
        await instances_of(first).vault.store(str(created["id"]), Secret(OTHER_SECRET), 2)
        tested = (await first.post(f"/api/v1/instances/{created['id']}/test")).json()["last_test"]
        assert tested["outcome"] == "ok" and tested["credential_version"] == 1  # the log's version is the one used
    said.clear()
    async with api_client(settings) as second:
        assert file_names(second) == [f"{created['id']}.v1.cred"]
        assert (await second.post(f"/api/v1/instances/{created['id']}/test")).json()["last_test"]["outcome"] == "ok"
    lines = "\n".join(record.getMessage() for record in said.records)
    assert f"removed the credential file {created['id']}.v2.cred: the log never recorded this key version" in lines
    assert SECRET not in lines and OTHER_SECRET not in lines


async def test_a_superseded_version_left_by_a_crash_is_removed_at_start_up(settings: Settings) -> None:
    async with api_client(settings) as first:
        created = await create(first, api_key=SECRET)
        response = await first.put(f"/api/v1/instances/{created['id']}/credential", json={"api_key": OTHER_SECRET})
        assert response.status_code == 200
        assert file_names(first) == [f"{created['id']}.v2.cred"]
        # a rotation that crashed after its event, before removing the old version
        await instances_of(first).vault.store(str(created["id"]), Secret(SECRET), 1)
    async with api_client(settings) as second:
        assert file_names(second) == [f"{created['id']}.v2.cred"]
        loaded = await instances_of(second).vault.load(str(created["id"]), 2)
        assert loaded is not None and loaded.reveal() == OTHER_SECRET


async def test_a_failed_append_removes_the_new_version_and_keeps_the_old_key(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = await create(client, api_key=SECRET)
    instances = instances_of(client)

    async def failing_append(*args: object, **kwargs: object) -> None:
        assert len(await instances.vault.files()) == 2  # the new version is on disk before the append
        raise OSError("disk full")

    monkeypatch.setattr(instances, "append", failing_append)
    response = await client.put(f"/api/v1/instances/{created['id']}/credential", json={"api_key": OTHER_SECRET})
    assert response.status_code == 500
    monkeypatch.undo()
    assert file_names(client) == [f"{created['id']}.v1.cred"]
    assert await history_types(client, created["id"]) == ["InstanceCreated", "CredentialSet"]


async def test_a_missing_key_file_refuses_the_test_until_the_key_is_set_again(
    client: Client, upstream: UpstreamServer
) -> None:
    upstream.scenario.key = SECRET
    created = await create(client, endpoint=upstream.urls.openai, api_key=SECRET)
    instance_id = str(created["id"])
    key_path(instances_of(client).vault, instance_id, 1).unlink()
    response = await client.post(f"/api/v1/instances/{instance_id}/test")
    assert response.status_code == 409
    problem = response.json()
    assert problem["title"] == "Key missing" and f"PUT /api/v1/instances/{instance_id}/credential" in problem["detail"]
    assert response.headers["content-type"].startswith("application/problem+json")
    assert upstream.scenario.requests == []  # nothing was sent, with or without a key
    assert await history_types(client, instance_id) == ["InstanceCreated", "CredentialSet"]
    assert (await client.get(f"/api/v1/instances/{instance_id}")).json()["key_missing"] is True
    assert [row["key_missing"] for row in (await client.get("/api/v1/instances")).json()] == [True]
    again = await client.put(f"/api/v1/instances/{instance_id}/credential", json={"api_key": SECRET})
    assert again.status_code == 200 and again.json()["credential"]["version"] == 2
    assert (await client.get(f"/api/v1/instances/{instance_id}")).json()["key_missing"] is False
    assert [row["key_missing"] for row in (await client.get("/api/v1/instances")).json()] == [False]
    tested = (await client.post(f"/api/v1/instances/{instance_id}/test")).json()["last_test"]
    assert tested["outcome"] == "ok" and tested["credential_version"] == 2


async def test_a_key_file_gone_while_stopped_shows_at_start_up(
    settings: Settings, said: pytest.LogCaptureFixture
) -> None:
    async with api_client(settings) as first:
        created = await create(first, api_key=SECRET)
        keyless = await create(first, name="No key")
        key_path(instances_of(first).vault, str(created["id"]), 1).unlink()
    said.clear()
    async with api_client(settings) as second:
        shown = {row["id"]: row["key_missing"] for row in (await second.get("/api/v1/instances")).json()}
        assert shown == {created["id"]: True, keyless["id"]: False}
        assert (await second.post(f"/api/v1/instances/{created['id']}/test")).status_code == 409
    expected = f"instance {created['id']} has a recorded key but no credential file"
    assert any(expected in record.getMessage() for record in said.records)


async def test_a_format_1_data_folder_is_upgraded_once_and_keeps_working(
    tmp_path: Path, upstream: UpstreamServer
) -> None:
    settings = Settings(data_dir=tmp_path / "data", master_key=Secret(PASSPHRASE))
    old_fingerprint = hmac.new(derive(PASSPHRASE.encode(), FINGERPRINT), SECRET.encode(), hashlib.sha256).hexdigest()
    registry = build_registry()
    settings.data_dir.mkdir(mode=0o700)
    async with SQLiteEventStore.open(
        settings.database_path, registry=registry, inline_views=[InstanceListView(registry)]
    ) as store:
        created = InstanceCreated(
            instance_id="abc", name="Old", provider_id="openai", provider_type="openai",
            endpoint=upstream.urls.openai, timeout_ms=5000, max_attempts=1, backoff_ms=10, headers={},
        )
        key_set = CredentialSet(
            instance_id="abc", fingerprint=old_fingerprint, last4=SECRET[-4:], credential_version=1, verified=False
        )
        await store.append("instance-abc", [created, key_set], metadata=Metadata(actor="user"))
    write_format_1(settings.credentials_dir, "abc", 1, SECRET, PASSPHRASE.encode())
    upstream.scenario.key = SECRET
    for _ in range(2):
        async with api_client(settings) as client:
            assert file_names(client) == ["abc.v1.cred"]
            tested = (await client.post("/api/v1/instances/abc/test")).json()["last_test"]
            assert tested["outcome"] == "ok"
            same = await client.put("/api/v1/instances/abc/credential", json={"api_key": SECRET})
            assert same.json()["credential"]["version"] == 1  # the fingerprint still matches: nothing recorded
            upgrades = (await client.get("/api/v1/events", params={"type": "VaultUpgraded"})).json()["events"]
    assert len(upgrades) == 1
    assert upgrades[0]["actor"] == "system" and upgrades[0]["stream_id"] == "service"
    assert upgrades[0]["data"] == {"type": "VaultUpgraded", "count": 1, "from_format": 1, "to_format": 2}
