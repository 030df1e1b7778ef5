"""A view rebuilt at start-up is logged (`ViewRebuilt`) exactly once, even when the process dies between the rebuild
and its event, or between the event and forgetting the rebuild: the next start logs it, or finds it logged."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import anyio
import pytest

from backend.audit.events import SERVICE_STREAM, ViewRebuilt
from backend.instances.commands import create_instance
from backend.instances.schemas import CreateInstance
from backend.services import open_services
from backend.settings import Settings
from events import Metadata
from tests.events.bank import KILLED_EXIT_CODE

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parents[2]
VIEW = "audit_instance_refs"

# Starts the service on a data folder and dies (os._exit) at one point of logging the rebuilds made as it opened.
START_AND_DIE = """
import os, sys, anyio
from pathlib import Path
from backend.audit.events import ViewRebuilt
from backend.services import open_services
from backend.settings import Settings
from events import SQLiteEventStore
from tests.events.bank import KILLED_EXIT_CODE

append, logged = SQLiteEventStore.append, SQLiteEventStore.rebuild_logged

async def append_or_die(self, stream_id, events, **options):
    if isinstance(events[0], ViewRebuilt) and sys.argv[2] == "before the event":
        os._exit(KILLED_EXIT_CODE)
    return await append(self, stream_id, events, **options)

async def die(self, rebuild):
    os._exit(KILLED_EXIT_CODE)

SQLiteEventStore.append = append_or_die
if sys.argv[2] == "before the mark":
    SQLiteEventStore.rebuild_logged = die

async def main() -> None:
    async with open_services(Settings(data_dir=Path(sys.argv[1]))):
        pass

anyio.run(main)
"""


async def _folder_with_a_view_to_rebuild(settings: Settings) -> None:
    """A data folder whose log holds events and whose instance references view has no recorded version."""
    async with open_services(settings) as services:
        await create_instance(services.instances, CreateInstance(name="Prod", provider_id="openai"), Metadata(actor="t"))
    with sqlite3.connect(settings.database_path) as conn:
        conn.execute("DELETE FROM view_versions WHERE view = ?", (VIEW,))
    conn.close()


@pytest.mark.parametrize("dies", ["before the event", "before the mark"])
async def test_a_start_that_dies_while_logging_a_rebuild_leaves_it_logged_once(tmp_path: Path, dies: str) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    await _folder_with_a_view_to_rebuild(settings)
    command = [sys.executable, "-c", START_AND_DIE, str(settings.data_dir), dies]
    done = await anyio.run_process(command, cwd=REPO, check=False)
    assert done.returncode == KILLED_EXIT_CODE, done.stderr.decode()
    with sqlite3.connect(settings.database_path) as conn:
        kept = [row[0] for row in conn.execute("SELECT view FROM view_rebuilds")]
        stored = conn.execute("SELECT count(*) FROM events WHERE type = 'ViewRebuilt'").fetchone()[0]
    conn.close()
    assert kept == [VIEW] and stored == (dies == "before the mark")
    async with open_services(settings) as services:
        logged = await services.store.read(stream=SERVICE_STREAM, type=ViewRebuilt.__name__)
        rebuilt = [services.registry.decode(stored) for stored in logged]
        unlogged = await services.store.unlogged_rebuilds()
    assert [(r.view, r.from_version, r.to_version) for r in rebuilt if isinstance(r, ViewRebuilt)] == [(VIEW, 0, 1)]
    assert unlogged == []
