"""Streaming a chat turn through every protocol: text, usage, request shape, and each failure."""

import json
from contextlib import aclosing

import anyio
import httpx
import pytest

from backend.providers import Attempts, ChatError, Finish, TextDelta, Usage, stream_chat
from tests.providers.peers import (
    MESSAGES,
    PROMPT_TOKENS,
    PROTOCOLS,
    REPLY_TOKENS,
    collect,
    connection,
    last_error,
    text_of,
    usage_of,
)
from tests.upstreams import Behaviour, UpstreamServer, Urls, reply_pieces
from tests.upstreams.scenario import DEFAULT_REPLY

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_streams_attempts_the_reply_in_pieces_the_finish_reason_then_usage(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    chunks = await collect(stream_chat(client, connection(upstream.urls, provider_type), "local-small", MESSAGES))
    assert chunks == [
        Attempts(1),
        *(TextDelta(piece) for piece in reply_pieces(DEFAULT_REPLY)),
        Finish("stop"),
        Usage(PROMPT_TOKENS, REPLY_TOKENS),
    ]


@pytest.mark.parametrize("provider_type", ["openai-compat", "openrouter", "vercel"])
async def test_openai_compatible_types_stream_the_same_way(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    chunks = await collect(stream_chat(client, connection(upstream.urls, provider_type), "local-large", MESSAGES))
    assert text_of(chunks) == DEFAULT_REPLY
    assert chunks[-1] == Usage(PROMPT_TOKENS, REPLY_TOKENS)


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_an_unknown_model_is_not_found(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    conn = connection(upstream.urls, provider_type, max_attempts=3)
    chunks = await collect(stream_chat(client, conn, "no-such-model", MESSAGES))
    assert chunks[0] == Attempts(1) and len(chunks) == 2
    assert (last_error(chunks).outcome, last_error(chunks).http_status) == ("not_found", 404)
    assert len(upstream.scenario.requests) == 1


@pytest.mark.parametrize("provider_type", PROTOCOLS)
@pytest.mark.parametrize(
    ("behaviour", "outcome", "status"),
    [
        ("unauthorized", "auth_failed", 401),
        ("rate_limited", "rate_limited", 429),
        ("server_error", "server_error", 500),
    ],
)
async def test_an_error_answer_ends_the_stream_with_its_outcome(
    client: httpx.AsyncClient,
    upstream: UpstreamServer,
    provider_type: str,
    behaviour: Behaviour,
    outcome: str,
    status: int,
) -> None:
    upstream.scenario.behaviour = behaviour
    chunks = await collect(stream_chat(client, connection(upstream.urls, provider_type), "local-small", MESSAGES))
    error = last_error(chunks)
    assert chunks == [Attempts(1), error]
    assert (error.outcome, error.http_status) == (outcome, status)


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_a_broken_stream_keeps_the_text_so_far_and_ends_in_bad_response(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    upstream.scenario.behaviour = "broken_stream"
    conn = connection(upstream.urls, provider_type, max_attempts=3)
    chunks = await collect(stream_chat(client, conn, "local-small", MESSAGES))
    error = last_error(chunks)
    assert (error.outcome, error.http_status) == ("bad_response", 200)
    assert error.message.startswith("the stream broke off")
    assert DEFAULT_REPLY.startswith(text_of(chunks))
    assert usage_of(chunks) == []
    assert len(upstream.scenario.requests) == 1  # a stream that has started is never sent again


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_an_error_reported_inside_the_stream_ends_it(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    upstream.scenario.behaviour = "stream_error"
    upstream.scenario.error_message = "the model is overloaded"
    conn = connection(upstream.urls, provider_type, max_attempts=3)
    chunks = await collect(stream_chat(client, conn, "local-small", MESSAGES))
    error = last_error(chunks)
    assert error.outcome == "server_error"
    assert "the model is overloaded" in error.message
    assert DEFAULT_REPLY.startswith(text_of(chunks))
    assert usage_of(chunks) == []
    assert len(upstream.scenario.requests) == 1


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_malformed_stream_data_is_bad_response(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    upstream.scenario.behaviour = "malformed"
    chunks = await collect(stream_chat(client, connection(upstream.urls, provider_type), "local-small", MESSAGES))
    error = last_error(chunks)
    assert error.outcome == "bad_response"
    assert error.message.startswith("unreadable stream data")


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_a_stream_that_goes_silent_times_out(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    upstream.scenario.behaviour = "stall"
    upstream.scenario.delay_s = 3.0  # well beyond the timeout, which leaves room for a loaded machine before the stall
    chunks = await collect(
        stream_chat(client, connection(upstream.urls, provider_type, timeout_ms=1000), "local-small", MESSAGES)
    )
    assert (last_error(chunks).outcome, last_error(chunks).message) == ("timeout", "the stream went silent for 1000 ms")


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_an_answer_that_never_starts_times_out(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    upstream.scenario.behaviour = "slow"
    upstream.scenario.delay_s = 2.0
    conn = connection(upstream.urls, provider_type, timeout_ms=200)
    chunks = await collect(stream_chat(client, conn, "local-small", MESSAGES))
    assert chunks == [Attempts(1), ChatError("timeout", None, "no answer within 200 ms")]


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_a_stopped_server_is_unreachable(
    client: httpx.AsyncClient, refused_urls: Urls, provider_type: str
) -> None:
    chunks = await collect(stream_chat(client, connection(refused_urls, provider_type), "local-small", MESSAGES))
    assert last_error(chunks).outcome == "unreachable"


@pytest.mark.parametrize("provider_type", ["bedrock", "google-vertex"])
async def test_catalog_only_types_answer_not_supported(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    chunks = await collect(stream_chat(client, connection(upstream.urls, provider_type), "any", MESSAGES))
    assert len(chunks) == 1 and last_error(chunks).outcome == "not_supported"


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_the_instances_headers_arrive_with_the_chat(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    conn = connection(upstream.urls, provider_type, headers={"X-Title": "Switchboard"})
    await collect(stream_chat(client, conn, "local-small", MESSAGES))
    assert upstream.scenario.requests[0].headers["x-title"] == "Switchboard"
    assert upstream.scenario.requests[0].headers["content-type"] == "application/json"


async def test_request_bodies_follow_each_protocol(client: httpx.AsyncClient, upstream: UpstreamServer) -> None:
    for provider_type in ("openai", "openai-compat", "anthropic", "google", "ollama"):
        conn = connection(upstream.urls, provider_type)
        await collect(stream_chat(client, conn, "local-small", MESSAGES, max_tokens=64))
    openai, compat, anthropic, google, ollama = (json.loads(seen.body) for seen in upstream.scenario.requests)
    as_dicts = [{"role": m.role, "content": m.content} for m in MESSAGES]
    assert openai == {
        "model": "local-small",
        "messages": as_dicts,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_completion_tokens": 64,
    }
    assert compat["max_tokens"] == 64 and "max_completion_tokens" not in compat
    assert anthropic == {
        "model": "local-small",
        "max_tokens": 64,
        "messages": as_dicts[1:],
        "stream": True,
        "system": MESSAGES[0].content,
    }
    assert google == {
        "contents": [{"parts": [{"text": MESSAGES[1].content}], "role": "user"}],
        "systemInstruction": {"parts": [{"text": MESSAGES[0].content}]},
        "generationConfig": {"maxOutputTokens": 64},
    }
    assert ollama == {"model": "local-small", "messages": as_dicts, "stream": True, "options": {"num_predict": 64}}
    gemini_request = upstream.scenario.requests[3]
    assert gemini_request.path.endswith("/v1beta/models/local-small:streamGenerateContent")
    assert gemini_request.query == {"alt": "sse"}


async def test_anthropic_gets_a_token_limit_even_when_none_is_given(
    client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    await collect(stream_chat(client, connection(upstream.urls, "anthropic"), "local-small", MESSAGES))
    assert json.loads(upstream.scenario.requests[0].body)["max_tokens"] == 4096


async def test_a_reader_may_stop_early(client: httpx.AsyncClient, upstream: UpstreamServer) -> None:
    conn = connection(upstream.urls, "openai")
    async with aclosing(stream_chat(client, conn, "local-small", MESSAGES)) as chunks:
        async for chunk in chunks:
            if isinstance(chunk, TextDelta):
                break
    again = await collect(stream_chat(client, conn, "local-small", MESSAGES))
    assert text_of(again) == DEFAULT_REPLY


@pytest.mark.parametrize("provider_type", PROTOCOLS)
@pytest.mark.parametrize("pieces", [0, 2])
async def test_a_stream_of_keep_alives_times_out_and_says_so(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str, pieces: int
) -> None:
    upstream.scenario.behaviour = "never_ends"
    upstream.scenario.pieces_before_fault = pieces
    upstream.scenario.keepalive_s = 0.02
    with anyio.fail_after(10):  # a body that never ends must not make a stream that never ends
        chunks = await collect(
            stream_chat(client, connection(upstream.urls, provider_type, timeout_ms=1000), "local-small", MESSAGES)
        )
    error = last_error(chunks)
    assert (error.outcome, error.http_status) == ("timeout", 200)
    assert error.message == "the stream sent only keep-alives for 1000 ms"
    assert text_of(chunks) == "".join(reply_pieces(DEFAULT_REPLY)[:pieces])


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_a_reset_before_any_answer_is_a_broken_off_answer_not_an_unreachable_endpoint(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    upstream.scenario.behaviour = "hang_up"
    chunks = await collect(stream_chat(client, connection(upstream.urls, provider_type), "local-small", MESSAGES))
    error = last_error(chunks)
    assert (error.outcome, error.http_status) == ("bad_response", None)
    assert error.message == (
        f"the connection to {upstream.urls.origin} broke off before an answer: [Errno 104] Connection reset by peer"
    )


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_a_request_that_cannot_be_sent_as_it_is_is_not_sent_again(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    """A header value with a line break is our own malformed request, not a connection that broke off."""
    conn = connection(upstream.urls, provider_type, headers={"x-team": "a\nb"}, max_attempts=3)
    chunks = await collect(stream_chat(client, conn, "local-small", MESSAGES))
    error = last_error(chunks)
    assert chunks[0] == Attempts(1)
    assert (error.outcome, error.http_status) == ("bad_response", None)
    assert "could not be sent as it is" in error.message
    assert upstream.scenario.requests == []


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_a_stream_its_reader_leaves_gives_its_connection_back_at_once(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    """The reader goes away after the first text of an answer that never ends: once the stream is closed the
    client's pool has no connection still serving it, without waiting for the garbage collector."""
    upstream.scenario.behaviour = "never_ends"
    upstream.scenario.pieces_before_fault = 2
    async with aclosing(stream_chat(client, connection(upstream.urls, provider_type), "local-small", MESSAGES)) as chunks:
        async for chunk in chunks:
            if isinstance(chunk, TextDelta):
                break
    pool = client._transport._pool  # type: ignore[attr-defined]
    assert [connection for connection in pool.connections if not (connection.is_idle() or connection.is_closed())] == []
