"""Turns through real local upstreams: streamed, recorded with usage, prices and cost, one at a time per agent."""

from __future__ import annotations

import pytest

from tests.sessions.conftest import Client, event_types, first_agent, instance, ok, send, session
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
