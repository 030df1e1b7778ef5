"""A chat is retried while no text has come, never after: the partial answer is kept and ends in a ChatError."""

import httpx
import pytest

from backend.providers import Attempts, ChatError, stream_chat
from tests.providers.peers import MESSAGES, PROTOCOLS, collect, connection, last_error, text_of, usage_of
from tests.upstreams import Behaviour, UpstreamServer, reply_pieces
from tests.upstreams.scenario import DEFAULT_REPLY

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("provider_type", PROTOCOLS)
@pytest.mark.parametrize("fault", ["broken_stream", "stall", "stream_error"])
async def test_a_stream_that_fails_before_its_first_text_is_sent_again(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str, fault: Behaviour
) -> None:
    upstream.scenario.script = [fault]
    upstream.scenario.pieces_before_fault = 0
    upstream.scenario.delay_s = 2.0
    conn = connection(upstream.urls, provider_type, timeout_ms=300, max_attempts=2)
    chunks = await collect(stream_chat(client, conn, "local-small", MESSAGES))
    assert chunks[0] == Attempts(2)
    assert text_of(chunks) == DEFAULT_REPLY  # nothing of the failed attempt shows
    assert len(usage_of(chunks)) == 1
    assert len(upstream.scenario.requests) == 2


@pytest.mark.parametrize("provider_type", PROTOCOLS)
@pytest.mark.parametrize(
    ("fault", "outcome", "message"),
    [
        ("broken_stream", "bad_response", "the stream broke off"),
        ("stall", "timeout", "the stream went silent for 300 ms"),
        ("stream_error", "server_error", ""),
    ],
)
async def test_a_stream_that_fails_after_its_first_text_is_not_sent_again_and_keeps_the_text(
    client: httpx.AsyncClient,
    upstream: UpstreamServer,
    provider_type: str,
    fault: Behaviour,
    outcome: str,
    message: str,
) -> None:
    upstream.scenario.behaviour = fault
    upstream.scenario.pieces_before_fault = 2
    upstream.scenario.delay_s = 2.0
    conn = connection(upstream.urls, provider_type, timeout_ms=300, max_attempts=3)
    chunks = await collect(stream_chat(client, conn, "local-small", MESSAGES))
    error = last_error(chunks)
    assert (error.outcome, error.message.startswith(message)) == (outcome, True)
    assert chunks[0] == Attempts(1)
    assert text_of(chunks) == "".join(reply_pieces(DEFAULT_REPLY)[:2])
    assert usage_of(chunks) == []
    assert len(upstream.scenario.requests) == 1


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_failing_before_the_first_text_every_time_ends_after_the_last_attempt(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    upstream.scenario.behaviour = "broken_stream"
    upstream.scenario.pieces_before_fault = 0
    conn = connection(upstream.urls, provider_type, max_attempts=3)
    chunks = await collect(stream_chat(client, conn, "local-small", MESSAGES))
    assert chunks[0] == Attempts(3) and len(chunks) == 2
    assert last_error(chunks).outcome == "bad_response"
    assert len(upstream.scenario.requests) == 3


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_malformed_data_before_the_first_text_is_not_retried(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    upstream.scenario.behaviour = "malformed"
    upstream.scenario.pieces_before_fault = 0
    conn = connection(upstream.urls, provider_type, max_attempts=3)
    chunks = await collect(stream_chat(client, conn, "local-small", MESSAGES))
    assert chunks == [Attempts(1), chunks[-1]]
    assert isinstance(chunks[-1], ChatError) and chunks[-1].message.startswith("unreadable stream data")
    assert len(upstream.scenario.requests) == 1


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_a_429_then_a_500_then_the_answer_counts_three_attempts(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    upstream.scenario.script = ["rate_limited", "server_error"]
    upstream.scenario.retry_after_s = 0.01
    conn = connection(upstream.urls, provider_type, max_attempts=3)
    chunks = await collect(stream_chat(client, conn, "local-small", MESSAGES))
    assert chunks[0] == Attempts(3)
    assert text_of(chunks) == DEFAULT_REPLY
