"""The API docs page works with no network beyond the app: it loads, shows bodies and refusals, and try-it
calls the running server."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Page, Route, expect

from tests.e2e.conftest import ConsoleErrors, RunningApp

HEALTH = "#operations-audit-ApiV1HealthHealth"
CREATE_INSTANCE = "#operations-instances-ApiV1InstancesCreate"


def only_this_machine(page: Page) -> list[str]:
    """Abort every request to another host; the list fills with what was attempted."""
    attempted: list[str] = []

    def handle(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            attempted.append(route.request.url)
            route.abort()

    page.route("**/*", handle)
    return attempted


def test_try_it_calls_the_running_server_with_no_other_host(
    running_app: RunningApp, page: Page, console_errors: ConsoleErrors
) -> None:
    elsewhere = only_this_machine(page)
    page.goto(f"{running_app.base_url}/api/schema/docs")
    health = page.locator(HEALTH)
    health.locator(".opblock-summary-control").click()
    health.get_by_role("button", name="Try it out").click()
    health.get_by_role("button", name="Execute").click()
    live = health.locator(".live-responses-table")
    expect(live.locator("tr.response .response-col_status")).to_have_text("200")
    expect(live.locator("tr.response .response-col_description")).to_contain_text("last_position")
    assert elsewhere == []
    assert console_errors == []


def test_a_write_shows_its_body_fields_and_its_refusals(running_app: RunningApp, page: Page) -> None:
    elsewhere = only_this_machine(page)
    page.goto(f"{running_app.base_url}/api/schema/docs")
    create = page.locator(CREATE_INSTANCE)
    create.locator(".opblock-summary-control").click()
    expect(create.locator(".opblock-section-request-body")).to_contain_text("provider_id")
    for status in ("201", "400", "401", "403", "409", "413", "415", "422"):
        expect(create.locator(f"tr.response[data-code='{status}']")).to_be_visible()
    expect(create.locator("tr.response[data-code='422']")).to_contain_text("errors")
    assert elsewhere == []
