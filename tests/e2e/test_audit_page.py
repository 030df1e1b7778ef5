"""The Audit page shows the log and new events arrive without a reload, even from another process."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

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
        event = ServiceStarted(version=sys.argv[2], data_dir="elsewhere")
        await store.append("e2e", [event], metadata=Metadata(actor="e2e-cli"))

asyncio.run(main())
"""


def test_audit_page_updates_live(page: Page, running_app: RunningApp, console_errors: ConsoleErrors) -> None:
    page.goto(f"{running_app.base_url}/audit")
    rows = page.locator("#event-rows tr")
    expect(rows.first).to_contain_text("ServiceStarted", timeout=15_000)
    expect(page.get_by_role("link", name="Instances")).to_be_visible()

    marker = f"probe-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        [sys.executable, "-c", APPEND_FROM_ANOTHER_PROCESS, str(running_app.data_dir), marker],
        check=True,
        env=running_app.env(),
        timeout=60,
    )
    appended_at = time.monotonic()
    expect(rows.first).to_contain_text(marker, timeout=2_000)
    assert time.monotonic() - appended_at < 2.0
    expect(rows.first).to_contain_text("e2e-cli")
    assert console_errors == []
