"""The instance page against a local upstream: the timeline of an instance's history (live, paged), its
configuration as of a point chosen on it (kept in the address), what changed between two points, a deleted
instance's page reached from the Audit page, and plain words for an unknown instance or a point that is none."""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import ConsoleErrors, RunningApp
from tests.e2e.test_instances_page import RIGHT_KEY, WAIT_MS, upstream
from tests.e2e.test_instances_page import WRONG_KEY as OLD_KEY
from tests.upstreams import UpstreamServer

__all__ = ["upstream"]

SHOWN_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"


def instances_url(running_app: RunningApp) -> str:
    return f"{running_app.base_url}/api/v1/instances"


def create(running_app: RunningApp, upstream: UpstreamServer, what: str) -> tuple[str, str]:
    """An instance with the old key on the upstream, through the API: its id and name."""
    name = f"{what} {uuid.uuid4().hex[:8]}"
    body = {"name": name, "provider_id": "deepseek", "endpoint": upstream.urls.openai, "api_key": OLD_KEY}
    created = httpx.post(instances_url(running_app), json=body)
    assert created.status_code == 201, created.text
    return created.json()["id"], name


def change(running_app: RunningApp, instance_id: str, **fields: object) -> int:
    """Change the instance's settings; the new version."""
    url = f"{instances_url(running_app)}/{instance_id}"
    version = httpx.get(url).json()["version"]
    changed = httpx.patch(url, json=fields, headers={"if-match": str(version)})
    assert changed.status_code == 200, changed.text
    version_now: int = changed.json()["version"]
    return version_now


def head(running_app: RunningApp) -> int:
    position: int = httpx.get(f"{running_app.base_url}/api/v1/health").json()["last_position"]
    return position


def open_page(page: Page, running_app: RunningApp, query: str) -> None:
    page.goto(f"{running_app.base_url}/instances/view?{query}")


def entry(page: Page, event_type: str) -> Locator:
    return page.locator(".timeline-entry", has=page.locator(".entry-type", has_text=re.compile(f"^{event_type}$")))


def change_row(page: Page, field: str) -> Locator:
    return page.locator(".change-row", has=page.locator("td", has_text=re.compile(f"^{re.escape(field)}$")))


