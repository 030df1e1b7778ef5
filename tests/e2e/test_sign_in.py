"""Signing in with an API token: who is signed in, what each role sees, changes logged under the token's name,
and the token kept out of the web app's state, its event socket and the page.

This module starts its own app: issuing a token switches a server to token mode for good.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, WebSocket, expect

from tests.e2e.conftest import ConsoleErrors, RunningApp, project_copy, serve_app
from tests.e2e.test_instances_page import RIGHT_KEY, WAIT_MS, add_instance, card_of, run_test, unique_name
from tests.leak_scan import files_under, find_leaks
from tests.upstreams import Scenario, UpstreamServer

TOKEN_SHAPE = re.compile(r"sbt_[A-Za-z0-9_-]{43}")
ADMIN_ONLY_BUTTONS = ("Add instance", "Import from environment", "Edit", "Rotate key", "Set key", "Delete")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """An app of its own, with tokens: served from a copy of the project, as the shared app may be running too."""
    folder = tmp_path_factory.mktemp("e2e-sign-in")
    with serve_app(folder / "data", project_copy(folder)) as served:
        yield served


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamServer]:
    with UpstreamServer(Scenario(key=RIGHT_KEY)) as server:
        yield server


def create_token(app: RunningApp, name: str, role: str) -> str:
    """`switchboard token create` against the app's data folder, as an admin would run it; the printed token."""
    switchboard = str(Path(sys.executable).with_name("switchboard"))
    done = subprocess.run(
        [switchboard, "token", "create", name, "--role", role],
        env=app.env(), capture_output=True, text=True, timeout=60, check=True,
    )
    found = TOKEN_SHAPE.search(done.stdout)
    assert found is not None, done.stdout
    return found.group(0)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def wait_until_accepted(app: RunningApp, token: str) -> None:
    """The server learns of a token made by another process when it next reads the log."""
    deadline = time.monotonic() + 15
    while httpx.get(f"{app.base_url}/api/v1/auth/me", headers=bearer(token)).status_code != 200:
        assert time.monotonic() < deadline, "the server did not accept the new token"
        time.sleep(0.1)


class Tokens:
    """One token per role, issued once for the module (which puts the app in token mode)."""

    def __init__(self, app: RunningApp) -> None:
        self.admin = create_token(app, "e2e-admin", "admin")
        self.operator = create_token(app, "e2e-operator", "operator")
        self.viewer = create_token(app, "e2e-viewer", "viewer")
        for token in (self.admin, self.operator, self.viewer):
            wait_until_accepted(app, token)


@pytest.fixture(scope="module")
def tokens(app: RunningApp) -> Tokens:
    return Tokens(app)


@pytest.fixture(scope="module")
def instance_name(app: RunningApp, tokens: Tokens, upstream: UpstreamServer) -> str:
    """An instance made through the API by the admin, for the other roles to look at."""
    name = unique_name("Shared")
    body = {"name": name, "provider_id": "deepseek", "endpoint": upstream.urls.openai, "api_key": RIGHT_KEY}
    created = httpx.post(f"{app.base_url}/api/v1/instances", json=body, headers=bearer(tokens.admin))
    assert created.status_code == 201, created.text
    return name


class Frames(list[str]):
    """Every frame of the page's websockets (Reflex's event socket), both ways."""

    def follow(self, socket: WebSocket) -> None:
        socket.on("framesent", lambda payload: self.append(str(payload)))
        socket.on("framereceived", lambda payload: self.append(str(payload)))


@pytest.fixture
def frames(page: Page) -> Frames:
    seen = Frames()
    page.on("websocket", seen.follow)
    return seen


def at(app: RunningApp, path: str, query: str = "") -> re.Pattern[str]:
    """The URL of a page, with or without the slash the static build adds to its path."""
    return re.compile(re.escape(f"{app.base_url}{path}") + "/?" + re.escape(query) + "$")


def sign_in(page: Page, app: RunningApp, token: str, path: str) -> None:
    """Open `path` signed out, land on the sign-in page, give the token, and come back to `path`."""
    page.goto(f"{app.base_url}{path}")
    expect(page).to_have_url(at(app, "/sign-in", f"?next={path}"), timeout=WAIT_MS)
    expect(page.locator("input[name=next]")).to_have_value(path, timeout=WAIT_MS)
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(at(app, path), timeout=WAIT_MS)


