"""Instance names stay unique when many creates and renames race, against a real server."""

from __future__ import annotations

import anyio
import httpx
import pytest

pytestmark = pytest.mark.anyio
RACERS = 30


def names_refused(response: httpx.Response) -> bool:
    fields = {error["field"] for error in response.json().get("errors", [])}
    return response.status_code in (409, 422) and fields == {"name"}


async def race(calls: list[tuple[str, str, dict[str, object]]], served: str) -> list[httpx.Response]:
    """Send every (method, path, body) at once, each on its own connection."""
    answers: list[httpx.Response] = []
    limits = httpx.Limits(max_connections=len(calls))
    async with httpx.AsyncClient(base_url=served, limits=limits, timeout=30) as api:

        async def send(method: str, path: str, body: dict[str, object]) -> None:
            answers.append(await api.request(method, path, json=body))

        async with anyio.create_task_group() as group:
            for method, path, body in calls:
                group.start_soon(send, method, path, body)
    return answers


async def listed_names(served: str) -> list[str]:
    async with httpx.AsyncClient(base_url=served) as api:
        return [item["name"] for item in (await api.get("/api/v1/instances")).json()]


async def test_concurrent_creates_of_one_name_make_one_instance(served: str) -> None:
    body: dict[str, object] = {"name": "Same Name", "provider_id": "openai"}
    answers = await race([("POST", "/api/v1/instances", body)] * RACERS, served)
    created = [answer for answer in answers if answer.status_code == 201]
    assert len(created) == 1, [answer.status_code for answer in answers]
    assert all(names_refused(answer) for answer in answers if answer.status_code != 201)
    assert await listed_names(served) == ["Same Name"]


async def test_concurrent_renames_to_one_name_leave_one_holder(served: str) -> None:
    creates = [("POST", "/api/v1/instances", {"name": f"Instance {n}", "provider_id": "openai"}) for n in range(10)]
    ids = [answer.json()["id"] for answer in await race(creates, served)]
    answers = await race([("PATCH", f"/api/v1/instances/{i}", {"name": "same name"}) for i in ids], served)
    assert [answer.status_code for answer in answers].count(200) == 1
    assert all(names_refused(answer) for answer in answers if answer.status_code != 200)
    assert [name.casefold() for name in await listed_names(served)].count("same name") == 1