def test_the_timeline_the_configuration_as_of_a_point_and_what_changed_since(
    page: Page, running_app: RunningApp, upstream: UpstreamServer, console_errors: ConsoleErrors
) -> None:
    instance_id, name = create(running_app, upstream, "Timeline")
    elsewhere = upstream.urls.openai.replace("127.0.0.1", "localhost")  # another origin: the key must be kept
    change(running_app, instance_id, endpoint=elsewhere, timeout_ms=5000, keep_credential=True)
    rotated = httpx.put(f"{instances_url(running_app)}/{instance_id}/credential",
                        json={"api_key": RIGHT_KEY, "verify": False})
    assert rotated.status_code == 200, rotated.text

    page.goto(f"{running_app.base_url}/instances")  # the test runs from the card, the page opens from its name
    card = page.locator(".instance-card", has=page.locator(".instance-name", has_text=name))
    card.get_by_role("button", name="Test").click()
    expect(card.locator(".instance-status")).to_have_attribute("data-code", "connected", timeout=WAIT_MS)
    card.get_by_role("link", name=name).click()

    expect(page.locator("#instance-title")).to_have_text(name, timeout=WAIT_MS)
    in_order = ["ConnectionTested", "CredentialRotated", "InstanceUpdated", "CredentialSet", "InstanceCreated"]
    expect(page.locator(".timeline-entry .entry-type")).to_have_text(in_order, timeout=WAIT_MS)
    expect(entry(page, "ConnectionTested").locator(".entry-outcome")).to_have_text("Connected")
    expect(entry(page, "InstanceUpdated").locator(".entry-summary")).to_contain_text("endpoint, timeout_ms")
    expect(page.locator("#shown-as")).to_have_text("Now")
    expect(page.locator(".fact-endpoint")).to_have_text(elsewhere)
    expect(page.locator(".fact-timeout")).to_have_text("5,000 ms")
    expect(page.locator(".fact-key")).to_have_text("•••• 7777")
    assert RIGHT_KEY not in page.content() and OLD_KEY not in page.content()

    before_update = int(entry(page, "CredentialSet").get_attribute("data-position") or 0)
    update = int(entry(page, "InstanceUpdated").get_attribute("data-position") or 0)
    entry(page, "CredentialSet").get_by_role("link", name="Show as of this point").click()
    as_of = f"As of {SHOWN_TIME} \\(event #{before_update}\\)"
    expect(page.locator("#shown-as")).to_have_text(re.compile(f"^{as_of}$"), timeout=WAIT_MS)
    expect(page).to_have_url(re.compile(f"as_of={before_update}$"))
    expect(page.locator(".fact-endpoint")).to_have_text(upstream.urls.openai)
    expect(page.locator(".fact-timeout")).to_have_text("30,000 ms")
    expect(page.locator(".fact-key")).to_have_text("•••• 3333")
    expect(entry(page, "CredentialSet").locator(".entry-shown")).to_be_visible()

    page.locator("#compare-now").click()
    since = f"^From {SHOWN_TIME} \\(event #{before_update}\\) to now$"
    expect(page.locator("#diff-title")).to_have_text(re.compile(since), timeout=WAIT_MS)
    for field, before, after in (("Endpoint", upstream.urls.openai, elsewhere), ("Timeout (ms)", "30,000", "5,000")):
        row = change_row(page, field)
        expect(row.locator(".change-before")).to_have_text(before)
        expect(row.locator(".change-after")).to_have_text(after)
        expect(row.locator(".change-by")).to_have_text(re.compile(f"^#{update} InstanceUpdated.*local · {SHOWN_TIME}$"))
    expect(change_row(page, "Key (last four)").locator(".change-by")).to_contain_text("CredentialRotated")

    page.reload()
    expect(page.locator("#shown-as")).to_have_text(re.compile(f"^{as_of}$"), timeout=WAIT_MS)
    expect(page.locator(".fact-timeout")).to_have_text("30,000 ms")
    expect(change_row(page, "Timeout (ms)").locator(".change-after")).to_have_text("5,000")
    page.locator("#back-to-now").click()
    expect(page.locator("#shown-as")).to_have_text("Now", timeout=WAIT_MS)
    expect(page.locator("#instance-diff")).to_have_count(0)

    deleted = httpx.delete(f"{instances_url(running_app)}/{instance_id}", headers={"if-match": "5"})
    assert deleted.status_code == 204, deleted.text
    page.goto(f"{running_app.base_url}/audit")
    expect(page.locator("#event-rows tr").first).to_be_visible(timeout=WAIT_MS)
    page.locator("#filter-stream").fill(f"instance-{instance_id}")
    page.locator("#filter-apply").click()
    rows = page.locator("#event-rows tr")
    expect(rows).to_have_count(6, timeout=WAIT_MS)
    rows.first.click()
    link = page.locator("#detail-links a", has_text=f"Instance {instance_id}")
    expect(link).to_have_attribute("href", f"/instances/view?id={instance_id}")
    link.click()

    expect(page.locator("#instance-deleted")).to_have_text("Deleted", timeout=WAIT_MS)
    expect(page.locator("#deleted-notice")).to_contain_text(f"by local (event #{head(running_app)})")
    expect(page.locator("#instance-title")).to_have_text(name)
    expect(page.locator(".timeline-entry .entry-type")).to_have_text(["InstanceDeleted", *in_order])
    expect(page.locator("#shown-as")).to_have_text("Its last configuration, before it was deleted")
    expect(page.locator(".fact-endpoint")).to_have_text(elsewhere)
    expect(entry(page, "InstanceDeleted").get_by_role("link", name="Show as of this point")).to_have_count(0)
    assert console_errors == []


