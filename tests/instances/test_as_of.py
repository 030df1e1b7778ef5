"""An instance as it was: rebuilt from its stream at a position or a time, diffed between two points, and its
connection tests over time — across create, update, test, rotate and delete, on a real SQLite file."""

from __future__ import annotations

import pytest

from tests.instances.conftest import OTHER_SECRET, SECRET, Client, create, error_fields
from tests.upstreams import UpstreamServer

pytestmark = pytest.mark.anyio
JSON = dict[str, object]


class Lifecycle:
    """One instance taken through its life; after each step, the detail route's answer and the log position."""

    def __init__(self, instance_id: str) -> None:
        self.instance_id = instance_id
        self.snapshots: list[tuple[int, JSON]] = []

    @property
    def path(self) -> str:
        return f"/api/v1/instances/{self.instance_id}"


async def head(client: Client) -> int:
    health: JSON = (await client.get("/api/v1/health")).json()
    return int(str(health["last_position"]))


async def history(client: Client, instance_id: str) -> list[JSON]:
    response = await client.get(f"/api/v1/instances/{instance_id}/history")
    assert response.status_code == 200, response.text
    events: list[JSON] = response.json()
    return events


async def snap(client: Client, life: Lifecycle) -> None:
    response = await client.get(life.path)
    assert response.status_code == 200, response.text
    life.snapshots.append((await head(client), response.json()))


async def live_through(client: Client, upstream: UpstreamServer) -> Lifecycle:
    """create (with a key) → update → passing test → rotate → failing test → delete."""
    upstream.scenario.key = SECRET
    created = await create(client, endpoint=upstream.urls.openai, api_key=SECRET)
    life = Lifecycle(str(created["id"]))
    await snap(client, life)
    change = {"name": "OpenAI Prod", "timeout_ms": 9_000, "headers": {"X-Org": "a"}}
    patched = await client.patch(life.path, json=change)
    assert patched.status_code == 200, patched.text
    await snap(client, life)
    assert (await client.post(f"{life.path}/test")).status_code == 200
    await snap(client, life)
    rotated = await client.put(f"{life.path}/credential", json={"api_key": OTHER_SECRET})
    assert rotated.status_code == 200, rotated.text
    await snap(client, life)
    assert (await client.post(f"{life.path}/test")).json()["last_test"]["outcome"] == "auth_failed"
    await snap(client, life)
    assert (await client.delete(life.path)).status_code == 204
    return life


async def test_as_of_each_position_is_the_instance_as_it_was_then_even_after_delete(
    client: Client, upstream: UpstreamServer
) -> None:
    life = await live_through(client, upstream)
    assert (await client.get(life.path)).status_code == 404
    for position, shown in life.snapshots:
        response = await client.get(life.path, params={"as_of": str(position)})
        assert response.status_code == 200, response.text
        assert response.json() == shown
    names = [shown["name"] for _, shown in life.snapshots]
    assert names == ["OpenAI Dev", "OpenAI Prod", "OpenAI Prod", "OpenAI Prod", "OpenAI Prod"]


async def test_as_of_a_time_includes_the_events_recorded_at_that_time(client: Client, upstream: UpstreamServer) -> None:
    life = await live_through(client, upstream)
    events = await history(client, life.instance_id)
    by_position = dict(life.snapshots)
    for event in events[:-1]:
        if event["position"] in by_position:
            response = await client.get(life.path, params={"as_of": str(event["recorded_at"])})
            assert response.status_code == 200, response.text
            assert response.json() == by_position[int(str(event["position"]))]
    credentials = [shown["credential"] for _, shown in life.snapshots]
    assert [c["last4"] for c in credentials] == ["QRST", "QRST", "QRST", "WXYZ", "WXYZ"]  # type: ignore[index]
    assert SECRET not in str(life.snapshots) and OTHER_SECRET not in str(life.snapshots)


