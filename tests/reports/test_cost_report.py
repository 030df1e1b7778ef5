"""The cost report against figures worked out by hand: five turns on two instances, three models (one without a
price), two sessions, three actors, and a price change between the fourth and fifth turn.

Prices are USD per 1M tokens; the upstream counts one token per word. Every turn runs on its own agent, so
its input is just its own message.

| turn | instance | model       | actor      | in (cache) | out | recorded cost      | at today's prices   |
|------|----------|-------------|------------|------------|-----|--------------------|---------------------|
| t1   | Alpha    | local-small | local      | 4          | 3   | 4*100+3*200 = 1000 | 4*500+3*1000 = 5000 |
| t2   | Beta     | local-small | local      | 2          | 3   | 2*100+3*200 = 800  | 2*500+3*1000 = 4000 |
| t3   | Alpha    | local-large | local      | 3          | 3   | 3*300+3*400 = 2100 | 2100                |
| t4   | Beta     | local-other | token:root | 1          | 3   | unknown            | unknown             |
| price change: local-small 100/200/50 -> 500/1000/250 (in/out/cache read)                                   |
| t5   | Alpha    | local-small | token:op   | 6 (2)      | 3   | 4*500+2*250+3*1000 = 5500 | 5500         |

Sessions: S1 holds t1 and t3, S2 holds t2, t4 and t5 (t5's agent uses instance Alpha inside S2).
Costs below are in millionths of a dollar (the table's figures), divided by 1e6 when compared.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime

import pytest

from backend.reports.cost import transcript_window
from tests.sessions.conftest import Client, instance, ok, send
from tests.upstreams import UpstreamServer

pytestmark = pytest.mark.anyio

REPORT = "/api/v1/reports/cost"
PROVIDER = "priced-local"
BEFORE = {"local-small": (100.0, 200.0, 50.0), "local-large": (300.0, 400.0, 0.0)}
AFTER = {**BEFORE, "local-small": (500.0, 1000.0, 250.0)}


def provider(endpoint: str, prices: dict[str, tuple[float, float, float]]) -> dict[str, object]:
    """A custom OpenAI-compatible provider on the upstream with these models' prices; local-other is not in it."""
    models = [
        {"id": model_id, "name": model_id.title(), "cost_per_1m_in": cost_in, "cost_per_1m_out": cost_out,
         "cost_per_1m_cache_read": cache_read, "context_window": 8192, "default_max_tokens": 1024}
        for model_id, (cost_in, cost_out, cache_read) in prices.items()
    ]
    return {"name": "Priced local", "type": "openai-compat", "api_endpoint": endpoint,
            "default_large_model_id": "local-large", "default_small_model_id": "local-small", "models": models}


@dataclass
class Ran:
    """What the scenario created: ids by name, the end times of the turns by turn name, and the admin token."""

    instances: dict[str, str]
    sessions: dict[str, str]
    at: dict[str, str]
    admin: str


async def turn(client: Client, session_id: str, name: str, instance_id: str, model_id: str, text: str) -> str:
    """One turn on a new agent of the session; the time its end was recorded."""
    body = {"name": name, "instance_id": instance_id, "model_id": model_id}
    agents = ok(await client.post(f"/api/v1/sessions/{session_id}/agents", json=body), 201)["agents"]
    assert isinstance(agents, list)
    agent_id = agents[-1]["id"]
    assert (await send(client, session_id, agent_id, text)).turn["outcome"] == "completed"
    messages = ok(await client.get(f"/api/v1/sessions/{session_id}/agents/{agent_id}/messages"))
    assert isinstance(messages, list)
    return str(messages[-1]["at"])


async def new_session(client: Client, name: str, instance_id: str) -> str:
    body = {"name": name, "instance_id": instance_id, "model_id": "local-small"}
    return str(ok(await client.post("/api/v1/sessions", json=body), 201)["id"])


async def issue(client: Client, name: str, role: str) -> str:
    token = ok(await client.post("/api/v1/tokens", json={"name": name, "role": role}), 201)["token"]
    return str(token)


