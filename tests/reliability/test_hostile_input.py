"""Hostile input by hand, beside the generated run: 1 MB strings, JSON nested deep, invalid UTF-8, NUL bytes,
huge and negative numbers, ids with `../`. Each is a clear 4xx problem naming what was wrong, and nothing is
written to the log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.settings import Settings
from tests.conftest import api_client

pytestmark = pytest.mark.anyio
API = "/api/v1"
MEGABYTE = "x" * 1_000_000
DEEP = b"[" * 5000 + b"]" * 5000
Case = tuple[str, str, dict[str, object], int, str | None]
CASES: list[Case] = [
    ("post", "/instances", {"json": {"name": MEGABYTE, "provider_id": "openai"}}, 422, "name"),
    ("post", "/instances", {"json": {"name": "a\u0000b", "provider_id": "openai"}}, 422, "name"),
    ("post", "/instances", {"json": {"name": "n", "provider_id": "openai", "timeout_ms": 10**30}}, 422, "timeout_ms"),
    ("post", "/instances", {"json": {"name": "n", "provider_id": "openai", "timeout_ms": -5}}, 422, "timeout_ms"),
    ("post", "/instances", {"json": {"name": "n", "provider_id": "../../etc"}}, 422, "provider_id"),
    ("post", "/instances", {"content": DEEP, "headers": {"content-type": "application/json"}}, 400, "body"),
    ("post", "/instances", {"content": b'{"name": "\xc3\x28"}', "headers": {"content-type": "application/json"}}, 400, "body"),
    ("post", "/instances", {"content": b'{"name": "n\x00"}', "headers": {"content-type": "application/json"}}, 400, "body"),
    ("post", "/catalog/import", {"content": DEEP, "headers": {"content-type": "application/json"}}, 400, "body"),
    ("put", "/catalog/custom/..%2F..%2Fetc", {"json": {"name": "x"}}, 404, None),
    ("get", "/instances/..%2F..%2Fetc%2Fpasswd", {}, 404, None),
    ("get", "/sessions/..%2F..%2Fx", {}, 404, None),
    ("get", "/catalog/providers/..%2F..%2Fx", {}, 404, None),
    ("get", "/events?after=99999999999999999999", {}, 400, "after"),
    ("get", "/events?after=-1", {}, 400, "after"),
    ("get", "/audit/events?q=%00", {}, 422, "q"),
    ("get", "/audit/events?actor=a%00b", {}, 422, "actor"),
    ("get", f"/audit/events?q={'w ' * 5_000}", {}, 200, None),
    ("get", "/audit/events?limit=1e9", {}, 400, "limit"),
    ("get", "/catalog/models?min_context=-9999999999999999999999", {}, 400, "min_context"),
    ("post", "/tokens", {"json": {"name": "n\u0000", "role": "admin"}}, 422, "name"),
    ("post", "/tokens", {"json": {"name": MEGABYTE, "role": "admin"}}, 422, "name"),
    ("post", "/sessions", {"json": {"name": MEGABYTE, "instance_id": "i", "model_id": "m"}}, 422, "name"),
]


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with api_client(Settings(data_dir=tmp_path / "data")) as test_client:
        yield test_client


@pytest.mark.parametrize(("method", "path", "request_args", "status", "field"), CASES, ids=[f"{c[0]} {c[1][:60]}" for c in CASES])
async def test_hostile_input_is_a_clear_refusal_and_writes_nothing(
    client: AsyncTestClient[Litestar], method: str, path: str, request_args: dict[str, object], status: int, field: str | None
) -> None:
    store = client.app.state.services.store
    before = await store.count()
    response = await client.request(method.upper(), API + path, **request_args)  # type: ignore[arg-type]
    assert response.status_code == status, response.text[:500]
    if status >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["status"] == status and problem["title"]
        if field is not None:
            assert field in [error["field"] for error in problem.get("errors", [])], problem
    assert await store.count() == before
