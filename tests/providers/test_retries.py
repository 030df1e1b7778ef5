"""The retry policy: 429 waits as long as the server asks (capped), 5xx, timeouts and refusals back off."""

import time

import httpx
import pytest

from backend.providers import list_models, stream_chat
from backend.providers.transport import MAX_RETRY_AFTER_S
from tests.providers.peers import MESSAGES, PROTOCOLS, collect, connection, text_of
from tests.upstreams import Behaviour, UpstreamServer, Urls
from tests.upstreams.scenario import DEFAULT_REPLY

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_a_429_is_retried_after_the_servers_retry_after(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    upstream.scenario.script = ["rate_limited"]
    upstream.scenario.retry_after_s = 0.3
    conn = connection(upstream.urls, provider_type, max_attempts=2, backoff_ms=3000)
    started = time.perf_counter()
    result = await list_models(client, conn)
    elapsed = time.perf_counter() - started
    assert result.outcome == "ok"
    assert 0.3 <= elapsed < 2.9  # the server's wait, not the 3 s backoff
    assert len(upstream.scenario.requests) == 2


async def test_rate_limiting_gives_up_after_max_attempts(client: httpx.AsyncClient, upstream: UpstreamServer) -> None:
    upstream.scenario.behaviour = "rate_limited"
    upstream.scenario.retry_after_s = 0.05
    result = await list_models(client, connection(upstream.urls, "openai", max_attempts=3))
    assert (result.outcome, result.http_status) == ("rate_limited", 429)
    assert result.message.endswith("(retry after 0.05 s)")
    assert len(upstream.scenario.requests) == 3


async def test_a_wait_beyond_the_cap_is_reported_at_once(client: httpx.AsyncClient, upstream: UpstreamServer) -> None:
    upstream.scenario.behaviour = "rate_limited"
    upstream.scenario.retry_after_s = MAX_RETRY_AFTER_S + 1
    started = time.perf_counter()
    result = await list_models(client, connection(upstream.urls, "anthropic", max_attempts=5))
    assert result.outcome == "rate_limited"
    assert time.perf_counter() - started < MAX_RETRY_AFTER_S / 2
    assert len(upstream.scenario.requests) == 1


async def test_server_errors_back_off_exponentially_then_give_up(
    client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    upstream.scenario.behaviour = "server_error"
    started = time.perf_counter()
    result = await list_models(client, connection(upstream.urls, "google", max_attempts=3, backoff_ms=100))
    assert (result.outcome, result.http_status) == ("server_error", 500)
    assert time.perf_counter() - started >= 0.1 + 0.2
    assert len(upstream.scenario.requests) == 3


async def test_a_passing_server_error_is_overcome(client: httpx.AsyncClient, upstream: UpstreamServer) -> None:
    upstream.scenario.script = ["server_error", "server_error"]
    result = await list_models(client, connection(upstream.urls, "azure", max_attempts=3))
    assert result.outcome == "ok"
    assert len(upstream.scenario.requests) == 3


async def test_a_timeout_is_retried(client: httpx.AsyncClient, upstream: UpstreamServer) -> None:
    upstream.scenario.script = ["slow"]
    upstream.scenario.delay_s = 2.0
    result = await list_models(client, connection(upstream.urls, "ollama", timeout_ms=200, max_attempts=2))
    assert result.outcome == "ok"
    assert len(upstream.scenario.requests) == 2


async def test_a_refused_connection_is_retried_with_backoff(client: httpx.AsyncClient, refused_urls: Urls) -> None:
    started = time.perf_counter()
    result = await list_models(client, connection(refused_urls, "openai", max_attempts=3, backoff_ms=50))
    assert result.outcome == "unreachable"
    assert time.perf_counter() - started >= 0.05 + 0.1


@pytest.mark.parametrize("behaviour", ["unauthorized", "not_found", "malformed"])
async def test_auth_not_found_and_bad_answers_are_never_retried(
    client: httpx.AsyncClient, upstream: UpstreamServer, behaviour: Behaviour
) -> None:
    upstream.scenario.behaviour = behaviour
    await list_models(client, connection(upstream.urls, "openai", max_attempts=3))
    assert len(upstream.scenario.requests) == 1


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_a_chat_is_retried_until_its_answer_starts(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    upstream.scenario.script = ["rate_limited", "server_error"]
    upstream.scenario.retry_after_s = 0.01
    conn = connection(upstream.urls, provider_type, max_attempts=3)
    chunks = await collect(stream_chat(client, conn, "local-small", MESSAGES))
    assert text_of(chunks) == DEFAULT_REPLY
    assert len(upstream.scenario.requests) == 3


async def test_at_least_one_attempt_is_made(client: httpx.AsyncClient, upstream: UpstreamServer) -> None:
    assert (await list_models(client, connection(upstream.urls, "openai", max_attempts=0))).outcome == "ok"