@pytest.fixture
async def ran(client: Client, upstream: UpstreamServer) -> Ran:
    upstream.scenario.models = ["local-small", "local-large", "local-other"]
    upstream.scenario.reply = "r1 r2 r3"
    custom = f"/api/v1/catalog/custom/{PROVIDER}"
    assert (await client.put(custom, json=provider(upstream.urls.openai, BEFORE))).status_code == 201
    alpha = await instance(client, upstream, "Alpha", provider_id=PROVIDER)
    beta = await instance(client, upstream, "Beta", provider_id=PROVIDER)
    s1, s2 = await new_session(client, "S1", alpha), await new_session(client, "S2", beta)
    at = {
        "t1": await turn(client, s1, "t1", alpha, "local-small", "w w w w"),
        "t2": await turn(client, s2, "t2", beta, "local-small", "w w"),
        "t3": await turn(client, s1, "t3", alpha, "local-large", "w w w"),
    }
    root = await issue(client, "root", "admin")  # ends local mode: from here on every request names its token
    client.headers["Authorization"] = f"Bearer {root}"
    operator = await issue(client, "op", "operator")
    at["t4"] = await turn(client, s2, "t4", beta, "local-other", "w")
    assert (await client.put(custom, json=provider(upstream.urls.openai, AFTER))).status_code == 200
    client.headers["Authorization"] = f"Bearer {operator}"
    upstream.scenario.cache_read_tokens = 2
    at["t5"] = await turn(client, s2, "t5", alpha, "local-small", "w w w w w w")
    return Ran({"Alpha": alpha, "Beta": beta}, {"S1": s1, "S2": s2}, at, root)


def figures(turns: int, cost: int, current: int, tokens: tuple[int, int, int], unknown: int = 0) -> dict[str, object]:
    """The figures a group or the total should show; costs in millionths of a dollar."""
    input_tokens, output_tokens, cache_read = tokens
    return {
        "turns": turns, "unknown_cost_turns": unknown, "current_unknown_cost_turns": unknown,
        "input_tokens": input_tokens, "output_tokens": output_tokens,
        "cache_read_tokens": cache_read, "cache_write_tokens": 0,
        "cost_usd": pytest.approx(cost / 1e6), "current_cost_usd": pytest.approx(current / 1e6),
    }


TOTAL = figures(5, 9400, 16600, (16, 15, 2), unknown=1)


async def report(client: Client, **params: str) -> dict[str, object]:
    return ok(await client.get(REPORT, params=params))


def by_key(body: dict[str, object]) -> dict[str, dict[str, object]]:
    groups = body["groups"]
    assert isinstance(groups, list)
    return {str(group["key"]): group for group in groups}


def shown(group: dict[str, object]) -> dict[str, object]:
    """A group's figures, without what names it and without its parts."""
    return {name: value for name, value in group.items() if name not in ("key", "name", "parts")}


async def test_by_instance(client: Client, ran: Ran) -> None:
    body = await report(client, group_by="instance")
    assert body["group_by"] == "instance" and body["total"] == TOTAL
    groups = by_key(body)
    assert shown(groups[ran.instances["Alpha"]]) == figures(3, 8600, 12600, (13, 9, 2))
    assert shown(groups[ran.instances["Beta"]]) == figures(2, 800, 4000, (3, 6, 0), unknown=1)
    assert [group["name"] for group in body["groups"]] == ["Alpha", "Beta"]  # type: ignore[union-attr]  # costliest first


async def test_by_model(client: Client, ran: Ran) -> None:
    groups = by_key(await report(client, group_by="model"))
    assert groups.keys() == {f"{PROVIDER}/local-small", f"{PROVIDER}/local-large", f"{PROVIDER}/local-other"}
    assert shown(groups[f"{PROVIDER}/local-small"]) == figures(3, 7300, 14500, (12, 9, 2))
    assert shown(groups[f"{PROVIDER}/local-large"]) == figures(1, 2100, 2100, (3, 3, 0))
    assert shown(groups[f"{PROVIDER}/local-other"]) == figures(1, 0, 0, (1, 3, 0), unknown=1)
    assert groups[f"{PROVIDER}/local-small"]["name"] == "local-small"


async def test_by_provider(client: Client, ran: Ran) -> None:
    body = await report(client, group_by="provider")
    assert [(group["key"], group["name"]) for group in body["groups"]] == [(PROVIDER, "Priced local")]  # type: ignore[union-attr]
    assert shown(by_key(body)[PROVIDER]) == TOTAL


async def test_by_session(client: Client, ran: Ran) -> None:
    groups = by_key(await report(client, group_by="session"))
    assert shown(groups[ran.sessions["S1"]]) == figures(2, 3100, 7100, (7, 6, 0))
    assert shown(groups[ran.sessions["S2"]]) == figures(3, 6300, 9500, (9, 9, 2), unknown=1)
    assert {group["name"] for group in groups.values()} == {"S1", "S2"}


