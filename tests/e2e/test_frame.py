"""The frame around every page: the live badge notices a lost server, an unknown address gets a styled page with
the navigation, and a phone gets the navigation behind a menu button."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ConsoleErrors, RunningApp, project_copy, serve_app

WAIT_MS = 20_000
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}


@pytest.fixture
def doomed_app(tmp_path: Path) -> Iterator[RunningApp]:
    """An app of this test's own, served from a copy of the project (the port is built into the pages), for the
    test to stop."""
    with serve_app(tmp_path / "data", project_copy(tmp_path)) as app:
        yield app


def test_the_live_badge_says_reconnecting_soon_after_the_server_is_gone(page: Page, doomed_app: RunningApp) -> None:
    page.goto(f"{doomed_app.base_url}/audit")
    badge = page.locator("#live-status")
    expect(badge).to_have_text("live", timeout=WAIT_MS)
    expect(page.locator("#event-rows tr").first).to_be_visible(timeout=WAIT_MS)

    doomed_app.kill()  # returns as soon as the processes are gone: the 2 s below count from losing the sockets
    expect(badge).to_have_text("reconnecting", timeout=2_000)


def test_an_unknown_address_gets_a_page_with_the_navigation(
    page: Page, running_app: RunningApp, console_errors: ConsoleErrors, tmp_path: Path
) -> None:
    page.set_viewport_size(DESKTOP)
    page.goto(f"{running_app.base_url}/no/such/page")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#not-found")).to_be_visible()
    expect(page.locator("#nav-catalog")).to_be_visible()
    expect(page.locator("#live-status")).to_have_text("live", timeout=WAIT_MS)
    page.screenshot(path=tmp_path / "frame-404-1440.png", full_page=True)
    page.locator("#nav-audit").click()
    expect(page).to_have_url(f"{running_app.base_url}/audit", timeout=WAIT_MS)
    assert [error for error in console_errors if "status of 404" not in error] == []  # the address itself is a 404


def test_on_a_phone_the_navigation_is_behind_a_menu_button(
    page: Page, running_app: RunningApp, console_errors: ConsoleErrors, tmp_path: Path
) -> None:
    page.set_viewport_size(PHONE)
    page.goto(f"{running_app.base_url}/sessions")
    expect(page.locator("#nav-menu")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#nav-sessions")).to_be_hidden()
    header = page.locator("#nav-menu").bounding_box()
    brand = page.get_by_role("heading", name="Switchboard").bounding_box()
    assert header and brand and brand["x"] + brand["width"] <= header["x"]  # the name never runs into the menu
    page.screenshot(path=tmp_path / "frame-menu-closed-390.png")

    page.locator("#nav-menu").click()
    expect(page.locator("#menu-instances")).to_be_visible()
    page.screenshot(path=tmp_path / "frame-menu-open-390.png")
    page.locator("#menu-instances").click()
    expect(page).to_have_url(f"{running_app.base_url}/instances", timeout=WAIT_MS)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert console_errors == []

