"""A data folder whose log an earlier release wrote (store schema 2) is brought up to date as the service starts:
the stream category index and the rebuild table are added, the instance references view is built from the log and
that is logged once, and the audit query answers from them what the log holds.

stores/schema-2.sqlite3 was written by the code at commit 0d63088 (store schema 2): three instances with a
connection test each, a token, two sessions whose agents and turns run on other instances, with the instance,
token and session views kept with each append and the search index caught up.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from backend.audit.events import SERVICE_STREAM, ViewRebuilt
from backend.audit.query import AuditFilter, query_page
from backend.services import open_services
from backend.settings import Settings
from events import StoredEvent

pytestmark = pytest.mark.anyio
OLD_LOG = Path(__file__).parent / "stores" / "schema-2.sqlite3"
OLD_EVENTS = 24


def _schema(path: Path) -> tuple[str, set[str]]:
    """The store schema version and the names of the tables and indexes in the file."""
    with sqlite3.connect(path) as conn:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    return version, names


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings(data_dir=tmp_path / "data")
    settings.data_dir.mkdir(mode=0o700)
    shutil.copyfile(OLD_LOG, settings.database_path)
    return settings


def _named(stored: StoredEvent, instance_id: str) -> bool:
    def names(value: object) -> Iterator[object]:
        if isinstance(value, dict):
            yield value.get("instance_id")
            for item in value.values():
                yield from names(item)
    return stored.stream_id == f"instance-{instance_id}" or instance_id in names(msgspec.json.decode(stored.data))


async def test_an_old_data_folder_is_upgraded_at_start_up(settings: Settings) -> None:
    old_version, old_names = _schema(OLD_LOG)
    assert old_version == "2" and "events_by_category" not in old_names and "view_rebuilds" not in old_names
    async with open_services(settings) as services:
        store = services.store
        logged = await store.read(stream=SERVICE_STREAM, type=ViewRebuilt.__name__)
        unlogged = await store.unlogged_rebuilds()
        log = await store.read(limit=1000)
        pages = {
            instance_id: await query_page(store, services.search, AuditFilter(instance=instance_id), "oldest", 100)
            for instance_id in ("prod", "dev", "local", "nowhere")
        }
        sessions = await query_page(store, services.search, AuditFilter(stream="session-"), "newest", 100)
        searched = await query_page(store, services.search, AuditFilter(q="reviewer"), "oldest", 100)
        failures = store.followers.failures()
    async with open_services(settings) as services:
        logged_again = await services.store.read(stream=SERVICE_STREAM, type=ViewRebuilt.__name__)
    version, names = _schema(settings.database_path)
    assert version == "3" and {"events_by_category", "view_rebuilds", "audit_instance_refs"} <= names
    rebuilt = [services.registry.decode(stored) for stored in logged]
    assert sorted((r.view, r.from_version, r.to_version, r.events) for r in rebuilt if isinstance(r, ViewRebuilt)) == [
        ("audit_instance_refs", 0, 1, OLD_EVENTS), ("instances", 2, 3, OLD_EVENTS)  # 3: the sort key's \x01
    ]
    assert unlogged == [] and logged_again == logged
    for instance_id, page in pages.items():
        assert [e.position for e in page.events] == [e.position for e in log if _named(e, instance_id)]
    assert len(pages["prod"].events) > 2 and pages["nowhere"].events == []
    assert [e.position for e in sessions.events] == [e.position for e in log if e.stream_id.startswith("session-")][::-1]
    assert [e.type for e in searched.events] == ["AgentCreated", "AgentCreated"]
    assert failures == []
