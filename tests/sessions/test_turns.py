"""Turns through real local upstreams: streamed, recorded with usage, prices and cost, one at a time per agent."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import anyio
import pytest

from backend.providers.contract import ChatChunk, TextDelta
from backend.sessions.service import RunningTurn
from backend.sessions.turns import relay
from tests.sessions.conftest import (
    KEY,
    Client,
    event_types,
    first_agent,
    instance,
    ok,
    priced_instance,
    priced_provider,
    send,
    session,
)
from tests.upstreams import UpstreamServer

pytestmark = pytest.mark.anyio


async def test_a_turn_streams_and_is_recorded(client: Client, upstream: UpstreamServer) -> None:
    instance_id = await instance(client, upstream)
    created = await session(client, instance_id, system_prompt="Be brief.")
    session_id, agent_id = created["id"], first_agent(created)
    turn = await send(client, session_id, agent_id, "Hello there")
    assert "".join(turn.deltas) == upstream.scenario.reply
    assert len(turn.deltas) > 1
    record = turn.turn
    assert record["outcome"] == "completed" and record["text"] == upstream.scenario.reply
    assert record["model_id"] == "local-small" and record["instance_id"] == instance_id
    assert record["input_tokens"] > 0 and record["output_tokens"] == len(upstream.scenario.reply.split())
    assert record["price_status"] == "unknown" and record["cost_usd"] is None
    assert record["ttft_ms"] is not None and record["total_ms"] >= record["ttft_ms"]
    sent = upstream.scenario.requests_to("/chat/completions")[-1].json()
    assert sent["model"] == "local-small"
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]
    assert (await event_types(client, session_id))[-3:] == ["MessageAdded", "TurnStarted", "TurnCompleted"]
    transcript = ok(await client.get(f"/api/v1/sessions/{session_id}/agents/{agent_id}/messages"))
    assert [entry["kind"] for entry in transcript] == ["user", "turn"]  # type: ignore[union-attr]
    shown = ok(await client.get(f"/api/v1/sessions/{session_id}"))
    assert shown["turns"] == 1 and shown["unknown_cost_turns"] == 1


async def test_the_second_turn_carries_the_thread(client: Client, upstream: UpstreamServer) -> None:
    instance_id = await instance(client, upstream)
    created = await session(client, instance_id)
    await send(client, created["id"], first_agent(created), "one")
    await send(client, created["id"], first_agent(created), "two")
    sent = upstream.scenario.requests_to("/chat/completions")[-1].json()["messages"]
    assert [message["role"] for message in sent] == ["user", "assistant", "user"]
    assert sent[-1]["content"] == "two"


async def test_a_model_change_mid_session_applies_to_the_next_turn(
    client: Client, upstream: UpstreamServer, foreign: UpstreamServer
) -> None:
    first = await instance(client, upstream, "First")
    second = await instance(client, foreign, "Second", api_key="sk-second-instance-key-0000WXYZ")
    created = await session(client, first)
    session_id, agent_id = created["id"], first_agent(created)
    assert (await send(client, session_id, agent_id, "one")).turn["model_id"] == "local-small"
    change = {"instance_id": second, "model_id": "local-large"}
    ok(await client.patch(f"/api/v1/sessions/{session_id}/agents/{agent_id}", json=change))
    turn = await send(client, session_id, agent_id, "two")
    assert (turn.turn["instance_id"], turn.turn["model_id"]) == (second, "local-large")
    assert [request.json()["model"] for request in upstream.scenario.requests_to("/chat/completions")] == ["local-small"]
    to_second = foreign.scenario.requests_to("/chat/completions")
    assert [request.json()["model"] for request in to_second] == ["local-large"]
    assert to_second[0].bearer() == "sk-second-instance-key-0000WXYZ"
    assert [message["content"] for message in to_second[0].json()["messages"]] == ["one", upstream.scenario.reply, "two"]
    assert (await event_types(client, session_id))[2:] == [
        "MessageAdded", "TurnStarted", "TurnCompleted", "AgentModelChanged", "MessageAdded", "TurnStarted", "TurnCompleted",
    ]


async def test_a_rotated_key_is_used_by_the_next_turn(client: Client, upstream: UpstreamServer) -> None:
    instance_id = await instance(client, upstream)
    created = await session(client, instance_id)
    session_id, agent_id = created["id"], first_agent(created)
    await send(client, session_id, agent_id, "one")
    upstream.scenario.key = "sk-rotated-session-key-1234LMNO"
    ok(await client.put(f"/api/v1/instances/{instance_id}/credential", json={"api_key": upstream.scenario.key}))
    assert (await send(client, session_id, agent_id, "two")).turn["outcome"] == "completed"
    keys = [request.bearer() for request in upstream.scenario.requests_to("/chat/completions")]
    assert keys == [KEY, "sk-rotated-session-key-1234LMNO"]


async def test_known_free_and_unknown_prices_and_re_costing(client: Client, upstream: UpstreamServer) -> None:
    instance_id = await priced_instance(client, upstream)
    created = await session(client, instance_id)
    session_id = created["id"]
    agents = f"/api/v1/sessions/{session_id}/agents"
    known = (await send(client, session_id, first_agent(created), "price me")).turn
    assert known["price_status"] == "known"
    assert known["prices"] == {"input": 1.0, "output": 2.0, "cache_read": 0.5, "cache_write": 0.0}
    expected = (known["input_tokens"] * 1.0 + known["output_tokens"] * 2.0) / 1_000_000  # type: ignore[operator]
    assert known["cost_usd"] == pytest.approx(expected)
    free_agent = ok(await client.post(agents, json={"name": "Free", "model_id": "local-large"}), 201)["agents"][1]["id"]  # type: ignore[index]
    free = (await send(client, session_id, free_agent, "hi")).turn
    assert (free["price_status"], free["cost_usd"]) == ("free", 0.0)
    unknown_agent = ok(await client.post(agents, json={"name": "Unknown", "model_id": "local-other"}), 201)["agents"][2]["id"]  # type: ignore[index]
    unknown = (await send(client, session_id, unknown_agent, "hi")).turn
    assert (unknown["price_status"], unknown["cost_usd"], unknown["prices"]["input"]) == ("unknown", None, None)  # type: ignore[index]
    totals = ok(await client.get(f"/api/v1/sessions/{session_id}"))
    assert totals["cost_usd"] == pytest.approx(expected) and totals["unknown_cost_turns"] == 1 and totals["turns"] == 3
    await priced_instance_prices(client, upstream, (10.0, 20.0))
    cost = ok(await client.get(f"/api/v1/sessions/{session_id}/cost", params={"prices": "current"}))
    assert cost["cost_usd"] == pytest.approx(expected)
    assert cost["current_cost_usd"] == pytest.approx(expected * 10)
    assert cost["unknown_cost_turns"] == 1 and cost["current_unknown_cost_turns"] == 1
    recorded = ok(await client.get(f"/api/v1/sessions/{session_id}/agents/{first_agent(created)}/messages"))
    assert recorded[1]["turn"]["prices"]["input"] == 1.0  # type: ignore[index]  # what it cost then stays


async def priced_instance_prices(client: Client, upstream: UpstreamServer, prices: tuple[float, float]) -> None:
    response = await client.put("/api/v1/catalog/custom/priced-local", json=priced_provider(upstream.urls.openai, prices))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("behaviour", "outcome"),
    [("unauthorized", "auth_failed"), ("rate_limited", "rate_limited"), ("server_error", "server_error"), ("not_found", "not_found")],
)
async def test_an_upstream_failure_ends_the_stream_with_its_outcome(
    client: Client, upstream: UpstreamServer, behaviour: str, outcome: str
) -> None:
    instance_id = await instance(client, upstream, max_attempts=1)
    created = await session(client, instance_id)
    upstream.scenario.behaviour = behaviour  # type: ignore[assignment]
    upstream.scenario.error_message = f"bad key {KEY}"  # a provider echoing the key
    turn = await send(client, created["id"], first_agent(created), "hi")
    assert turn.turn["outcome"] == "failed" and turn.turn["error_outcome"] == outcome
    assert KEY not in str(turn.turn)
    assert (await event_types(client, created["id"]))[-1] == "TurnFailed"


async def test_a_break_after_the_first_token_keeps_the_partial_text(client: Client, upstream: UpstreamServer) -> None:
    instance_id = await instance(client, upstream)
    created = await session(client, instance_id)
    upstream.scenario.behaviour = "broken_stream"
    turn = await send(client, created["id"], first_agent(created), "hi")
    assert turn.turn["outcome"] == "failed" and turn.turn["error_outcome"] == "bad_response"
    assert turn.turn["text"] == "".join(turn.deltas) and turn.deltas
    assert len(upstream.scenario.requests_to("/chat/completions")) == 1  # never retried after the first token


async def test_an_unexpected_error_in_a_turn_fails_that_turn_and_nothing_else(
    client: Client, upstream: UpstreamServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A provider layer that raises what nobody expected (a bug, a library's new exception): the turn is recorded
    as failed with the text it had, the error's own words (which may hold a key) are kept out, and the service
    answers on; its task group, shared by every turn, is not brought down."""
    instance_id = await instance(client, upstream)
    created = await session(client, instance_id)
    session_id, agent_id = created["id"], first_agent(created)

    async def raising(*args: object, **kwargs: object) -> AsyncIterator[ChatChunk]:
        yield TextDelta("Hello")
        raise RuntimeError(f"unexpected, with the key {KEY}")

    with monkeypatch.context() as patched:
        patched.setattr("backend.sessions.turns.stream_chat", raising)
        turn = await send(client, session_id, agent_id, "hi")
    assert (turn.turn["outcome"], turn.turn["error_outcome"], turn.turn["text"]) == ("failed", "bad_response", "Hello")
    assert "RuntimeError" in str(turn.turn["message"])
    assert KEY not in str(turn.turn) and KEY not in caplog.text
    assert (await event_types(client, session_id))[-1] == "TurnFailed"
    assert (await send(client, session_id, agent_id, "hi again")).turn["outcome"] == "completed"