def expect_signed_in(page: Page, name: str, role: str) -> None:
    expect(page.locator("#signed-in-actor")).to_have_text(name, timeout=WAIT_MS)
    expect(page.locator("#signed-in-role")).to_have_text(role)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_with_no_token_issued_the_local_user_is_an_admin_and_cannot_sign_out(
    page: Page, app: RunningApp, console_errors: ConsoleErrors
) -> None:
    page.goto(f"{app.base_url}/instances")
    expect(page.locator("#signed-in-actor")).to_have_text("local", timeout=WAIT_MS)
    expect(page.locator("#signed-in-role")).to_have_text("admin")
    expect(page.get_by_role("button", name="Add instance")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    assert console_errors == []


def test_a_visit_without_a_token_lands_on_sign_in_and_a_wrong_token_is_refused(
    page: Page, app: RunningApp, tokens: Tokens, console_errors: ConsoleErrors
) -> None:
    page.goto(f"{app.base_url}/audit")
    expect(page).to_have_url(at(app, "/sign-in", "?next=/audit"), timeout=WAIT_MS)
    expect(page.locator("#sign-in-error")).to_have_count(0)
    expect(page.locator("input[name=next]")).to_have_value("/audit", timeout=WAIT_MS)

    page.get_by_label("API token").fill("sbt_" + "x" * 43)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(at(app, "/sign-in", "?error=1&next=%2Faudit"), timeout=WAIT_MS)
    expect(page.locator("#sign-in-error")).to_contain_text("not accepted", timeout=WAIT_MS)
    expect(page.locator("input[name=next]")).to_have_value("/audit")
    expect(page.locator("#event-rows")).to_have_count(0)
    assert console_errors == []


def test_an_admin_signs_in_and_changes_are_logged_under_the_token_name(
    page: Page, app: RunningApp, tokens: Tokens, upstream: UpstreamServer, frames: Frames,
    console_errors: ConsoleErrors,
) -> None:
    sign_in(page, app, tokens.admin, "/instances")
    expect_signed_in(page, "token:e2e-admin", "admin")
    name = unique_name("Signed")
    card = add_instance(page, name, upstream.urls.openai, RIGHT_KEY)
    instance_id = card.get_attribute("data-instance-id")

    page.get_by_role("link", name="Audit").click()
    created = page.locator("#event-rows tr", has_text=f"Instance '{name}' created")
    expect(created).to_contain_text("token:e2e-admin", timeout=WAIT_MS)
    logged = httpx.get(
        f"{app.base_url}/api/v1/events", params={"stream": f"instance-{instance_id}"}, headers=bearer(tokens.admin)
    ).json()["events"]
    assert [e["actor"] for e in logged] == ["token:e2e-admin"] * len(logged) and len(logged) >= 2

    storage = page.evaluate("JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])")
    places = {
        "page": page.content().encode(),
        "document.cookie": page.evaluate("document.cookie").encode(),  # HttpOnly: scripts cannot read it
        "browser storage": storage.encode(),
        **{f"event socket frame {n}": frame.encode() for n, frame in enumerate(frames)},
        **files_under(app.root / ".states"),  # Reflex keeps its state, socket headers included, in memory
    }
    assert frames and find_leaks(places, [tokens.admin]) == []
    assert console_errors == []


def test_an_operator_may_test_but_not_change(
    page: Page, app: RunningApp, tokens: Tokens, instance_name: str, console_errors: ConsoleErrors
) -> None:
    sign_in(page, app, tokens.operator, "/instances")
    expect_signed_in(page, "token:e2e-operator", "operator")
    card = card_of(page, instance_name)
    expect(card).to_be_visible(timeout=WAIT_MS)
    for label in ADMIN_ONLY_BUTTONS:
        expect(page.get_by_role("button", name=label, exact=True)).to_have_count(0)
    run_test(card, "connected", "ok")

    tested = httpx.get(
        f"{app.base_url}/api/v1/events", params={"type": "ConnectionTested"}, headers=bearer(tokens.operator)
    ).json()["events"]
    assert tested[-1]["actor"] == "token:e2e-operator"
    assert console_errors == []


def test_a_viewer_sees_no_buttons_that_change_anything(
    page: Page, app: RunningApp, tokens: Tokens, instance_name: str, console_errors: ConsoleErrors
) -> None:
    sign_in(page, app, tokens.viewer, "/instances")
    expect_signed_in(page, "token:e2e-viewer", "viewer")
    card = card_of(page, instance_name)
    expect(card.get_by_role("link", name="History")).to_be_visible(timeout=WAIT_MS)
    for label in ("Test", *ADMIN_ONLY_BUTTONS):
        expect(page.get_by_role("button", name=label, exact=True)).to_have_count(0)

    page.get_by_role("link", name="Catalog").click()
    expect(page.locator(".provider-card").first).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("button", name="New custom provider")).to_have_count(0)
    page.goto(f"{app.base_url}/catalog/provider?id=openai")
    expect(page.get_by_role("button", name="Export JSON")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Override")).to_have_count(0)
    page.goto(f"{app.base_url}/catalog/edit")
    expect(page.locator("#admin-only")).to_contain_text("Only an admin", timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Save provider")).to_have_count(0)
    expect(page.get_by_role("button", name="Import", exact=True)).to_have_count(0)
    assert console_errors == []


def test_signing_out_returns_to_the_sign_in_page_and_the_tab_forgets_what_it_showed(
    page: Page, app: RunningApp, tokens: Tokens, instance_name: str, frames: Frames, console_errors: ConsoleErrors
) -> None:
    sign_in(page, app, tokens.viewer, "/instances")
    expect_signed_in(page, "token:e2e-viewer", "viewer")
    expect(card_of(page, instance_name)).to_be_visible(timeout=WAIT_MS)
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(at(app, "/sign-in"), timeout=WAIT_MS)
    assert not [cookie for cookie in page.context.cookies() if cookie["name"] == "switchboard_token"]

    frames.clear()
    page.goto(f"{app.base_url}/instances")
    expect(page).to_have_url(at(app, "/sign-in", "?next=/instances"), timeout=WAIT_MS)
    assert frames and not [frame for frame in frames if instance_name in frame or "e2e-viewer" in frame]
    assert console_errors == []


def test_tabs_that_sign_in_and_out_leave_no_warnings_about_closed_tabs(
    page: Page, app: RunningApp, tokens: Tokens, console_errors: ConsoleErrors
) -> None:
    """Signing in and out reloads the tab onto a new socket; the old socket's feed must not write to it after."""
    sign_in(page, app, tokens.admin, "/audit")
    expect_signed_in(page, "token:e2e-admin", "admin")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(at(app, "/sign-in"), timeout=WAIT_MS)
    sign_in(page, app, tokens.admin, "/audit")
    expect_signed_in(page, "token:e2e-admin", "admin")

    create_token(app, "e2e-late", "viewer")  # an event every feed still running would try to send on
    expect(page.locator("#event-rows")).to_contain_text("e2e-late", timeout=WAIT_MS)
    log = app.data_dir.parent / "switchboard.log"
    assert "disconnected client" not in log.read_text()
    assert console_errors == []
