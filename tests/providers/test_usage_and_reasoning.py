"""Each protocol's cache token counts and reasoning parameter, through the local upstreams that check them."""

import httpx
import pytest

from backend.providers import REASONING_LEVELS, Attempts, ChatError, Finish, Usage, stream_chat
from tests.providers.peers import MESSAGES, PROMPT_TOKENS, PROTOCOLS, REPLY_TOKENS, collect, connection, text_of
from tests.upstreams import UpstreamServer, reply_pieces
from tests.upstreams.scenario import DEFAULT_REPLY, DEFAULT_THINKING

pytestmark = pytest.mark.anyio

CACHE_READ, CACHE_WRITE = 3, 2
USAGE_WITH_CACHE = {
    # prompt_tokens includes the cached tokens; no cache writes are reported
    "openai": Usage(PROMPT_TOKENS, REPLY_TOKENS, cache_read_tokens=CACHE_READ),
    "azure": Usage(PROMPT_TOKENS, REPLY_TOKENS, cache_read_tokens=CACHE_READ),
    # input_tokens leaves out both cache reads and writes
    "anthropic": Usage(
        PROMPT_TOKENS - CACHE_READ - CACHE_WRITE,
        REPLY_TOKENS,
        cache_read_tokens=CACHE_READ,
        cache_write_tokens=CACHE_WRITE,
    ),
    # promptTokenCount includes cachedContentTokenCount; no cache writes are reported
    "google": Usage(PROMPT_TOKENS, REPLY_TOKENS, cache_read_tokens=CACHE_READ),
    # Ollama reports no cache figures
    "ollama": Usage(PROMPT_TOKENS, REPLY_TOKENS),
}


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_cache_tokens_are_read_from_each_protocols_usage(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    upstream.scenario.cache_read_tokens = CACHE_READ
    upstream.scenario.cache_write_tokens = CACHE_WRITE
    chunks = await collect(stream_chat(client, connection(upstream.urls, provider_type), "local-small", MESSAGES))
    assert chunks[-2:] == [Finish("stop"), USAGE_WITH_CACHE[provider_type]]


@pytest.mark.parametrize("provider_type", ["openai", "azure"])
async def test_openai_asks_for_usage_in_the_stream(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    await collect(stream_chat(client, connection(upstream.urls, provider_type), "local-small", MESSAGES))
    [body] = upstream.scenario.bodies("/chat/completions")
    assert isinstance(body, dict) and body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    ("provider_type", "level", "received"),
    [
        ("openai", "high", "high"),
        ("openai-compat", "minimal", "minimal"),
        ("azure", "low", "low"),
        ("anthropic", "medium", {"type": "enabled", "budget_tokens": 8192}),
        ("google", "high", {"thinkingBudget": 16384}),
        ("google", "none", {"thinkingBudget": 0}),
        ("ollama", "low", True),
        ("ollama", "none", False),
    ],
)
async def test_the_reasoning_level_is_sent_in_the_protocols_own_parameter(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str, level: str, received: object
) -> None:
    conn = connection(upstream.urls, provider_type)
    chunks = await collect(stream_chat(client, conn, "local-small", MESSAGES, reasoning_effort=level))
    assert text_of(chunks) == DEFAULT_REPLY
    assert upstream.scenario.reasoning == [received]


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_without_a_level_no_reasoning_parameter_is_sent(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    await collect(stream_chat(client, connection(upstream.urls, provider_type), "local-small", MESSAGES))
    assert upstream.scenario.reasoning == [None]


async def test_anthropic_adds_the_thinking_budget_to_the_answers_token_limit(
    client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    conn = connection(upstream.urls, "anthropic")
    await collect(stream_chat(client, conn, "local-small", MESSAGES, max_tokens=500, reasoning_effort="minimal"))
    await collect(stream_chat(client, conn, "local-small", MESSAGES, reasoning_effort="none"))
    thinking, plain = upstream.scenario.bodies("/v1/messages")
    assert isinstance(thinking, dict) and isinstance(plain, dict)
    assert (thinking["max_tokens"], thinking["thinking"]) == (1524, {"type": "enabled", "budget_tokens": 1024})
    assert (plain["max_tokens"], "thinking" in plain) == (4096, False)


@pytest.mark.parametrize("provider_type", ["anthropic", "google", "ollama"])
@pytest.mark.parametrize("level", REASONING_LEVELS)
async def test_every_level_maps_to_a_value_the_service_accepts(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str, level: str
) -> None:
    conn = connection(upstream.urls, provider_type)
    chunks = await collect(stream_chat(client, conn, "local-small", MESSAGES, max_tokens=64, reasoning_effort=level))
    assert text_of(chunks) == DEFAULT_REPLY, chunks


async def test_a_level_the_service_refuses_is_its_own_bad_request(
    client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    conn = connection(upstream.urls, "openai", max_attempts=3)
    chunks = await collect(stream_chat(client, conn, "local-small", MESSAGES, reasoning_effort="max"))
    assert chunks[0] == Attempts(1)
    assert isinstance(chunks[1], ChatError) and (chunks[1].outcome, chunks[1].http_status) == ("bad_response", 400)
    assert "Invalid value: 'max'" in chunks[1].message


async def test_an_unknown_level_is_refused_without_a_request(
    client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    conn = connection(upstream.urls, "anthropic")
    chunks = await collect(stream_chat(client, conn, "local-small", MESSAGES, reasoning_effort="extreme"))
    assert len(chunks) == 1 and isinstance(chunks[0], ChatError) and chunks[0].outcome == "not_supported"
    assert "'extreme'" in chunks[0].message
    assert upstream.scenario.requests == []


@pytest.mark.parametrize(
    ("provider_type", "level"), [("openai", "high"), ("anthropic", "low"), ("google", "low"), ("ollama", "low")]
)
async def test_thinking_is_counted_as_output_but_is_not_part_of_the_answer(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str, level: str
) -> None:
    conn = connection(upstream.urls, provider_type)
    chunks = await collect(stream_chat(client, conn, "local-small", MESSAGES, reasoning_effort=level))
    assert text_of(chunks) == DEFAULT_REPLY
    assert chunks[-1] == Usage(PROMPT_TOKENS, REPLY_TOKENS + len(reply_pieces(DEFAULT_THINKING)))


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_an_answer_cut_at_the_token_limit_finishes_with_length(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    conn = connection(upstream.urls, provider_type)
    chunks = await collect(stream_chat(client, conn, "local-small", MESSAGES, max_tokens=2))
    assert text_of(chunks) == "".join(reply_pieces(DEFAULT_REPLY)[:2])
    assert chunks[-2:] == [Finish("length"), Usage(PROMPT_TOKENS, 2)]