async def test_deleting_an_instance_sessions_use(client: Client, upstream: UpstreamServer) -> None:
    instance_id = await instance(client, upstream)
    created = await session(client, instance_id)
    refused = await client.delete(f"/api/v1/instances/{instance_id}")
    assert refused.status_code == 409 and created["id"] in refused.text and "Chat" in refused.text
    assert "is used by 1 session:" in refused.json()["detail"]
    assert (await client.get(f"/api/v1/instances/{instance_id}")).status_code == 200
    assert (await client.delete(f"/api/v1/instances/{instance_id}", params={"force": "true"})).status_code == 204
    agent = ok(await client.get(f"/api/v1/sessions/{created['id']}"))["agents"][0]  # type: ignore[index]
    assert agent["status"] == "instance_deleted"
    url = f"/api/v1/sessions/{created['id']}/agents/{agent['id']}/messages"
    answer = await client.post(url, json={"text": "hi"})
    assert answer.status_code == 409 and "choose another model" in answer.text
    assert upstream.scenario.requests_to("/chat/completions") == []
    other = await instance(client, upstream, "Replacement")
    ok(await client.patch(f"/api/v1/sessions/{created['id']}/agents/{agent['id']}", json={"instance_id": other}))
    assert (await send(client, created["id"], agent["id"], "hi")).turn["outcome"] == "completed"


