"""Forged cross-site requests are refused before anything is written: foreign origins, non-JSON
bodies, cross-site fetches, foreign Host names (DNS rebinding), websockets from other sites,
oversized bodies; and every answer carries the security headers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import httpx
import pytest
import websockets
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.app import MAX_REQUEST_BODY, create_app
from backend.settings import Settings
from backend.site_guard import SECURITY_HEADERS
from tests.auth.conftest import bearer, switchboard
from tests.conftest import LOCAL_BASE_URL

pytestmark = pytest.mark.anyio
Client = AsyncTestClient[Litestar]
EVIL = "http://evil.example"
CUSTOM = "/api/v1/catalog/custom/attacker"
CATWALK = {
    "id": "openai",
    "name": "OpenAI",
    "type": "openai",
    "api_endpoint": "http://127.0.0.1:9/v1",
    "default_large_model_id": "m",
    "default_small_model_id": "m",
    "models": [{"id": "m", "name": "M", "context_window": 1000, "default_max_tokens": 100}],
}



def valid_draft() -> dict[str, object]:
    """A custom provider that passes every rule (ProviderDraft JSON)."""
    model = {"id": "m", "name": "M", "cost_per_1m_in": 1.0, "cost_per_1m_out": 2.0,
             "context_window": 1000, "default_max_tokens": 100}
    return {"name": "Attacker", "type": "openai-compat", "api_endpoint": "http://127.0.0.1:9/v1",
            "default_large_model_id": "m", "default_small_model_id": "m", "models": [model]}


async def head(client: Client) -> int:
    position: int = (await client.get("/api/v1/health")).json()["last_position"]
    return position


def assert_problem(response: object, status: int) -> dict[str, object]:
    assert getattr(response, "status_code") == status, getattr(response, "text")
    headers: Mapping[str, str] = getattr(response, "headers")
    assert headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = getattr(response, "json")()
    assert body["status"] == status
    return body


async def test_text_plain_json_is_refused_and_nothing_is_written(client: Client) -> None:
    before = await head(client)
    response = await client.post(
        "/api/v1/catalog/import", content=json.dumps(CATWALK), headers={"content-type": "text/plain"}
    )
    assert_problem(response, 415)
    assert await head(client) == before
    assert (await client.get("/api/v1/catalog/providers/openai")).json()["api_endpoint"] != CATWALK["api_endpoint"]


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/json"]
)
async def test_other_body_types_are_refused(client: Client, content_type: str) -> None:
    before = await head(client)
    body = json.dumps({"name": "Forged", "provider_id": "openai"})
    response = await client.post("/api/v1/instances", content=body, headers={"content-type": content_type})
    assert_problem(response, 415)
    assert await head(client) == before


async def test_a_body_without_content_type_is_refused(client: Client) -> None:
    before = await head(client)
    response = await client.put(CUSTOM, content=json.dumps(valid_draft()).encode())
    assert_problem(response, 415)
    assert await head(client) == before


async def test_json_with_a_charset_is_accepted(client: Client) -> None:
    response = await client.put(
        CUSTOM, content=json.dumps(valid_draft()), headers={"content-type": "application/json; charset=utf-8"}
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("origin", [EVIL, "null", "http://127.0.0.1:3001", "https://127.0.0.1:3000"])
async def test_a_foreign_origin_is_refused_even_with_json(client: Client, origin: str) -> None:
    before = await head(client)
    response = await client.put(CUSTOM, json=valid_draft(), headers={"origin": origin})
    assert_problem(response, 403)
    assert await head(client) == before


async def test_a_body_less_write_from_a_foreign_origin_is_refused(client: Client) -> None:
    created = await client.put(CUSTOM, json=valid_draft())
    assert created.status_code == 201
    before = await head(client)
    response = await client.delete(CUSTOM, headers={"origin": EVIL})
    assert_problem(response, 403)
    assert await head(client) == before


async def test_a_cross_site_fetch_is_refused(client: Client) -> None:
    before = await head(client)
    response = await client.put(CUSTOM, json=valid_draft(), headers={"sec-fetch-site": "cross-site"})
    assert_problem(response, 403)
    assert await head(client) == before


@pytest.mark.parametrize("origin", ["http://127.0.0.1:3000", "http://localhost:3000", "http://[::1]:3000"])
async def test_the_apps_own_origins_may_write(client: Client, origin: str) -> None:
    response = await client.put(
        CUSTOM, json=valid_draft(), headers={"origin": origin, "sec-fetch-site": "same-origin"}
    )
    assert response.status_code == 201, response.text


async def test_a_write_without_a_body_needs_no_content_type(client: Client) -> None:
    created = await client.put(CUSTOM, json=valid_draft())
    assert created.status_code == 201
    deleted = await client.delete(CUSTOM)
    assert deleted.status_code == 200, deleted.text
    refreshed = await client.post("/api/v1/catalog/refresh")  # no catalog service configured: a 422, not a 415
    assert refreshed.status_code == 422, refreshed.text


@pytest.mark.parametrize("host", ["evil.example", "evil.example:3000", "127.0.0.1.nip.io:3000", ""])
async def test_a_foreign_host_is_refused(client: Client, host: str) -> None:
    before = await head(client)
    read = await client.get("/api/v1/events", headers={"host": host})
    assert_problem(read, 400)
    write = await client.put(CUSTOM, json=valid_draft(), headers={"host": host})
    assert_problem(write, 400)
    assert await head(client) == before


@pytest.mark.parametrize("host", ["127.0.0.1:3000", "localhost:3000", "[::1]:3000", "LOCALHOST", "127.0.0.1:8080"])
async def test_loopback_host_names_are_answered(client: Client, host: str) -> None:
    response = await client.get("/api/v1/health", headers={"host": host})
    assert response.status_code == 200


async def test_configured_origins_add_their_host_names(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", host="10.1.2.3", allowed_origins=("https://switchboard.example",)
    )
    created = switchboard(settings, "token", "create", "admin", "--role", "admin")
    assert created.returncode == 0, created.stderr
    admin = bearer(created.stdout.strip())
    async with AsyncTestClient(app=create_app(settings), base_url=LOCAL_BASE_URL) as client:
        for host in ("switchboard.example", "10.1.2.3:3000", "127.0.0.1:3000"):
            assert (await client.get("/api/v1/health", headers={"host": host, **admin})).status_code == 200
        assert (await client.get("/api/v1/health", headers={"host": "other.example", **admin})).status_code == 400
        origin = {"origin": "https://switchboard.example", **admin}
        assert (await client.put(CUSTOM, json=valid_draft(), headers=origin)).status_code == 201
        local = await client.delete(CUSTOM, headers={"origin": "http://127.0.0.1:3000", **admin})
        assert_problem(local, 403)


async def test_bodies_above_the_limit_are_a_413_problem(client: Client) -> None:
    before = await head(client)
    big = {**CATWALK, "name": "x" * MAX_REQUEST_BODY}
    response = await client.post("/api/v1/catalog/import", json=big)
    assert_problem(response, 413)
    assert await head(client) == before


@pytest.mark.parametrize("path", ["/api/v1/instances", "/api/v1/catalog/import", "/api/v1/tokens"])
async def test_json_nested_too_deep_is_a_problem_naming_the_body(client: Client, path: str) -> None:
    before = await head(client)
    response = await client.post(path, content=b"[" * 5000 + b"]" * 5000, headers={"content-type": "application/json"})
    assert_problem(response, 400)
    assert "body" in [error["field"] for error in response.json()["errors"]]
    assert await head(client) == before


async def test_a_chunked_body_above_the_limit_is_a_413_problem(served: str) -> None:
    chunk = b" " * 65536

    async def body() -> AsyncIterator[bytes]:
        yield b'{"id": "x", "name": "'
        for _ in range(MAX_REQUEST_BODY // len(chunk) + 1):
            yield chunk
        yield b'"}'

    async with httpx.AsyncClient(base_url=served) as api:
        before = (await api.get("/api/v1/health")).json()["last_position"]
        response = await api.post(
            "/api/v1/catalog/import", content=body(), headers={"content-type": "application/json"}
        )
        assert "content-length" not in response.request.headers
        assert_problem(response, 413)
        assert (await api.get("/api/v1/health")).json()["last_position"] == before


@pytest.mark.parametrize(
    "path", ["/api/v1/health", "/api/v1/nowhere", "/api/schema/docs", "/api/schema/openapi.json"]
)
async def test_every_answer_carries_the_security_headers(client: Client, path: str) -> None:
    response = await client.get(path)
    for name, value in SECURITY_HEADERS:
        assert response.headers[name.decode()] == value.decode()
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_refusals_carry_the_security_headers(client: Client) -> None:
    response = await client.post("/api/v1/catalog/import", content="{}", headers={"content-type": "text/plain"})
    assert response.status_code == 415
    for name, value in SECURITY_HEADERS:
        assert response.headers[name.decode()] == value.decode()


def live_url(base: str) -> str:
    return base.replace("http", "ws", 1) + "/api/v1/live"


async def test_the_live_feed_refuses_other_sites(served: str) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(live_url(served), origin=websockets.Origin(EVIL)):
            pass
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize("origin", ["http://127.0.0.1:3000", None])
async def test_the_live_feed_takes_the_apps_origin_and_non_browser_clients(served: str, origin: str | None) -> None:
    sent = websockets.Origin(origin) if origin else None
    async with websockets.connect(live_url(served), origin=sent) as socket:
        first = json.loads(await socket.recv())
    assert first["type"] == "ServiceStarted"
