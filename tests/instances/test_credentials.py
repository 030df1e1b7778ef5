"""Keys over HTTP: set, rotate with and without verification, remove, damaged files, bad input."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.secret import Secret
from backend.settings import Settings
from tests.conftest import LOCAL_BASE_URL
from tests.instances.conftest import (
    OTHER_SECRET,
    SECRET,
    Client,
    create,
    error_fields,
    instances_of,
    key_path,
    vault_folder,
)
from tests.upstreams import UpstreamServer

pytestmark = pytest.mark.anyio


async def put_key(client: Client, instance_id: object, key: str, verify: bool = False) -> dict[str, object]:
    response = await client.put(f"/api/v1/instances/{instance_id}/credential", json={"api_key": key, "verify": verify})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def history_types(client: Client, instance_id: object) -> list[str]:
    return [event["type"] for event in (await client.get(f"/api/v1/instances/{instance_id}/history")).json()]


async def stored_key(client: Client, instance_id: object) -> str | None:
    """The key in the instance's only credential file (a command leaves at most one)."""
    vault = instances_of(client).vault
    files = [file for file in await vault.files() if file.instance_id == instance_id]
    assert len(files) <= 1, files
    if not files or files[0].version is None:
        return None
    stored = await vault.load(str(instance_id), files[0].version)
    return stored.reveal() if stored else None


async def test_set_then_rotate_then_remove(client: Client) -> None:
    created = await create(client)
    first = await put_key(client, created["id"], SECRET)
    assert first["credential"]["last4"] == "QRST" and first["credential"]["version"] == 1  # type: ignore[index]
    rotated = await put_key(client, created["id"], OTHER_SECRET)
    credential = rotated["credential"]
    assert isinstance(credential, dict)
    assert credential["last4"] == "WXYZ" and credential["version"] == 2 and credential["rotated_at"] is not None
    assert await stored_key(client, created["id"]) == OTHER_SECRET
    response = await client.delete(f"/api/v1/instances/{created['id']}/credential")
    assert response.status_code == 200 and response.json()["credential"] is None
    assert await stored_key(client, created["id"]) is None
    again = await put_key(client, created["id"], SECRET)
    assert again["credential"]["version"] == 3  # type: ignore[index]
    assert await history_types(client, created["id"]) == [
        "InstanceCreated", "CredentialSet", "CredentialRotated", "CredentialRemoved", "CredentialSet"
    ]


async def test_rotation_event_names_both_fingerprints_not_the_keys(client: Client) -> None:
    created = await create(client, api_key=SECRET)
    await put_key(client, created["id"], OTHER_SECRET)
    events = (await client.get(f"/api/v1/instances/{created['id']}/history")).json()
    rotated = events[-1]["data"]
    assert rotated["previous_version"] == 1 and rotated["credential_version"] == 2
    assert rotated["previous_fingerprint"] == events[1]["data"]["fingerprint"] != rotated["fingerprint"]
    assert SECRET not in str(events) and OTHER_SECRET not in str(events)


async def test_the_same_key_again_records_nothing(client: Client) -> None:
    created = await create(client, api_key=SECRET)
    again = await put_key(client, created["id"], SECRET)
    assert again["version"] == created["version"]
    assert await history_types(client, created["id"]) == ["InstanceCreated", "CredentialSet"]


async def test_verified_rotation_uses_the_new_key(client: Client, upstream: UpstreamServer) -> None:
    upstream.scenario.key = OTHER_SECRET
    created = await create(client, endpoint=upstream.urls.openai, api_key=SECRET)
    rotated = await put_key(client, created["id"], OTHER_SECRET, verify=True)
    assert rotated["credential"]["verified"] is True  # type: ignore[index]
    assert upstream.scenario.requests[-1].headers["authorization"] == f"Bearer {OTHER_SECRET}"
    test = (await client.post(f"/api/v1/instances/{created['id']}/test")).json()["last_test"]
    assert test["outcome"] == "ok" and test["credential_version"] == 2


async def test_failed_verification_keeps_the_old_key_and_is_recorded(client: Client, upstream: UpstreamServer) -> None:
    upstream.scenario.key = SECRET
    created = await create(client, endpoint=upstream.urls.openai, api_key=SECRET)
    response = await client.put(
        f"/api/v1/instances/{created['id']}/credential", json={"api_key": OTHER_SECRET, "verify": True}
    )
    assert response.status_code == 422
    assert error_fields(response.json()) == {"api_key"} and "auth_failed" in response.text
    assert OTHER_SECRET not in response.text
    assert await stored_key(client, created["id"]) == SECRET
    instance = (await client.get(f"/api/v1/instances/{created['id']}")).json()
    assert instance["credential"]["version"] == 1 and instance["credential"]["last4"] == "QRST"
    events = (await client.get(f"/api/v1/instances/{created['id']}/history")).json()
    failed = events[-1]
    assert failed["type"] == "CredentialVerificationFailed"
    assert failed["data"]["outcome"] == "auth_failed" and failed["data"]["last4"] == "WXYZ"
    test = (await client.post(f"/api/v1/instances/{created['id']}/test")).json()["last_test"]
    assert test["outcome"] == "ok"


async def test_failed_verification_of_a_first_key_stores_nothing(client: Client, upstream: UpstreamServer) -> None:
    created = await create(client, endpoint=upstream.urls.openai)
    response = await client.put(f"/api/v1/instances/{created['id']}/credential", json={"api_key": SECRET, "verify": True})
    assert response.status_code == 422
    assert await stored_key(client, created["id"]) is None
    assert await history_types(client, created["id"]) == ["InstanceCreated", "CredentialVerificationFailed"]


