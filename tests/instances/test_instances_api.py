"""Instance CRUD over HTTP: create, list, detail, update with If-Match, delete, history, bad input."""

from __future__ import annotations

import pytest

from tests.instances.conftest import SECRET, Client, create, error_fields, instances_of, key_path, vault_folder

pytestmark = pytest.mark.anyio


async def events_of(client: Client, instance_id: object) -> list[dict[str, object]]:
    response = await client.get(f"/api/v1/instances/{instance_id}/history")
    assert response.status_code == 200
    events: list[dict[str, object]] = response.json()
    return events


async def test_create_then_list_and_detail_read_the_write(client: Client) -> None:
    created = await create(client, endpoint="https://gateway.example.com/v1", headers={"X-Team": "blue"})
    assert created["name"] == "OpenAI Dev" and created["provider_type"] == "openai"
    assert created["status"] == "untested" and created["credential"] is None and created["version"] == 1
    assert created["timeout_ms"] == 30_000 and created["max_attempts"] == 3 and created["backoff_ms"] == 500
    listed = (await client.get("/api/v1/instances")).json()
    assert [item["id"] for item in listed] == [created["id"]]
    detail = (await client.get(f"/api/v1/instances/{created['id']}")).json()
    assert detail == created == listed[0]


async def test_several_instances_of_one_provider_listed_by_name(client: Client) -> None:
    await create(client, name="OpenAI Prod")
    await create(client, name="openai dev")
    await create(client, name="Anthropic", provider_id="anthropic")
    names = [item["name"] for item in (await client.get("/api/v1/instances")).json()]
    assert names == ["Anthropic", "openai dev", "OpenAI Prod"]


async def test_create_with_key_records_credential_but_never_the_key(client: Client) -> None:
    created = await create(client, api_key=SECRET)
    credential = created["credential"]
    assert isinstance(credential, dict)
    assert credential["last4"] == SECRET[-4:] and credential["version"] == 1 and len(credential["fingerprint"]) == 64
    history = await events_of(client, created["id"])
    assert [event["type"] for event in history] == ["InstanceCreated", "CredentialSet"]
    assert SECRET not in str(history)
    assert all(event["actor"] == "local" and event["request_id"] for event in history)


async def test_request_id_comes_from_the_header_but_the_actor_does_not(client: Client) -> None:
    headers = {"x-switchboard-actor": "alice", "x-request-id": "req-42"}
    response = await client.post("/api/v1/instances", json={"name": "A", "provider_id": "openai"}, headers=headers)
    [event] = await events_of(client, response.json()["id"])
    assert event["actor"] == "local" and event["request_id"] == "req-42"
    assert response.json()["created_by"] == "local"


