"""Text PostgreSQL cannot hold (a NUL character) is bad input there: a 400 problem, nothing written, never a 500."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

pytestmark = pytest.mark.anyio


async def test_a_nul_in_an_id_is_a_bad_request_not_a_server_error(client: AsyncTestClient[Litestar]) -> None:
    before = (await client.get("/api/v1/events", params={"limit": 500})).json()["events"]
    for route in ("/api/v1/sessions/%00", "/api/v1/instances/a%00b", "/api/v1/sessions/x%00/turns"):
        answer = await client.get(route)
        assert answer.status_code in (400, 404), (route, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
    after = (await client.get("/api/v1/events", params={"limit": 500})).json()["events"]
    assert after == before
