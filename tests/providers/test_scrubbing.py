"""No secret leaves the provider layer: keys and credential headers are cut out of every message."""

import httpx
import pytest

from backend.providers import list_models, stream_chat
from tests.providers.peers import MESSAGES, PROTOCOLS, collect, connection, last_error
from tests.upstreams import UpstreamServer

pytestmark = pytest.mark.anyio

KEY = "sk-live-0123456789abcdef"
PROXY_TOKEN = "proxy-token-98765"


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_an_upstream_that_echoes_secrets_has_them_redacted(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    upstream.scenario.key = KEY
    upstream.scenario.behaviour = "server_error"
    upstream.scenario.error_message = f"failed for key {KEY} via Bearer {PROXY_TOKEN}"
    conn = connection(
        upstream.urls, provider_type, api_key=KEY, headers={"X-Proxy-Authorization": f"Bearer {PROXY_TOKEN}"}
    )
    listed = await list_models(client, conn)
    chatted = last_error(await collect(stream_chat(client, conn, "local-small", MESSAGES)))
    for message in (listed.message, chatted.message):
        assert KEY not in message and PROXY_TOKEN not in message
        assert message == "HTTP 500: failed for key [redacted] via [redacted]"


@pytest.mark.parametrize("provider_type", PROTOCOLS)
async def test_an_error_inside_a_stream_has_secrets_redacted(
    client: httpx.AsyncClient, upstream: UpstreamServer, provider_type: str
) -> None:
    upstream.scenario.key = KEY
    upstream.scenario.behaviour = "stream_error"
    upstream.scenario.error_message = f"key {KEY} is over its quota"
    conn = connection(upstream.urls, provider_type, api_key=KEY)
    error = last_error(await collect(stream_chat(client, conn, "local-small", MESSAGES)))
    assert KEY not in error.message
    assert "key [redacted] is over its quota" in error.message


async def test_a_key_given_only_as_an_instance_header_is_redacted(
    client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    upstream.scenario.key = KEY
    upstream.scenario.behaviour = "rate_limited"
    upstream.scenario.error_message = f"too many requests for {KEY}"
    conn = connection(upstream.urls, "openai-compat", api_key=None, headers={"Authorization": f"Bearer {KEY}"})
    result = await list_models(client, conn)
    assert result.outcome == "rate_limited"
    assert result.message == "HTTP 429: too many requests for [redacted] (retry after 0.2 s)"


def test_an_error_is_described_by_its_causes_not_by_what_was_being_handled_when_it_came() -> None:
    """An error without words of its own, raised while another was handled, is not described by that other one
    (which may say anything, a request's headers included): only the causes it names explain it."""
    from backend.providers.failures import describe_error

    try:
        try:
            raise ValueError(f"header x-api-key: {KEY}")
        except ValueError:
            raise httpx.ReadError("") from None
    except httpx.ReadError as error:
        assert describe_error(error) == "ReadError"
    try:
        raise httpx.ReadError("") from ConnectionResetError(104, "Connection reset by peer")
    except httpx.ReadError as error:
        assert describe_error(error) == "[Errno 104] Connection reset by peer"