async def test_idempotency_key_makes_a_retried_create_create_nothing(client: Client) -> None:
    headers = {"idempotency-key": "create-once"}
    body = {"name": "Once", "provider_id": "openai", "api_key": SECRET}
    first = await client.post("/api/v1/instances", json=body, headers=headers)
    second = await client.post("/api/v1/instances", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert len((await client.get("/api/v1/instances")).json()) == 1
    assert len(await events_of(client, first.json()["id"])) == 2


async def test_idempotency_key_of_a_deleted_instance_is_a_409_and_stores_no_key(client: Client) -> None:
    headers = {"idempotency-key": "create-then-delete"}
    body = {"name": "Gone", "provider_id": "openai", "api_key": SECRET}
    created = (await client.post("/api/v1/instances", json=body, headers=headers)).json()
    assert (await client.delete(f"/api/v1/instances/{created['id']}")).status_code == 204
    again = await client.post("/api/v1/instances", json=body, headers=headers)
    assert again.status_code == 409
    assert not list(vault_folder(instances_of(client).vault).iterdir())


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": "", "provider_id": "nope"}, {"name", "provider_id"}),
        ({"name": "x", "provider_id": "openai", "endpoint": "ftp://host"}, {"endpoint"}),
        ({"name": "x", "provider_id": "openai", "endpoint": "https://user:pw@host"}, {"endpoint"}),
        ({"name": "x", "provider_id": "openai", "endpoint": "not a url"}, {"endpoint"}),
        (
            {"name": "x", "provider_id": "openai", "timeout_ms": 0, "max_attempts": 0, "backoff_ms": -1},
            {"timeout_ms", "max_attempts", "backoff_ms"},
        ),
        (
            {"name": "x", "provider_id": "openai", "headers": {"Authorization": "Bearer x", "bad name": "v", "X-Ok": "a\nb"}},
            {"headers.Authorization", "headers.bad name", "headers.X-Ok"},
        ),
        ({"name": "x", "provider_id": "openai", "api_key": "short"}, {"api_key"}),
        ({"name": "x", "provider_id": "openai", "api_key": "has spaces in it"}, {"api_key"}),
        ({"name": "x", "provider_id": "openai", "api_version": "v 1?"}, {"api_version"}),
        ({"name": "x", "provider_id": "azure"}, {"endpoint"}),
    ],
)
async def test_bad_create_names_every_field_and_writes_nothing(
    client: Client, body: dict[str, object], fields: set[str]
) -> None:
    head = (await client.get("/api/v1/health")).json()["last_position"]
    response = await client.post("/api/v1/instances", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert error_fields(response.json()) == fields
    assert (await client.get("/api/v1/health")).json()["last_position"] == head
    assert not list(vault_folder(instances_of(client).vault).iterdir())


@pytest.mark.parametrize(
    "body",
    [{"provider_id": "openai"}, {"name": "x", "provider_id": "openai", "colour": "red"}, {"name": "x", "provider_id": "openai", "timeout_ms": "slow"}],
)
async def test_malformed_create_body_is_a_400(client: Client, body: dict[str, object]) -> None:
    response = await client.post("/api/v1/instances", json=body)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/api/v1/instances")).json() == []


async def test_duplicate_name_is_refused(client: Client) -> None:
    await create(client, name="Prod")
    response = await client.post("/api/v1/instances", json={"name": " prod ", "provider_id": "openai"})
    assert response.status_code == 422 and error_fields(response.json()) == {"name"}


async def test_rename_keeps_names_unique_and_the_list_in_name_order(client: Client) -> None:
    ids = {name: str((await create(client, name=name))["id"]) for name in ("Prod", "Prod 2", "beta", "Zeta")}

    def listed(body: list[dict[str, object]]) -> list[object]:
        return [item["name"] for item in body]

    assert listed((await client.get("/api/v1/instances")).json()) == ["beta", "Prod", "Prod 2", "Zeta"]
    taken = await client.patch(f"/api/v1/instances/{ids['Zeta']}", json={"name": " PROD "})
    assert taken.status_code == 422 and error_fields(taken.json()) == {"name"}
    renamed = await client.patch(f"/api/v1/instances/{ids['Zeta']}", json={"name": "prod 1"})  # between the two
    assert renamed.status_code == 200, renamed.text
    assert (await client.patch(f"/api/v1/instances/{ids['Prod']}", json={"name": "Alpha"})).status_code == 200
    assert (await client.patch(f"/api/v1/instances/{ids['beta']}", json={"name": "Prod"})).status_code == 200  # freed
    assert listed((await client.get("/api/v1/instances")).json()) == ["Alpha", "Prod", "prod 1", "Prod 2"]


async def test_update_records_only_changed_fields_before_and_after(client: Client) -> None:
    created = await create(client, endpoint="https://a.example.com/v1")
    response = await client.patch(
        f"/api/v1/instances/{created['id']}",
        json={"name": "OpenAI Dev", "timeout_ms": 5000, "headers": {"X-A": "1"}},
        headers={"if-match": "1"},
    )
    assert response.status_code == 200
    updated = response.json()
    assert updated["timeout_ms"] == 5000 and updated["headers"] == {"X-A": "1"} and updated["version"] == 2
    last = (await events_of(client, created["id"]))[-1]
    assert last["type"] == "InstanceUpdated"
    assert last["data"]["before"] == {"timeout_ms": 30000, "headers": {}}
    assert last["data"]["after"] == {"timeout_ms": 5000, "headers": {"X-A": "1"}}


async def test_endpoint_can_be_cleared_back_to_the_catalog_default(client: Client) -> None:
    created = await create(client, endpoint="https://a.example.com/v1")
    cleared = (await client.patch(f"/api/v1/instances/{created['id']}", json={"endpoint": None})).json()
    assert cleared["endpoint"] == ""
    last = (await events_of(client, created["id"]))[-1]
    assert last["data"]["after"] == {"endpoint": ""}


async def test_update_without_change_records_nothing(client: Client) -> None:
    created = await create(client)
    response = await client.patch(f"/api/v1/instances/{created['id']}", json={"name": "OpenAI Dev"})
    assert response.status_code == 200 and response.json()["version"] == 1
    assert len(await events_of(client, created["id"])) == 1


async def test_stale_if_match_is_a_409_and_writes_nothing(client: Client) -> None:
    created = await create(client)
    url = f"/api/v1/instances/{created['id']}"
    assert (await client.patch(url, json={"timeout_ms": 1000}, headers={"if-match": '"1"'})).status_code == 200
    stale = await client.patch(url, json={"timeout_ms": 2000}, headers={"if-match": "1"})
    assert stale.status_code == 409
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert (await client.delete(url, headers={"if-match": "1"})).status_code == 409
    assert (await client.get(url)).json()["timeout_ms"] == 1000
    assert (await client.patch(url, json={"timeout_ms": 2}, headers={"if-match": "two"})).status_code == 422


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": "", "timeout_ms": -5}, {"name", "timeout_ms"}),
        ({"endpoint": "gopher://x", "max_attempts": 99}, {"endpoint", "max_attempts"}),
        ({"headers": {"X-Api-Key": "k"}}, {"headers.X-Api-Key"}),
    ],
)
async def test_bad_update_names_every_field_and_writes_nothing(
    client: Client, body: dict[str, object], fields: set[str]
) -> None:
    created = await create(client)
    response = await client.patch(f"/api/v1/instances/{created['id']}", json=body)
    assert response.status_code == 422 and error_fields(response.json()) == fields
    assert (await client.get(f"/api/v1/instances/{created['id']}")).json() == created