async def test_as_of_before_creation_or_after_deletion_is_a_404_that_says_which(
    client: Client, upstream: UpstreamServer
) -> None:
    before = await head(client)
    life = await live_through(client, upstream)
    events = await history(client, life.instance_id)
    gone = await client.get(life.path, params={"as_of": str(events[-1]["position"])})
    assert gone.status_code == 404 and "deleted" in gone.json()["detail"]
    assert gone.headers["content-type"].startswith("application/problem+json")
    unborn = await client.get(life.path, params={"as_of": str(before)})
    assert unborn.status_code == 404 and "did not exist" in unborn.json()["detail"]
    early = await client.get(life.path, params={"as_of": "2000-01-01T00:00:00Z"})
    assert early.status_code == 404
    nobody = await client.get("/api/v1/instances/nobody", params={"as_of": "1"})
    assert nobody.status_code == 404


@pytest.mark.parametrize(
    "value",
    ["yesterday", "-1", "2026-01-01T10:00:00", "2026-13-01T00:00:00Z", "99999999999999999999999", "", "1.5"],
)
async def test_a_bad_as_of_is_a_400_naming_it(client: Client, value: str) -> None:
    created = await create(client)
    response = await client.get(f"/api/v1/instances/{created['id']}", params={"as_of": value})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert error_fields(response.json()) == {"as_of"}


async def test_diff_names_each_changed_field_and_the_events_that_changed_it(
    client: Client, upstream: UpstreamServer
) -> None:
    life = await live_through(client, upstream)
    events = await history(client, life.instance_id)
    created_at, rotated_at = life.snapshots[0][0], life.snapshots[3][0]
    response = await client.get(f"{life.path}/diff", params={"from": str(created_at), "to": str(rotated_at)})
    assert response.status_code == 200, response.text
    diff = response.json()
    assert diff["from"]["exists"] is True and diff["to"]["exists"] is True
    changes = {change["field"]: change for change in diff["changes"]}
    assert changes["name"]["before"] == "OpenAI Dev" and changes["name"]["after"] == "OpenAI Prod"
    assert changes["timeout_ms"]["after"] == 9_000 and changes["headers.X-Org"] == {
        "field": "headers.X-Org", "before": None, "after": "a", "events": [changes["name"]["events"][0]],
    }
    updated = next(event for event in events if event["type"] == "InstanceUpdated")
    assert [ref["position"] for ref in changes["name"]["events"]] == [updated["position"]]
    assert changes["name"]["events"][0]["type"] == "InstanceUpdated"
    assert changes["name"]["events"][0]["actor"] == "local"
    rotation = next(event for event in events if event["type"] == "CredentialRotated")
    assert changes["credential.last4"]["before"] == "QRST" and changes["credential.last4"]["after"] == "WXYZ"
    assert [ref["position"] for ref in changes["credential.last4"]["events"]] == [rotation["position"]]
    assert "last_test.outcome" not in changes  # the test set it and the rotation cleared it: no net change
    assert "status" not in changes  # untested, connected by the test, untested again after the new key
    assert [event["position"] for event in diff["events"]] == [
        event["position"] for event in events if created_at < int(str(event["position"])) <= rotated_at
    ]
    assert SECRET not in response.text and OTHER_SECRET not in response.text


async def test_a_field_moved_several_times_names_every_event_that_moved_it(
    client: Client, upstream: UpstreamServer
) -> None:
    life = await live_through(client, upstream)
    events = await history(client, life.instance_id)
    tests = [event["position"] for event in events if event["type"] == "ConnectionTested"]
    rotation = next(event["position"] for event in events if event["type"] == "CredentialRotated")
    params = {"from": str(life.snapshots[0][0]), "to": str(life.snapshots[4][0])}
    diff = (await client.get(f"{life.path}/diff", params=params)).json()
    changes = {change["field"]: change for change in diff["changes"]}
    assert (changes["status"]["before"], changes["status"]["after"]) == ("untested", "error")
    assert [ref["position"] for ref in changes["status"]["events"]] == [tests[0], rotation, tests[1]]
    assert changes["last_test.outcome"]["after"] == "auth_failed"
    assert changes["last_test.http_status"]["after"] == 401


