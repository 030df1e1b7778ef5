"""API tokens: shown once, stored only as a keyed hash, names unique, revoked at once."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import anyio
import msgspec
import pytest

from backend.auth.tokens import BadTokenKey, TokenKey, new_token
from backend.settings import Settings
from tests.auth.conftest import Client, bearer, issue

pytestmark = pytest.mark.anyio
TOKEN = re.compile(r"sbt_[A-Za-z0-9_-]{43}")


async def test_the_token_key_is_32_random_bytes_in_a_0600_file_made_once(tmp_path: Path) -> None:
    path = tmp_path / "token.key"
    first = TokenKey.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(path.read_bytes()) == 32
    token = new_token()
    assert TokenKey.load_or_create(path).hash(token) == first.hash(token)
    assert TokenKey.load_or_create(tmp_path / "other.key").hash(token) != first.hash(token)
    assert "****" in repr(first) and path.read_bytes().hex() not in repr(first)
    path.write_bytes(b"short")
    with pytest.raises(BadTokenKey):
        TokenKey.load_or_create(path)


async def test_create_shows_the_token_once_and_the_log_keeps_only_a_keyed_hash(
    client: Client, settings: Settings
) -> None:
    created = await client.post("/api/v1/tokens", json={"name": "ci", "role": "operator"})
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    body = created.json()
    token = body.pop("token")
    assert TOKEN.fullmatch(token)
    assert body["name"] == "ci" and body["role"] == "operator" and body["created_by"] == "local"
    assert re.fullmatch(r"[0-9a-f]{8}", body["hash_prefix"]) and body["revoked_at"] is None
    [issued] = (await client.get("/api/v1/events?stream=tokens", headers=bearer(token))).json()["events"]
    assert issued["type"] == "TokenIssued" and issued["actor"] == "local" and token not in str(issued)
    assert set(issued["data"]) == {"type", "token_id", "name", "role", "hash_prefix"}  # the full hash is withheld
    [stored] = await client.app.state.services.store.read_stream("tokens")
    kept = msgspec.json.decode(stored.data)
    assert kept["token_hash"] == TokenKey.load_or_create(settings.token_key_file).hash(token)
    assert kept["token_hash"].startswith(body["hash_prefix"])


async def test_the_list_shows_no_token_and_no_full_hash(client: Client) -> None:
    admin = await issue(client, "root", "admin")
    await issue(client, "eye", "viewer", admin)
    listed = await client.get("/api/v1/tokens", headers=bearer(admin))
    assert [(t["name"], t["role"]) for t in listed.json()] == [("eye", "viewer"), ("root", "admin")]
    fields = {"id", "name", "role", "hash_prefix", "created_at", "created_by", "revoked_at", "revoked_by"}
    assert all(set(item) == fields for item in listed.json())
    assert admin not in listed.text


async def test_names_are_unique_among_active_tokens(client: Client) -> None:
    admin = await issue(client, "root", "admin")
    first = await client.post("/api/v1/tokens", json={"name": "ci", "role": "viewer"}, headers=bearer(admin))
    again = await client.post("/api/v1/tokens", json={"name": "CI", "role": "admin"}, headers=bearer(admin))
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")
    revoked = await client.delete(f"/api/v1/tokens/{first.json()['id']}", headers=bearer(admin))
    assert revoked.status_code == 204
    reused = await client.post("/api/v1/tokens", json={"name": "ci", "role": "viewer"}, headers=bearer(admin))
    assert reused.status_code == 201


async def test_concurrent_creates_of_one_name_issue_one_token(client: Client) -> None:
    admin = await issue(client, "root", "admin")
    statuses: list[int] = []

    async def create() -> None:
        answer = await client.post("/api/v1/tokens", json={"name": "same", "role": "viewer"}, headers=bearer(admin))
        statuses.append(answer.status_code)

    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(create)
    assert sorted(statuses) == [201] + [409] * 19
    names = [t["name"] for t in (await client.get("/api/v1/tokens", headers=bearer(admin))).json()]
    assert names.count("same") == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "role": "viewer"}, "name"),
        ({"name": "has space", "role": "viewer"}, "name"),
        ({"name": "x" * 65, "role": "viewer"}, "name"),
        ({"name": "ok", "role": "owner"}, "role"),
        ({"name": "ok"}, "role"),
        ({"name": "ok", "role": "viewer", "token": "sbt_mine"}, "token"),
    ],
)
async def test_a_bad_create_names_the_field_and_writes_nothing(client: Client, body: dict[str, str], field: str) -> None:
    answer = await client.post("/api/v1/tokens", json=body)
    assert answer.status_code in (400, 422) and answer.headers["content-type"].startswith("application/problem+json")
    assert field in answer.text
    assert (await client.get("/api/v1/events?stream=tokens")).json()["events"] == []


async def test_a_revoked_token_stops_working_at_once(client: Client) -> None:
    admin = await issue(client, "root", "admin")
    created = await client.post("/api/v1/tokens", json={"name": "gone", "role": "operator"}, headers=bearer(admin))
    gone, token_id = created.json()["token"], created.json()["id"]
    assert (await client.get("/api/v1/auth/me", headers=bearer(gone))).status_code == 200
    assert (await client.delete(f"/api/v1/tokens/{token_id}", headers=bearer(admin))).status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=bearer(gone))).status_code == 401
    assert (await client.delete(f"/api/v1/tokens/{token_id}", headers=bearer(admin))).status_code == 404
    events = (await client.get("/api/v1/events?type=TokenRevoked", headers=bearer(admin))).json()["events"]
    [revoked] = events
    assert revoked["actor"] == "token:root"
    assert revoked["data"] == {
        "type": "TokenRevoked", "token_id": token_id, "name": "gone", "role": "operator",
        "hash_prefix": created.json()["hash_prefix"],
    }
    [listed] = [t for t in (await client.get("/api/v1/tokens", headers=bearer(admin))).json() if t["id"] == token_id]
    assert listed["revoked_by"] == "token:root" and listed["revoked_at"]