async def test_delete_destroys_credential_and_keeps_history(client: Client) -> None:
    created = await create(client, api_key=SECRET)
    vault = instances_of(client).vault
    assert key_path(vault, str(created["id"]), 1).exists()
    response = await client.delete(f"/api/v1/instances/{created['id']}", headers={"if-match": "2"})
    assert response.status_code == 204
    assert not await vault.exists(str(created["id"]), 1)
    assert (await client.get(f"/api/v1/instances/{created['id']}")).status_code == 404
    assert (await client.get("/api/v1/instances")).json() == []
    history = await events_of(client, created["id"])
    assert history[-1]["type"] == "InstanceDeleted" and history[-1]["data"]["credential_destroyed"] is True


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("PUT", "/credential"),
        ("DELETE", "/credential"),
        ("POST", "/test"),
        ("GET", "/models"),
        ("POST", "/models"),
        ("GET", "/history"),
    ],
)
async def test_unknown_instance_is_a_404_on_every_route(client: Client, method: str, path: str) -> None:
    bodies = {"PATCH": {"name": "x"}, "PUT": {"api_key": SECRET}, "POST": {"model_id": "m"}}
    response = await client.request(method, f"/api/v1/instances/nope{path}", json=bodies.get(method) if path != "/test" else None)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_unknown_query_parameter_is_refused(client: Client) -> None:
    response = await client.get("/api/v1/instances", params={"colour": "red"})
    assert response.status_code == 400 and error_fields(response.json()) == {"colour"}


async def test_openapi_lists_every_instance_route(client: Client) -> None:
    paths = set((await client.get("/api/schema/openapi.json")).json()["paths"])
    assert {
        "/api/v1/instances",
        "/api/v1/instances/{instance_id}",
        "/api/v1/instances/{instance_id}/credential",
        "/api/v1/instances/{instance_id}/test",
        "/api/v1/instances/{instance_id}/models",
        "/api/v1/instances/{instance_id}/history",
        "/api/v1/import/env",
    } <= paths


async def test_an_instance_says_whether_its_provider_needs_a_key_and_its_resolved_default(client: Client) -> None:
    keyed = await create(client, name="Keyless OpenAI")
    assert keyed["key_required"] is True and keyed["credential"] is None
    assert keyed["default_endpoint"] == "https://api.openai.com/v1"
    assert keyed["current_origin"] == "https://api.openai.com"
