"""Refused request bodies say what is wrong in words a caller knows: the body, never the handler's `data`."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.errors import PROBLEM_JSON

pytestmark = pytest.mark.anyio
Client = AsyncTestClient[Litestar]
JSON = {"content-type": "application/json"}


def errors_of(response: httpx.Response, status: int) -> list[dict[str, str]]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    errors: list[dict[str, str]] = response.json()["errors"]
    return errors


@pytest.mark.parametrize("headers", [JSON, {}])
async def test_an_empty_body_is_refused_as_required(client: Client, headers: dict[str, str]) -> None:
    response = await client.post("/api/v1/instances", content=b"", headers=headers)
    assert errors_of(response, 400) == [{"field": "body", "message": "request body is required"}]


async def test_a_body_of_the_wrong_shape_names_the_body(client: Client) -> None:
    response = await client.post("/api/v1/instances", content=b"[]", headers=JSON)
    assert errors_of(response, 400) == [{"field": "body", "message": "Expected `object`, got `array`"}]


async def test_a_field_of_the_wrong_type_is_named(client: Client) -> None:
    response = await client.post("/api/v1/instances", content=b'{"name": 5}', headers=JSON)
    assert [error["field"] for error in errors_of(response, 400)] == ["name"]


def test_a_form_to_a_json_route_is_an_unsupported_media_type(served: str) -> None:
    """Over a real socket, as `curl -d` sends it."""
    response = httpx.post(f"{served}/api/v1/instances", data={"name": "x"})
    assert response.status_code == 415, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert "application/json" in response.json()["detail"]