async def test_damaged_key_file_is_named_and_not_overwritten(client: Client, upstream: UpstreamServer) -> None:
    created = await create(client, endpoint=upstream.urls.openai, api_key=SECRET)
    path = key_path(instances_of(client).vault, str(created["id"]), 1)
    path.write_bytes(b"not json")
    for response in (
        await client.post(f"/api/v1/instances/{created['id']}/test"),
        await client.put(f"/api/v1/instances/{created['id']}/credential", json={"api_key": OTHER_SECRET}),
    ):
        assert response.status_code == 409
        assert path.name in response.json()["detail"]
    assert path.read_bytes() == b"not json"
    assert (await client.delete(f"/api/v1/instances/{created['id']}/credential")).status_code == 200
    assert (await put_key(client, created["id"], OTHER_SECRET))["credential"]["version"] == 2  # type: ignore[index]


async def test_removing_a_missing_key_is_a_404(client: Client) -> None:
    created = await create(client)
    assert (await client.delete(f"/api/v1/instances/{created['id']}/credential")).status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"api_key": "short"}, 422),
        ({"api_key": "with spaces inside"}, 422),
        ({"api_key": "x" * 5000}, 422),
        ({}, 400),
        ({"api_key": SECRET, "extra": 1}, 400),
        ({"api_key": SECRET, "verify": "yes"}, 400),
    ],
)
async def test_bad_key_input_writes_nothing(client: Client, body: dict[str, object], status: int) -> None:
    created = await create(client)
    response = await client.put(f"/api/v1/instances/{created['id']}/credential", json=body)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await stored_key(client, created["id"]) is None
    assert await history_types(client, created["id"]) == ["InstanceCreated"]


async def test_restart_keeps_live_keys_and_destroys_orphans(settings: Settings) -> None:
    async with AsyncTestClient(app=create_app(settings), base_url=LOCAL_BASE_URL) as first:
        created = await create(first, api_key=SECRET)
        vault = instances_of(first).vault
    await vault.store("no-such-instance", Secret(OTHER_SECRET), 1)
    (vault_folder(vault) / ".left-by-a-crash.tmp").write_bytes(b"x")
    async with AsyncTestClient(app=create_app(settings), base_url=LOCAL_BASE_URL) as second:
        assert await stored_key(second, created["id"]) == SECRET
        assert sorted(path.name for path in vault_folder(vault).iterdir()) == [f"{created['id']}.v1.cred"]
        test = await second.get(f"/api/v1/instances/{created['id']}")
        assert test.json()["credential"]["last4"] == "QRST"


async def test_a_verified_rotation_after_a_refused_key_shows_connected_not_the_old_error(
    client: Client, upstream: UpstreamServer
) -> None:
    upstream.scenario.key = OTHER_SECRET
    created = await create(client, endpoint=upstream.urls.openai, api_key=SECRET)
    failed = (await client.post(f"/api/v1/instances/{created['id']}/test")).json()
    assert failed["status"] == "error" and failed["last_test"]["outcome"] == "auth_failed"
    rotated = await put_key(client, created["id"], OTHER_SECRET, verify=True)
    listed = (await client.get("/api/v1/instances")).json()
    for shown in (rotated, (await client.get(f"/api/v1/instances/{created['id']}")).json(), listed[0]):
        assert shown["status"] == "connected" and shown["last_test"] is None
        assert shown["key_changed_at"] is not None and shown["credential"]["verified"] is True


async def test_an_unverified_rotation_after_a_good_test_is_untested_again(
    client: Client, upstream: UpstreamServer
) -> None:
    upstream.scenario.key = SECRET
    created = await create(client, endpoint=upstream.urls.openai, api_key=SECRET)
    tested = (await client.post(f"/api/v1/instances/{created['id']}/test")).json()
    assert tested["status"] == "connected" and tested["key_changed_at"] is None
    rotated = await put_key(client, created["id"], OTHER_SECRET)
    assert rotated["status"] == "untested" and rotated["last_test"] is None and rotated["key_changed_at"]
    assert rotated["model_count"] == tested["model_count"]  # what the endpoint lists does not hang on the key
    retested = (await client.post(f"/api/v1/instances/{created['id']}/test")).json()
    assert retested["status"] == "error" and retested["key_changed_at"] is None


async def test_removing_the_key_makes_the_instance_untested(client: Client, upstream: UpstreamServer) -> None:
    upstream.scenario.key = SECRET
    created = await create(client, endpoint=upstream.urls.openai, api_key=SECRET)
    await client.post(f"/api/v1/instances/{created['id']}/test")
    removed = (await client.delete(f"/api/v1/instances/{created['id']}/credential")).json()
    assert removed["status"] == "untested" and removed["key_changed_at"] is not None


async def test_a_key_set_in_an_edit_resets_the_status(client: Client, upstream: UpstreamServer) -> None:
    upstream.scenario.key = SECRET
    created = await create(client, endpoint=upstream.urls.openai, api_key=SECRET)
    await client.post(f"/api/v1/instances/{created['id']}/test")
    response = await client.patch(f"/api/v1/instances/{created['id']}", json={"api_key": OTHER_SECRET})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "untested" and response.json()["last_test"] is None