async def test_by_actor(client: Client, ran: Ran) -> None:
    groups = by_key(await report(client, group_by="actor"))
    assert groups.keys() == {"local", "token:root", "token:op"}
    assert shown(groups["local"]) == figures(3, 3900, 11100, (9, 9, 0))
    assert shown(groups["token:root"]) == figures(1, 0, 0, (1, 3, 0), unknown=1)
    assert shown(groups["token:op"]) == figures(1, 5500, 5500, (6, 3, 2))


async def test_by_day(client: Client, ran: Ran) -> None:
    body = await report(client, group_by="day")
    days = sorted({at[:10] for at in ran.at.values()})
    assert [group["key"] for group in body["groups"]] == days  # type: ignore[union-attr]  # oldest first
    assert body["total"] == TOTAL


async def test_since_is_inclusive_and_until_exclusive(client: Client, ran: Ran) -> None:
    before = await report(client, group_by="instance", until=ran.at["t3"])
    assert before["total"] == figures(2, 1800, 9000, (6, 6, 0))
    after = await report(client, group_by="instance", since=ran.at["t3"])
    assert after["total"] == figures(3, 7600, 7600, (10, 9, 2), unknown=1)
    assert (after["since"], before["until"]) == (ran.at["t3"], ran.at["t3"])
    assert (await report(client, since=ran.at["t3"], until=ran.at["t3"]))["groups"] == []


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"group_by": "week"}, 400, "group_by"),
        ({"since": "yesterday"}, 400, "since"),
        ({"until": "2026-13-01T00:00:00Z"}, 400, "until"),
        ({"since": "2026-01-01T00:00:00"}, 422, "since"),  # no UTC offset: which day would it be?
        ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, 422, "until"),
        ({"colour": "red"}, 400, "colour"),
        ({"split_by": "week"}, 400, "split_by"),
        ({"group_by": "model", "split_by": "model"}, 422, "split_by"),  # each group would be its only part
        ({"split_by": "day"}, 422, "split_by"),  # group_by is day unless given
    ],
)
async def test_bad_input_is_a_problem_naming_the_field(
    client: Client, params: dict[str, str], status: int, field: str
) -> None:
    response = await client.get(REPORT, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in {error["field"] for error in response.json()["errors"]}


# each turn's own figures from the table above: instance, model, recorded and today's cost, tokens, unknown price
TURNS: dict[str, tuple[str, str, int, int, tuple[int, int, int], int]] = {
    "t1": ("Alpha", "local-small", 1000, 5000, (4, 3, 0), 0),
    "t2": ("Beta", "local-small", 800, 4000, (2, 3, 0), 0),
    "t3": ("Alpha", "local-large", 2100, 2100, (3, 3, 0), 0),
    "t4": ("Beta", "local-other", 0, 0, (1, 3, 0), 1),
    "t5": ("Alpha", "local-small", 5500, 5500, (6, 3, 2), 0),
}


def summed(names: list[str]) -> dict[str, object]:
    """The figures of these turns together, added up from their rows in TURNS."""
    rows = [TURNS[name] for name in names]
    tokens = tuple(sum(row[4][index] for row in rows) for index in range(3))
    return figures(len(rows), sum(row[2] for row in rows), sum(row[3] for row in rows),
                   (tokens[0], tokens[1], tokens[2]), unknown=sum(row[5] for row in rows))


def parts_of(group: dict[str, object]) -> dict[str, dict[str, object]]:
    parts = group["parts"]
    assert isinstance(parts, list)
    return {str(part["key"]): part for part in parts}


async def test_split_by_model_gives_each_instance_its_models(client: Client, ran: Ran) -> None:
    body = await report(client, group_by="instance", split_by="model")
    assert body["split_by"] == "model" and body["total"] == TOTAL
    groups = by_key(body)
    alpha, beta = parts_of(groups[ran.instances["Alpha"]]), parts_of(groups[ran.instances["Beta"]])
    assert alpha.keys() == {f"{PROVIDER}/local-small", f"{PROVIDER}/local-large"}
    assert shown(alpha[f"{PROVIDER}/local-small"]) == figures(2, 6500, 10500, (10, 6, 2))
    assert shown(alpha[f"{PROVIDER}/local-large"]) == figures(1, 2100, 2100, (3, 3, 0))
    assert shown(beta[f"{PROVIDER}/local-small"]) == figures(1, 800, 4000, (2, 3, 0))
    assert shown(beta[f"{PROVIDER}/local-other"]) == figures(1, 0, 0, (1, 3, 0), unknown=1)
    alpha_parts = groups[ran.instances["Alpha"]]["parts"]
    assert isinstance(alpha_parts, list)
    assert [part["name"] for part in alpha_parts] == ["local-small", "local-large"]  # costliest first
    assert shown(groups[ran.instances["Alpha"]]) == summed(["t1", "t3", "t5"])


async def test_split_by_instance_gives_each_day_its_instances(client: Client, ran: Ran) -> None:
    body = await report(client, group_by="day", split_by="instance")
    for day, group in by_key(body).items():
        on_day = [name for name, at in ran.at.items() if at[:10] == day]
        assert shown(group) == summed(on_day)
        parts = parts_of(group)
        for instance_name, instance_id in ran.instances.items():
            ran_there = [name for name in on_day if TURNS[name][0] == instance_name]
            if ran_there:
                assert shown(parts[instance_id]) == summed(ran_there) and parts[instance_id]["name"] == instance_name
            else:
                assert instance_id not in parts


async def test_without_split_by_the_groups_have_no_parts(client: Client, ran: Ran) -> None:
    body = await report(client, group_by="instance")
    assert body["split_by"] is None
    assert [group["parts"] for group in body["groups"]] == [[], []]  # type: ignore[union-attr]


async def test_the_schema_documents_the_split(client: Client) -> None:
    schema = ok(await client.get("/api/schema/openapi.json"))
    operation = schema["paths"][REPORT]["get"]  # type: ignore[index]
    split = next(parameter for parameter in operation["parameters"] if parameter["name"] == "split_by")
    assert set(split["schema"]["enum"]) == {"instance", "model", "provider", "session", "actor", "day", None}
    components = schema["components"]["schemas"]  # type: ignore[index]
    assert components["CostGroup"]["properties"]["parts"]["items"] == {"$ref": "#/components/schemas/CostPart"}
    assert "parts" in components["CostGroup"]["required"] and "parts" not in components["CostPart"]["properties"]
    assert "split_by" in components["CostReport"]["required"]


async def test_no_turns_is_an_empty_report(client: Client) -> None:
    body = await report(client)
    assert body["group_by"] == "day" and body["groups"] == []
    assert body["total"] == figures(0, 0, 0, (0, 0, 0))


async def test_each_session_s_group_is_what_its_own_cost_route_says(client: Client, ran: Ran) -> None:
    groups = by_key(await report(client, group_by="session"))
    for session_id in ran.sessions.values():
        own = ok(await client.get(f"/api/v1/sessions/{session_id}/cost"))
        group = groups[session_id]
        for name in ("turns", "cost_usd", "unknown_cost_turns", "current_cost_usd", "current_unknown_cost_turns"):
            assert group[name] == own[name], name


async def test_a_deleted_instance_keeps_its_spend_under_the_name_it_had(client: Client, ran: Ran) -> None:
    beta = ran.instances["Beta"]
    as_admin = {"Authorization": f"Bearer {ran.admin}"}
    response = await client.delete(f"/api/v1/instances/{beta}", params={"force": "true"}, headers=as_admin)
    assert response.status_code == 204, response.text
    body = await report(client, group_by="instance")
    assert body["total"] == TOTAL
    assert by_key(body)[beta]["name"] == "Beta"
    assert shown(by_key(body)[beta]) == figures(2, 800, 4000, (3, 6, 0), unknown=1)


async def test_a_window_reads_one_range_of_the_transcript_position_index(client: Client, ran: Ran) -> None:
    since, until = datetime.fromisoformat(ran.at["t2"]), datetime.fromisoformat(ran.at["t4"])
    sql, params = transcript_window(since, until)
    database = client.app.state.services.settings.database_path
    with sqlite3.connect(database) as conn:
        plan = " | ".join(str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
        read = [json.loads(body) for _, body in conn.execute(sql, params)]
    conn.close()
    assert "USING INDEX session_message_position (position>? AND position<?)" in plan
    assert [entry["kind"] for entry in read] == ["turn", "user", "turn", "user"]  # t2 ended; t3; t4's message
    assert [entry["at"] for entry in read if entry["kind"] == "turn"] == [ran.at["t2"], ran.at["t3"]]
