"""Saving a custom provider under a shipped provider's id is an explicit override, refused with 409 otherwise."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

pytestmark = pytest.mark.anyio
Client = AsyncTestClient[Litestar]
CATALOG = "/api/v1/catalog"


async def gateway_draft(client: Client) -> dict[str, Any]:
    templates = (await client.get(f"{CATALOG}/templates")).json()["templates"]
    draft: dict[str, Any] = next(t["provider"] for t in templates if t["id"] == "anthropic-compatible-gateway")
    return draft


async def last_position(client: Client) -> int:
    position: int = (await client.get("/api/v1/health")).json()["last_position"]
    return position


async def test_saving_a_shipped_id_without_override_is_refused_naming_the_instances_using_it(client: Client) -> None:
    created = await client.post("/api/v1/instances", json={"name": "Claude at work", "provider_id": "anthropic"})
    assert created.status_code == 201, created.text
    before = await last_position(client)
    draft = await gateway_draft(client)

    refused = await client.put(f"{CATALOG}/custom/anthropic", json=draft)

    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert [error["field"] for error in problem["errors"]] == ["id"]
    message = problem["errors"][0]["message"]
    assert "overrides the shipped provider Anthropic" in message and "Claude at work" in message
    assert await last_position(client) == before
    assert len((await client.get(f"{CATALOG}/providers/anthropic")).json()["models"]) > 1


async def test_override_true_saves_the_override(client: Client) -> None:
    draft = await gateway_draft(client)
    saved = await client.put(f"{CATALOG}/custom/anthropic", json={**draft, "override": True})
    assert saved.status_code == 201, saved.text
    assert saved.json()["overridden"] is True and "override" not in saved.json()


async def test_a_refusal_with_no_instance_says_none_uses_it(client: Client) -> None:
    refused = await client.put(f"{CATALOG}/custom/openai", json=await gateway_draft(client))
    assert refused.status_code == 409
    assert "no instance uses it" in refused.json()["errors"][0]["message"]


async def test_importing_a_shipped_id_needs_the_override_flag(client: Client) -> None:
    exported = (await client.get(f"{CATALOG}/export/xai")).json()
    exported["name"] = "xAI (ours)"
    before = await last_position(client)
    refused = await client.post(f"{CATALOG}/import", json=[{**exported, "id": "mine"}, exported])
    assert refused.status_code == 409
    assert [error["field"] for error in refused.json()["errors"]] == ["[1].id"]
    assert await last_position(client) == before
    accepted = await client.post(f"{CATALOG}/import", params={"override": "true"}, json=exported)
    assert accepted.status_code == 200 and accepted.json()["providers"][0]["provider"]["overridden"] is True
