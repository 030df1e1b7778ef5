"""The served one-port app refuses other sites on its pages, its API and both websockets."""

from __future__ import annotations

import httpx
import pytest
import websockets
from playwright.sync_api import Page, expect
from websockets.sync.client import connect

from tests.e2e.conftest import ConsoleErrors, RunningApp

EVIL = "http://evil.example"
SOCKETS = ["/_event/?EIO=4&transport=websocket", "/api/v1/live"]


def handshake_status(base: str, path: str, origin: str | None) -> int:
    """101 when the websocket opened, else the HTTP status that refused it."""
    sent = websockets.Origin(origin) if origin else None
    try:
        with connect(base.replace("http", "ws", 1) + path, origin=sent, open_timeout=10):
            return 101
    except websockets.InvalidStatus as refused:
        return refused.response.status_code


@pytest.mark.parametrize("path", SOCKETS)
def test_websockets_take_only_the_apps_origins(running_app: RunningApp, path: str) -> None:
    base = running_app.base_url
    assert handshake_status(base, path, EVIL) == 403
    assert handshake_status(base, path, base.replace("127.0.0.1", "localhost")) == 101
    assert handshake_status(base, path, base) == 101
    assert handshake_status(base, path, None) == 101


def test_forged_writes_and_foreign_hosts_are_refused(running_app: RunningApp) -> None:
    base = running_app.base_url
    head = httpx.get(f"{base}/api/v1/health").json()["last_position"]
    plain = httpx.post(f"{base}/api/v1/catalog/import", content=b'{"id": "x"}', headers={"content-type": "text/plain"})
    assert plain.status_code == 415
    foreign = httpx.post(f"{base}/api/v1/instances", json={"name": "x", "provider_id": "openai"}, headers={"origin": EVIL})
    assert foreign.status_code == 403
    assert httpx.get(f"{base}/audit", headers={"host": "rebound.evil.example"}).status_code == 400
    assert httpx.get(f"{base}/api/v1/health").json()["last_position"] == head


def test_pages_load_under_the_content_security_policy(
    page: Page, running_app: RunningApp, console_errors: ConsoleErrors
) -> None:
    answer = page.goto(f"{running_app.base_url}/instances")
    assert answer is not None
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"
    expect(page.get_by_role("link", name="Audit")).to_be_visible()
    page.get_by_role("link", name="Audit").click()
    expect(page.locator("#event-rows tr").first).to_be_visible(timeout=15_000)
    assert console_errors == []
