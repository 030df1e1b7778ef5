"""Who a request acts as: `local` with no tokens on loopback, otherwise the token it carries, never a header."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.auth import AUTH_COOKIE, Role, Unprotected
from backend.settings import Settings
from tests.auth.conftest import Client, bearer, issue, switchboard
from tests.conftest import api_client

pytestmark = pytest.mark.anyio
INSTANCE = {"name": "OpenAI Dev", "provider_id": "openai"}


async def actors_of(client: Client, instance_id: str, token: str) -> set[str]:
    history = (await client.get(f"/api/v1/instances/{instance_id}/history", headers=bearer(token))).json()
    return {event["actor"] for event in history}


async def test_without_tokens_on_loopback_requests_act_as_local_admin(client: Client) -> None:
    me = await client.get("/api/v1/auth/me")
    assert me.json() == {"actor": "local", "role": "admin", "mode": "local", "auth_required": False}
    created = await client.post("/api/v1/instances", json=INSTANCE)
    assert created.status_code == 201 and created.json()["created_by"] == "local"


async def test_the_actor_header_changes_nothing(client: Client) -> None:
    forged = {"X-Switchboard-Actor": "env-import"}
    created = await client.post("/api/v1/instances", json=INSTANCE, headers=forged)
    assert created.json()["created_by"] == "local"
    admin = await issue(client, "alice", "admin")
    changed = await client.patch(
        f"/api/v1/instances/{created.json()['id']}", json={"name": "Renamed"}, headers={**forged, **bearer(admin)}
    )
    assert changed.status_code == 200, changed.text
    assert await actors_of(client, created.json()["id"], admin) == {"local", "token:alice"}


async def test_once_a_token_exists_every_request_needs_one(client: Client, tokens: dict[Role, str]) -> None:
    refused = await client.get("/api/v1/instances")
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.headers["www-authenticate"] == "Bearer"
    assert refused.json()["status"] == 401 and refused.json()["title"] == "Authentication required"
    for wrong in ("Bearer nonsense", "Bearer sbt_" + "A" * 43, f"Basic {tokens['admin']}", tokens["admin"]):
        assert (await client.get("/api/v1/instances", headers={"Authorization": wrong})).status_code == 401
    me = await client.get("/api/v1/auth/me", headers=bearer(tokens["operator"]))
    assert me.json() == {"actor": "token:op", "role": "operator", "mode": "token", "auth_required": True}


async def test_the_cookie_carries_a_token_for_browsers(client: Client, tokens: dict[Role, str]) -> None:
    client.cookies.set(AUTH_COOKIE, tokens["viewer"])
    assert (await client.get("/api/v1/auth/me")).json()["actor"] == "token:eye"
    client.cookies.set(AUTH_COOKIE, "sbt_" + "B" * 43)
    assert (await client.get("/api/v1/auth/me")).status_code == 401


async def test_a_bad_bearer_token_is_refused_even_in_local_mode_a_stale_cookie_is_not(client: Client) -> None:
    assert (await client.get("/api/v1/auth/me", headers=bearer("sbt_" + "C" * 43))).status_code == 401
    client.cookies.set(AUTH_COOKIE, "sbt_" + "C" * 43)
    assert (await client.get("/api/v1/auth/me")).json()["actor"] == "local"


async def test_revoking_every_token_does_not_reopen_the_server(client: Client, settings: Settings) -> None:
    admin = await issue(client, "root", "admin")
    [listed] = (await client.get("/api/v1/tokens", headers=bearer(admin))).json()
    assert (await client.delete(f"/api/v1/tokens/{listed['id']}", headers=bearer(admin))).status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=bearer(admin))).status_code == 401
    assert (await client.get("/api/v1/auth/me")).status_code == 401
    assert (await client.post("/api/v1/tokens", json={"name": "anyone", "role": "admin"})).status_code == 401
    created = switchboard(settings, "token", "create", "again", "--role", "admin")
    assert created.returncode == 0, created.stderr
    assert (await client.get("/api/v1/auth/me", headers=bearer(created.stdout.strip()))).json()["role"] == "admin"


async def test_beyond_loopback_the_app_will_not_start_without_an_admin_token(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", host="0.0.0.0")
    refused = pytest.RaisesExc(Unprotected, match="create one first: switchboard token create admin --role admin")
    with pytest.RaisesGroup(refused, flatten_subgroups=True):
        async with api_client(settings):
            pass
    assert switchboard(settings, "token", "create", "watcher", "--role", "viewer").returncode == 0
    with pytest.RaisesGroup(refused, flatten_subgroups=True):
        async with api_client(settings):
            pass


async def test_beyond_loopback_every_request_needs_a_token(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", host="0.0.0.0")
    created = switchboard(settings, "token", "create", "admin", "--role", "admin")
    assert created.returncode == 0, created.stderr
    admin = created.stdout.strip()
    async with api_client(settings) as client:
        assert (await client.get("/api/v1/auth/me")).status_code == 401
        me = (await client.get("/api/v1/auth/me", headers=bearer(admin))).json()
        assert me["actor"] == "token:admin" and me["auth_required"] is True
