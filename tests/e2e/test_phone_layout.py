"""Every page fits a phone: at 390x844 nothing is wider than the screen (wide tables scroll in their own box)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ConsoleErrors, RunningApp
from tests.upstreams import Scenario, UpstreamServer

PHONE = {"width": 390, "height": 844}
WAIT_MS = 20_000
KEY = "sk-e2e-phone-key-3939"
MODEL = "deepseek-v4-flash"


@pytest.fixture(scope="module")
def made_paths(running_app: RunningApp) -> Iterator[dict[str, str]]:
    """A session on an instance of a local upstream: the paths of its chat page and of the instance's page, as of
    the instance's creation compared with now."""
    with UpstreamServer(Scenario(key=KEY, models=[MODEL], reply="ok")) as server:
        base = running_app.base_url
        body = {"name": "Phone check", "provider_id": "deepseek", "endpoint": server.urls.openai, "api_key": KEY}
        instance = httpx.post(f"{base}/api/v1/instances", json=body).json()["id"]
        httpx.post(f"{base}/api/v1/instances/{instance}/test", timeout=30).raise_for_status()
        session = {"name": "A session with a rather long name for a phone", "instance_id": instance, "model_id": MODEL}
        created = httpx.post(f"{base}/api/v1/sessions", json=session)
        assert created.status_code == 201, created.text
        first = httpx.get(f"{base}/api/v1/instances/{instance}/history").json()[0]["position"]
        yield {
            "chat": f"/sessions/view?id={created.json()['id']}",
            "instance": f"/instances/view?id={instance}&as_of={first}&compare=now",
        }


PAGES = [  # each page's address and something that shows once its data is in
    pytest.param("/catalog", ".provider-card", id="catalog"),
    pytest.param("/catalog/provider?id=anthropic", "#provider-models", id="provider"),
    pytest.param("/catalog/edit", "#save-provider", id="editor"),
    pytest.param("/instances", ".instance-card", id="instances"),
    pytest.param("/instances/import", "#env-candidates tr", id="env-import"),
    pytest.param("instance", "#change-items .change-item", id="instance"),
    pytest.param("/sessions", ".session-card", id="sessions"),
    pytest.param("chat", "#agents-panel .agent-choice", id="chat"),
    pytest.param("/audit", ".event-item", id="audit"),
    pytest.param("/reports", "#report-totals", id="reports"),
    pytest.param("/sign-in", "#sign-in-token", id="sign-in"),
    pytest.param("/no/such/page", "#not-found", id="not-found"),  # answered with status 404, which the console logs
]


@pytest.mark.parametrize(("path", "ready"), PAGES)
def test_the_page_fits_a_phone(
    page: Page, running_app: RunningApp, made_paths: dict[str, str], path: str, ready: str,
    console_errors: ConsoleErrors, tmp_path: Path,
) -> None:
    page.set_viewport_size(PHONE)
    page.goto(running_app.base_url + made_paths.get(path, path))
    expect(page.locator(ready).first).to_be_visible(timeout=WAIT_MS)
    name = path.strip("/").replace("/", "-").split("?")[0] or "root"
    page.screenshot(path=tmp_path / f"phone-{name}.png", full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{path} is {overflow}px wider than the phone"
    assert [error for error in console_errors if "status of 404" not in error] == []
