"""The Audit page shows the log and new events arrive without a reload, even from another process."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ConsoleErrors, RunningApp

APPEND_FROM_ANOTHER_PROCESS = """
import asyncio, sys
from pathlib import Path
from backend.audit.events import ServiceStarted
from backend.services import build_registry
from events import Metadata, SQLiteEventStore

async def main() -> None:
    path = Path(sys.argv[1]) / "events.sqlite3"
    async with SQLiteEventStore.open(path, registry=build_registry()) as store:
        for n in range(int(sys.argv[3])):
            event = ServiceStarted(version=f"{sys.argv[2]}-{n}" if n else sys.argv[2], data_dir="elsewhere")
            await store.append("e2e", [event], metadata=Metadata(actor="e2e-cli"))

asyncio.run(main())
"""


def append(running_app: RunningApp, marker: str, count: int = 1) -> None:
    """Log `count` events from another process, the first with `marker` as its version."""
    subprocess.run(
        [sys.executable, "-c", APPEND_FROM_ANOTHER_PROCESS, str(running_app.data_dir), marker, str(count)],
        check=True,
        env=running_app.env(),
        timeout=60,
    )


def head(running_app: RunningApp) -> int:
    position: int = httpx.get(f"{running_app.base_url}/api/v1/health").json()["last_position"]
    return position


def test_audit_page_updates_live(page: Page, running_app: RunningApp, console_errors: ConsoleErrors) -> None:
    page.goto(f"{running_app.base_url}/audit")
    rows = page.locator("#event-rows tr")
    expect(rows.first).to_be_visible(timeout=15_000)
    expect(page.get_by_role("link", name="Instances")).to_be_visible()

    marker = f"probe-{uuid.uuid4().hex[:8]}"
    append(running_app, marker)
    appended_at = time.monotonic()
    expect(rows.first).to_contain_text(marker, timeout=2_000)
    assert time.monotonic() - appended_at < 2.0
    expect(rows.first).to_contain_text("e2e-cli")
    assert console_errors == []


def test_the_log_is_paged_and_new_events_do_not_move_a_later_page(
    page: Page, running_app: RunningApp, console_errors: ConsoleErrors
) -> None:
    append(running_app, "bulk", count=120)
    total = head(running_app)
    page.goto(f"{running_app.base_url}/audit")
    rows = page.locator("#event-rows tr")
    expect(page.locator("#page-range")).to_have_text(f"1-50 of {total:,}", timeout=15_000)
    expect(rows).to_have_count(50)
    expect(page.locator("#page-prev")).to_be_disabled()

    page.locator("#page-next").click()
    expect(page.locator("#page-range")).to_have_text(f"51-100 of {total:,}", timeout=15_000)
    expect(rows.first.locator("td").first).to_have_text(str(total - 50))
    expect(page.locator("#page-prev")).to_be_enabled()

    marker = f"late-{uuid.uuid4().hex[:8]}"
    append(running_app, marker, count=2)
    expect(page.locator("#newer-events")).to_have_text("2 new events — show the newest", timeout=5_000)
    expect(page.locator("#page-range")).to_have_text(f"51-100 of {total:,}")  # the page stays where it was
    expect(rows.first.locator("td").first).to_have_text(str(total - 50))

    page.locator("#newer-events").click()
    expect(page.locator("#page-range")).to_have_text(f"1-50 of {total + 2:,}", timeout=15_000)
    expect(rows.first).to_contain_text(f"{marker}-1")
    expect(page.locator("#newer-events")).to_have_count(0)
    assert console_errors == []


def test_previous_back_to_the_first_page_shows_the_newest(
    page: Page, running_app: RunningApp, console_errors: ConsoleErrors
) -> None:
    append(running_app, "bulk", count=60)
    total = head(running_app)
    page.goto(f"{running_app.base_url}/audit")
    rows = page.locator("#event-rows tr")
    expect(page.locator("#page-range")).to_have_text(f"1-50 of {total:,}", timeout=15_000)
    page.locator("#page-next").click()
    expect(page.locator("#page-range")).to_contain_text("51-", timeout=15_000)

    marker = f"back-{uuid.uuid4().hex[:8]}"
    append(running_app, marker, count=2)
    expect(page.locator("#newer-events")).to_have_text("2 new events — show the newest", timeout=5_000)
    page.locator("#page-prev").click()
    expect(page.locator("#page-range")).to_have_text(f"1-50 of {total + 2:,}", timeout=15_000)
    expect(rows.first).to_contain_text(f"{marker}-1")
    expect(page.locator("#newer-events")).to_have_count(0)
    assert console_errors == []


def test_on_a_phone_events_are_stacked_rows_that_fit(page: Page, running_app: RunningApp) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{running_app.base_url}/audit")
    item = page.locator(".event-item").first
    expect(item).to_be_visible(timeout=15_000)
    expect(page.locator("#event-table")).to_be_hidden()
    summary = item.locator(".event-summary")  # on screen, not scrolled out of sight
    box = summary.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    ndjson, csv = page.locator("#export-ndjson").bounding_box(), page.locator("#export-csv").bounding_box()
    assert ndjson and csv and ndjson["y"] == csv["y"]  # the export buttons wrap together, neither alone


def create_instance(running_app: RunningApp, name: str) -> str:
    body = {"name": name, "provider_id": "deepseek", "endpoint": "http://127.0.0.1:9/v1", "api_key": "sk-e2e-audit-1"}
    created = httpx.post(f"{running_app.base_url}/api/v1/instances", json=body)
    assert created.status_code == 201, created.text
    instance_id: str = created.json()["id"]
    return instance_id


def filter_by(page: Page, **fields: str) -> None:
    for name, value in fields.items():
        page.locator(f"#filter-{name}").fill(value)
    page.locator("#filter-apply").click()


def test_the_log_is_filtered_by_type(page: Page, running_app: RunningApp, console_errors: ConsoleErrors) -> None:
    create_instance(running_app, f"Typed {uuid.uuid4().hex[:6]}")
    page.goto(f"{running_app.base_url}/audit")
    expect(page.locator("#event-rows tr").first).to_be_visible(timeout=15_000)
    expected = httpx.get(
        f"{running_app.base_url}/api/v1/audit/events", params={"type": "InstanceCreated", "limit": 50}
    ).json()["events"]

    filter_by(page, type="InstanceCreated")
    badges = page.locator("#event-rows tr td:nth-child(3)")
    expect(badges).to_have_count(len(expected), timeout=15_000)
    expect(badges).to_have_text(["InstanceCreated"] * len(expected))
    expect(page.locator("#page-range")).to_have_text(f"1-{len(expected)} matching")

    page.locator("#filter-clear").click()
    expect(page.locator("#page-range")).to_have_text(f"1-{min(head(running_app), 50)} of {head(running_app):,}")
    assert console_errors == []


def test_a_row_opens_its_payload_and_links(page: Page, running_app: RunningApp, console_errors: ConsoleErrors) -> None:
    word = f"needle{uuid.uuid4().hex[:8]}"
    instance_id = create_instance(running_app, f"Audit {word}")
    page.goto(f"{running_app.base_url}/audit")
    expect(page.locator("#event-rows tr").first).to_be_visible(timeout=15_000)

    filter_by(page, q=word)
    rows = page.locator("#event-rows tr")
    expect(rows).to_have_count(1, timeout=15_000)
    expect(rows.first).to_contain_text("InstanceCreated")

    rows.first.click()
    expect(page.locator("#detail-payload")).to_contain_text(f'"name": "Audit {word}"')
    assert "sk-e2e-audit-1" not in page.locator("#detail-payload").inner_text()
    provider = page.locator("#detail-links a", has_text="Provider deepseek")
    expect(provider).to_have_attribute("href", "/catalog/provider?id=deepseek")
    page.locator("#detail-close").click()
    expect(page.locator("#event-detail")).to_have_count(0)

    rows.first.click()
    instance = page.locator("#detail-links a", has_text=f"Instance {instance_id}")
    expect(instance).to_have_attribute("href", f"/instances/view?id={instance_id}")
    instance.click()
    expect(page.locator("#instance-title")).to_have_text(f"Audit {word}", timeout=15_000)
    assert console_errors == []


def test_the_export_link_downloads_what_the_filters_match(
    page: Page, running_app: RunningApp, console_errors: ConsoleErrors
) -> None:
    word = f"export{uuid.uuid4().hex[:8]}"
    append(running_app, word, count=3)  # versions word, word-1 and word-2: the word is in each
    page.goto(f"{running_app.base_url}/audit")
    expect(page.locator("#event-rows tr").first).to_be_visible(timeout=15_000)

    filter_by(page, type="ServiceStarted", actor="e2e-cli", q=word)
    expect(page.locator("#event-rows tr")).to_have_count(3, timeout=15_000)
    link = page.locator("#export-ndjson")
    wanted = f"type=ServiceStarted&actor=e2e-cli&q={word}"
    expect(link).to_have_attribute("href", f"/api/v1/audit/export?{wanted}&format=ndjson")
    with page.expect_download() as download:
        link.click()
    lines = download.value.path().read_text().splitlines()
    events = [json.loads(line) for line in lines]
    versions = [word, f"{word}-1", f"{word}-2"]
    assert [(e["type"], e["actor"], e["data"]["version"]) for e in events] == [
        ("ServiceStarted", "e2e-cli", version) for version in versions
    ]
    expect(page.locator("#export-csv")).to_have_attribute("href", re.compile(r"q=" + word + "&format=csv$"))
    assert console_errors == []