async def test_an_archived_session_does_not_hold_an_instance(client: Client, upstream: UpstreamServer) -> None:
    instance_id = await instance(client, upstream)
    created = await session(client, instance_id)
    ok(await client.patch(f"/api/v1/sessions/{created['id']}", json={"archived": True}))
    assert (await client.delete(f"/api/v1/instances/{instance_id}")).status_code == 204


async def test_a_model_that_vanished_since_it_was_chosen_refuses_the_turn(client: Client, upstream: UpstreamServer) -> None:
    instance_id = await instance(client, upstream)
    created = await session(client, instance_id, model_id="local-large")
    agent_id = first_agent(created)
    stale = await client.patch(
        f"/api/v1/sessions/{created['id']}/agents/{agent_id}", json={"system_prompt": "x"}, headers={"if-match": "1"}
    )
    assert stale.status_code == 409
    upstream.scenario.models = ["local-small"]
    ok(await client.post(f"/api/v1/instances/{instance_id}/test"))  # the endpoint no longer lists local-large
    answer = await client.post(f"/api/v1/sessions/{created['id']}/agents/{agent_id}/messages", json={"text": "hi"})
    assert answer.status_code == 422 and "local-large" in answer.text and "local-small" in answer.text
    assert upstream.scenario.requests_to("/chat/completions") == []


async def test_cached_tokens_are_charged_once_at_the_cache_price(client: Client, upstream: UpstreamServer) -> None:
    instance_id = await priced_instance(client, upstream)  # local-small: $1 in, $2 out, $0.5 cache read per 1M
    upstream.scenario.cache_read_tokens = 3
    created = await session(client, instance_id)
    turn = (await send(client, created["id"], first_agent(created), "a prompt that was cached")).turn
    assert turn["cache_read_tokens"] == 3 and turn["input_tokens"] > 3  # type: ignore[operator]
    uncached = turn["input_tokens"] - 3  # type: ignore[operator]  # OpenAI counts cache reads inside the input
    expected = (uncached * 1.0 + 3 * 0.5 + turn["output_tokens"] * 2.0) / 1_000_000  # type: ignore[operator]
    assert turn["cost_usd"] == pytest.approx(expected)


async def test_the_reasoning_level_attempts_and_finish_reason_reach_the_record(
    client: Client, upstream: UpstreamServer
) -> None:
    instance_id = await priced_instance(client, upstream)
    created = await session(client, instance_id, model_id="local-large", reasoning_effort="high")
    upstream.scenario.script = ["rate_limited"]  # one 429 with retry-after, then the answer
    turn = (await send(client, created["id"], first_agent(created), "think")).turn
    sent = upstream.scenario.requests_to("/chat/completions")[-1].json()
    assert sent["reasoning_effort"] == "high"
    assert turn["outcome"] == "completed" and turn["attempts"] == 2
    assert turn["finish_reason"] in ("stop", "length")


async def test_frames_waiting_together_go_to_the_client_in_one_write() -> None:
    """On a busy server several tokens arrive in one read from the upstream; each write costs a system call."""
    send, receive = anyio.create_memory_object_stream[bytes](math.inf)
    body = relay(receive, RunningTurn("t1"))
    send.send_nowait(b"event: delta\n\n")
    assert await anext(body) == b"event: delta\n\n"  # a frame alone goes at once
    for text in (b"one", b"two", b"three"):
        send.send_nowait(b"data: " + text + b"\n\n")
    send.close()
    assert [chunk async for chunk in body] == [b"data: one\n\ndata: two\n\ndata: three\n\n"]
