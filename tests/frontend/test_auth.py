"""The web app's side of signing in: the token read from the cookie, carried on every API call, and where a
refused call sends the tab."""

from __future__ import annotations

import pytest

from frontend.api import Client, SignInRequired
from frontend.auth import local_path, sign_in_url, token_from_cookie
from tests.upstreams import UpstreamServer

pytestmark = pytest.mark.anyio
TOKEN = "sbt_" + "A" * 43


@pytest.fixture
def api_at_upstream(upstream: UpstreamServer, monkeypatch: pytest.MonkeyPatch) -> UpstreamServer:
    """The web app pointed at the local upstream server as if it were the API, which records every request."""
    monkeypatch.setenv("SWITCHBOARD_API_URL", upstream.urls.origin)
    return upstream


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
