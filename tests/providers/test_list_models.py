"""Listing models (the connection test) through every protocol, and each outcome it can end in."""

import httpx
import pytest

from backend.providers import list_models
from tests.providers.peers import ALL_TYPES, KEYED, PROTOCOLS, connection
from tests.upstreams import Behaviour, UpstreamServer, Urls

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("provider_type", ALL_TYPES)
async def test_lists_the_upstreams_models(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    upstream.scenario.models = ["first-model", "second-model", "third-model"]
    result = await list_models(client, connection(upstream.urls, provider_type))
    assert (result.outcome, result.http_status) == ("ok", 200)
    assert result.model_ids == ["first-model", "second-model", "third-model"]
    assert result.latency_ms > 0
    assert result.message == "3 models listed"


@pytest.mark.parametrize("provider_type", KEYED)
async def test_a_wrong_key_is_auth_failed_and_not_retried(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    conn = connection(upstream.urls, provider_type, api_key="wrong-key", max_attempts=3)
    result = await list_models(client, conn)
    assert result.outcome == "auth_failed"
    assert result.http_status == (400 if provider_type == "google" else 401)  # Gemini: 400 API_KEY_INVALID
    assert result.model_ids == []
    assert len(upstream.scenario.requests) == 1


@pytest.mark.parametrize("provider_type", KEYED)
async def test_a_missing_key_is_auth_failed(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    result = await list_models(client, connection(upstream.urls, provider_type, api_key=None))
    assert result.outcome == "auth_failed"
    assert result.http_status == (403 if provider_type == "google" else 401)


@pytest.mark.parametrize("provider_type", PROTOCOLS)
@pytest.mark.parametrize(
    ("behaviour", "outcome", "status"),
    [
        ("unauthorized", "auth_failed", 401),
        ("not_found", "not_found", 404),
        ("rate_limited", "rate_limited", 429),
        ("server_error", "server_error", 500),
        ("malformed", "bad_response", 200),
        ("broken_stream", "bad_response", 200),
    ],
)
async def test_each_failure_maps_to_its_outcome(
    client: httpx.AsyncClient,
    upstream: UpstreamServer,
    provider_type: str,
    behaviour: Behaviour,
    outcome: str,
    status: int,
) -> None:
    upstream.scenario.behaviour = behaviour
    result = await list_models(client, connection(upstream.urls, provider_type))
    assert (result.outcome, result.http_status) == (outcome, status)
    assert result.model_ids == []
    assert result.message


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_a_slow_answer_times_out_at_the_instances_timeout(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    upstream.scenario.behaviour = "slow"
    upstream.scenario.delay_s = 5.0
    result = await list_models(client, connection(upstream.urls, provider_type, timeout_ms=200))
    assert (result.outcome, result.http_status) == ("timeout", None)
    assert 190 <= result.latency_ms < 2500  # well before the answer would come
    assert result.message == "no answer within 200 ms"


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_a_stopped_server_is_unreachable(
    client: httpx.AsyncClient, refused_urls: Urls, provider_type: str
) -> None:
    result = await list_models(client, connection(refused_urls, provider_type))
    assert (result.outcome, result.http_status) == ("unreachable", None)
    assert result.message.startswith(f"cannot reach {refused_urls.origin}")


async def test_an_invalid_endpoint_is_unreachable(client: httpx.AsyncClient) -> None:
    result = await list_models(client, connection(Urls.at("http://127.0.0.1:1"), "azure", base_url="not a url"))
    assert result.outcome == "unreachable"


@pytest.mark.parametrize(
    ("provider_type", "words"),
    [("bedrock", "AWS Bedrock"), ("google-vertex", "Google Vertex AI"), ("mystery", "unknown provider type")],
)
async def test_catalog_only_and_unknown_types_are_not_supported(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str, words: str
) -> None:
    result = await list_models(client, connection(upstream.urls, provider_type))
    assert (result.outcome, result.http_status, result.model_ids) == ("not_supported", None, [])
    assert words in result.message
    assert upstream.scenario.requests == []


AUTH_HEADERS = {
    "openai": {"authorization": "Bearer test-key"},
    "anthropic": {"x-api-key": "test-key", "anthropic-version": "2023-06-01"},
    "google": {"x-goog-api-key": "test-key"},
    "azure": {"api-key": "test-key"},
    "ollama": {"authorization": "Bearer test-key"},
}


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_the_instances_headers_and_the_protocols_auth_arrive(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    headers = {"X-Team": "blue", "HTTP-Referer": "https://switchboard.test"}
    result = await list_models(client, connection(upstream.urls, provider_type, headers=headers))
    assert result.outcome == "ok"
    seen = upstream.scenario.requests[0].headers
    expected = {"x-team": "blue", "http-referer": "https://switchboard.test", **AUTH_HEADERS[provider_type]}
    assert {name: seen.get(name) for name in expected} == expected


async def test_the_key_wins_over_an_instance_header_of_the_same_name(
    client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    conn = connection(upstream.urls, "openai-compat", headers={"Authorization": "Bearer stale"})
    assert (await list_models(client, conn)).outcome == "ok"
    assert upstream.scenario.requests[0].headers["authorization"] == "Bearer test-key"


async def test_azure_sends_the_instances_api_version(client: httpx.AsyncClient, upstream: UpstreamServer) -> None:
    assert (await list_models(client, connection(upstream.urls, "azure", api_version="2024-06-01"))).outcome == "ok"
    assert upstream.scenario.requests[0].query == {"api-version": "2024-06-01"}
    refused = await list_models(client, connection(upstream.urls, "azure", api_version="2099-01-01"))
    assert (refused.outcome, refused.http_status) == ("bad_response", 400)
    assert "API version not supported" in refused.message


async def test_the_upstreams_explanation_is_kept(client: httpx.AsyncClient, upstream: UpstreamServer) -> None:
    result = await list_models(client, connection(upstream.urls, "anthropic", api_key="wrong"))
    assert result.message == "HTTP 401: invalid x-api-key"


async def test_a_single_model_is_counted_in_the_singular(client: httpx.AsyncClient, upstream: UpstreamServer) -> None:
    upstream.scenario.models = ["only-model"]
    assert (await list_models(client, connection(upstream.urls, "ollama"))).message == "1 model listed"


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_an_error_object_in_a_200_is_a_server_error_not_an_empty_list(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    upstream.scenario.behaviour = "stream_error"
    upstream.scenario.error_message = "quota exceeded"
    result = await list_models(client, connection(upstream.urls, provider_type, max_attempts=2))
    assert (result.outcome, result.http_status) == ("server_error", 200)
    assert result.message == "HTTP 200 with an error instead of an answer: quota exceeded"
    assert len(upstream.scenario.requests) == 2


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_a_listing_reset_mid_body_is_tried_again(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    upstream.scenario.script = ["reset"]
    result = await list_models(client, connection(upstream.urls, provider_type, max_attempts=2))
    assert result.outcome == "ok" and result.model_ids == upstream.scenario.models
    assert len(upstream.scenario.requests) == 2