def test_an_unknown_instance_or_a_point_that_is_none_is_said_plainly(
    page: Page, running_app: RunningApp, upstream: UpstreamServer, console_errors: ConsoleErrors
) -> None:
    open_page(page, running_app, "id=no-such-instance")
    expect(page.locator("#instance-not-found")).to_have_text("There is no instance “no-such-instance”.",
                                                             timeout=WAIT_MS)
    page.locator("#back-to-instances").click()
    expect(page).to_have_url(re.compile("/instances/?$"), timeout=WAIT_MS)

    instance_id, name = create(running_app, upstream, "Points")
    open_page(page, running_app, f"id={instance_id}&as_of=yesterday")
    expect(page.locator("#point-error")).to_have_text(
        "“yesterday” is not a point of the log (as_of must be an event number such as 12).", timeout=WAIT_MS
    )
    expect(page.locator("#shown-as")).to_have_text("Now")  # the page still shows the instance, as it is now
    expect(page.locator(".timeline-entry")).to_have_count(2)

    past = head(running_app) + 1000
    open_page(page, running_app, f"id={instance_id}&as_of={past}&compare=soon")
    expect(page.locator("#point-error")).to_contain_text(f"There is no event #{past} yet (as_of)", timeout=WAIT_MS)
    expect(page.locator("#point-error")).to_contain_text("“soon” is not a point of the log (compare")
    expect(page.locator("#instance-diff")).to_have_count(0)

    open_page(page, running_app, f"id={instance_id}&as_of=1")  # the log's first event came before the instance
    expect(page.locator("#config-error")).to_contain_text("did not exist at that point", timeout=WAIT_MS)
    expect(page.locator("#instance-title")).to_have_text(name)
    assert [error for error in console_errors if "status of 404" not in error] == []


def test_new_events_appear_live_and_a_later_page_stays_where_it_was(
    page: Page, running_app: RunningApp, upstream: UpstreamServer, console_errors: ConsoleErrors
) -> None:
    instance_id, _ = create(running_app, upstream, "Long history")
    for timeout_ms in range(1001, 1030):  # 29 changes: 31 events with the creation and its key
        change(running_app, instance_id, timeout_ms=timeout_ms)
    open_page(page, running_app, f"id={instance_id}")
    entries = page.locator(".timeline-entry")
    expect(page.locator("#page-range")).to_have_text("1-25 of 31", timeout=WAIT_MS)
    expect(entries).to_have_count(25)
    positions = [int(p or 0) for p in (e.get_attribute("data-position") for e in entries.all())]
    assert positions == sorted(positions, reverse=True)

    httpx.post(f"{instances_url(running_app)}/{instance_id}/test", timeout=30).raise_for_status()
    expect(page.locator("#page-range")).to_have_text("1-25 of 32", timeout=WAIT_MS)
    expect(entries.first.locator(".entry-type")).to_have_text("ConnectionTested")
    expect(page.locator(".fact-outcome")).to_have_text("Key refused")  # the old key: the configuration follows too

    page.locator("#page-next").click()
    expect(page.locator("#page-range")).to_have_text("26-32 of 32", timeout=WAIT_MS)
    expect(entries.last.locator(".entry-type")).to_have_text("InstanceCreated")
    first_shown = entries.first.get_attribute("data-position")
    change(running_app, instance_id, timeout_ms=2000)
    expect(page.locator("#newer-events")).to_have_text("1 new event — show the newest", timeout=WAIT_MS)
    expect(page.locator("#page-range")).to_have_text("26-32 of 32")
    expect(entries.first).to_have_attribute("data-position", first_shown or "")
    expect(page.locator(".fact-timeout")).to_have_text("2,000 ms")

    page.locator("#newer-events").click()
    expect(page.locator("#page-range")).to_have_text("1-25 of 33", timeout=WAIT_MS)
    expect(entries.first.locator(".entry-type")).to_have_text("InstanceUpdated")
    expect(page.locator("#newer-events")).to_have_count(0)
    expect(page.locator("#page-prev")).to_be_disabled()
    assert console_errors == []


def test_on_a_wide_screen_the_configuration_and_the_timeline_sit_side_by_side(
    page: Page, running_app: RunningApp, upstream: UpstreamServer, console_errors: ConsoleErrors
) -> None:
    """(A phone's view is checked with every other page's in test_phone_layout.)"""
    instance_id, _ = create(running_app, upstream, "Wide")
    change(running_app, instance_id, timeout_ms=4321, headers={"X-Team": "lab"})
    created = httpx.get(f"{instances_url(running_app)}/{instance_id}/history").json()[0]["position"]
    page.set_viewport_size({"width": 1440, "height": 900})
    open_page(page, running_app, f"id={instance_id}&as_of={created}&compare=now")
    expect(change_row(page, "Header X-Team").locator(".change-after")).to_have_text("lab", timeout=WAIT_MS)
    expect(page.locator(".timeline-entry")).to_have_count(3)
    config, timeline = page.locator("#instance-config").bounding_box(), page.locator("#timeline").bounding_box()
    assert config and timeline and config["x"] + config["width"] <= timeline["x"] and config["y"] < timeline["y"]
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], widths
    assert console_errors == []