async def test_diff_across_deletion_and_from_before_creation(client: Client, upstream: UpstreamServer) -> None:
    life = await live_through(client, upstream)
    events = await history(client, life.instance_id)
    deleted = await client.get(f"{life.path}/diff", params={"from": str(life.snapshots[-1][0])})
    assert deleted.status_code == 200, deleted.text
    diff = deleted.json()
    assert diff["to"]["exists"] is False and diff["to"]["position"] == events[-1]["position"]
    assert {change["after"] for change in diff["changes"]} == {None}
    assert all(change["events"][0]["type"] == "InstanceDeleted" for change in diff["changes"])
    whole = (await client.get(f"{life.path}/diff", params={"from": "0", "to": str(life.snapshots[0][0])})).json()
    assert whole["from"]["exists"] is False
    fields = {change["field"]: change for change in whole["changes"]}
    assert fields["name"]["before"] is None and fields["name"]["after"] == "OpenAI Dev"
    assert [ref["type"] for ref in fields["credential.version"]["events"]] == ["CredentialSet"]
    rotation = next(event for event in events if event["type"] == "CredentialRotated")
    points = {"from": str(events[1]["recorded_at"]), "to": str(rotation["recorded_at"])}
    by_time = await client.get(f"{life.path}/diff", params=points)
    positions = {"from": str(events[1]["position"]), "to": str(rotation["position"])}
    by_position = await client.get(f"{life.path}/diff", params=positions)
    assert by_time.status_code == 200 and by_time.json()["changes"] == by_position.json()["changes"]
    assert by_time.json()["to"]["position"] == rotation["position"]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"from": "x"}, "from"), ({"to": "-3"}, "to"), ({"from": "5", "to": "2"}, "from"), ({"to": "2026-01-01"}, "to")],
)
async def test_a_bad_diff_range_is_a_400_naming_the_field(client: Client, params: dict[str, str], field: str) -> None:
    created = await create(client)
    response = await client.get(f"/api/v1/instances/{created['id']}/diff", params=params)
    assert response.status_code == 400, response.text
    assert error_fields(response.json()) == {field}


async def test_a_diff_from_a_time_after_its_to_position_is_a_400(client: Client, upstream: UpstreamServer) -> None:
    life = await live_through(client, upstream)
    events = await history(client, life.instance_id)
    params = {"from": str(events[-1]["recorded_at"]), "to": str(life.snapshots[0][0])}
    response = await client.get(f"{life.path}/diff", params=params)
    assert response.status_code == 400 and error_fields(response.json()) == {"from"}


async def test_a_misspelt_diff_parameter_is_refused_while_from_and_to_are_taken(client: Client) -> None:
    created = await create(client)
    typo = await client.get(f"/api/v1/instances/{created['id']}/diff", params={"form": "1", "to": "2"})
    assert typo.status_code == 400 and error_fields(typo.json()) == {"form"}
    fine = await client.get(f"/api/v1/instances/{created['id']}/diff", params={"from": "0", "to": "2"})
    assert fine.status_code == 200, fine.text


async def test_diff_of_an_unknown_instance_is_a_404(client: Client) -> None:
    assert (await client.get("/api/v1/instances/nobody/diff")).status_code == 404


async def test_tests_over_time_list_outcome_status_and_latency_also_after_delete(
    client: Client, upstream: UpstreamServer
) -> None:
    life = await live_through(client, upstream)
    response = await client.get(f"{life.path}/tests")
    assert response.status_code == 200, response.text
    tests = response.json()["tests"]
    assert [(t["outcome"], t["http_status"]) for t in tests] == [("ok", 200), ("auth_failed", 401)]
    assert all(float(t["latency_ms"]) > 0 and t["tested_at"] and t["position"] for t in tests)
    assert [t["credential_version"] for t in tests] == [1, 2] and tests[0]["model_count"] == 2
    later = await client.get(f"{life.path}/tests", params={"since": tests[1]["tested_at"]})
    assert [t["position"] for t in later.json()["tests"]] == [tests[1]["position"]]


async def test_tests_refuse_a_bad_since_and_an_unknown_instance(client: Client) -> None:
    created = await create(client)
    bad = await client.get(f"/api/v1/instances/{created['id']}/tests", params={"since": "last week"})
    assert bad.status_code == 400 and error_fields(bad.json()) == {"since"}
    naive = await client.get(f"/api/v1/instances/{created['id']}/tests", params={"since": "2026-01-01T00:00:00"})
    assert naive.status_code == 400 and error_fields(naive.json()) == {"since"}
    assert (await client.get("/api/v1/instances/nobody/tests")).status_code == 404
    untested = await client.get(f"/api/v1/instances/{created['id']}/tests")
    assert untested.status_code == 200 and untested.json() == {"instance_id": created["id"], "tests": []}
