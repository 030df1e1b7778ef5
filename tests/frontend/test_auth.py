"""The web app's side of signing in: the token read from the cookie, carried on every API call, and where a
refused call sends the tab."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from frontend.api import Client, SignInRequired
from frontend.auth import local_path, sign_in_url, token_from_cookie
from tests.api.conftest import served, settings
from tests.upstreams import UpstreamServer

__all__ = ["served", "settings"]
pytestmark = pytest.mark.anyio
TOKEN = "sbt_" + "A" * 43


@pytest.fixture
def api_at_upstream(upstream: UpstreamServer, monkeypatch: pytest.MonkeyPatch) -> UpstreamServer:
    """The web app pointed at the local upstream server as if it were the API, which records every request."""
    monkeypatch.setenv("SWITCHBOARD_API_URL", upstream.urls.origin)
    return upstream


@pytest.fixture
def api(served: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The real API on a free port, where the web app looks for it."""
    monkeypatch.setenv("SWITCHBOARD_API_URL", served)
    return served


@pytest.fixture
def viewer_token(api: str) -> str:
    """A viewer's token, issued in local mode: from then on every request needs a token."""
    issued = httpx.post(f"{api}/api/v1/tokens", json={"name": "eye", "role": "viewer"})
    assert issued.status_code == 201, issued.text
    token: str = issued.json()["token"]
    return token


async def first_event(events: AsyncIterator[object]) -> object:
    async for event in events:
        return event
    raise AssertionError("the feed ended before its first event")


def test_the_token_is_found_among_other_cookies() -> None:
    assert token_from_cookie(f"theme=dark; switchboard_token={TOKEN}; other=1") == TOKEN
    assert token_from_cookie(f'switchboard_token="{TOKEN}"') == TOKEN
    assert token_from_cookie("not_switchboard_token=x; theme=dark") == ""
    assert token_from_cookie("") == ""


def test_sign_in_leads_back_only_to_a_page_of_this_site() -> None:
    assert local_path("/catalog/provider?id=openai") == "/catalog/provider?id=openai"
    for elsewhere in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", ""):
        assert local_path(elsewhere) == "/"
    assert sign_in_url("/catalog/provider?id=openai") == "/sign-in?next=/catalog/provider%3Fid%3Dopenai"
    assert sign_in_url("//evil.example") == "/sign-in?next=/"


def test_the_token_is_never_shown_by_repr() -> None:
    assert TOKEN not in repr(Client(TOKEN, "/instances"))


async def test_every_call_carries_the_token_as_a_bearer(api_at_upstream: UpstreamServer) -> None:
    await Client(TOKEN).get_json("/ollama/api/tags")
    assert api_at_upstream.scenario.requests[-1].headers["authorization"] == f"Bearer {TOKEN}"


async def test_without_a_token_no_authorization_is_sent(api_at_upstream: UpstreamServer) -> None:
    await Client("").send("GET", "/ollama/api/tags")
    assert "authorization" not in api_at_upstream.scenario.requests[-1].headers


async def test_a_401_asks_to_sign_in_and_come_back(api_at_upstream: UpstreamServer) -> None:
    api_at_upstream.scenario.key = "sk-the-right-key"
    with pytest.raises(SignInRequired) as refused:
        await Client(TOKEN, "/instances").get_json("/openai/v1/models")
    assert refused.value.page == "/instances"


async def test_the_api_takes_the_client_for_its_token(viewer_token: str) -> None:
    me = await Client(viewer_token).get_json("/api/v1/auth/me")
    assert b'"actor":"token:eye"' in me and b'"role":"viewer"' in me
    with pytest.raises(SignInRequired):
        await Client("", "/audit").get_json("/api/v1/auth/me")


async def test_the_live_feed_follows_as_the_token_and_asks_to_sign_in_without_one(viewer_token: str) -> None:
    assert await first_event(Client(viewer_token).follow_events(0))
    with pytest.raises(SignInRequired) as refused:
        await first_event(Client("", "/audit").follow_events(0))
    assert refused.value.page == "/audit"


async def test_calls_and_the_live_feed_log_no_token_even_at_debug_level(
    viewer_token: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        await Client(viewer_token).get_json("/api/v1/auth/me")
        assert await first_event(Client(viewer_token).follow_events(0))
    assert caplog.records and viewer_token not in caplog.text
