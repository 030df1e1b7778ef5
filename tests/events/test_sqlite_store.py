"""The conformance suite run against the SQLite store, plus what only a file-backed store must do."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import subprocess
import sys
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import anyio
import pytest

from events import EventRegistry, EventStore, InlineView, Metadata, NotAnEventStore, SQLiteEventStore
from tests.events.bank import Opened, bank_registry
from tests.events.conformance import EventStoreConformance

REPO = Path(__file__).resolve().parents[2]

APPEND_SCRIPT = """
import sys, time, anyio
from pathlib import Path
from events import Metadata, SQLiteEventStore
from tests.events.bank import Deposited, bank_registry

async def main(path: str, stream: str, count: int) -> None:
    async with SQLiteEventStore.open(Path(path), registry=bank_registry()) as store:
        for _ in range(count):
            await store.append(stream, [Deposited(amount=1)], metadata=Metadata(actor="cli"))
        print(time.time())

anyio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[3]))
"""


class TestSQLiteEventStore(EventStoreConformance):
    refusal_error = sqlite3.IntegrityError

    @pytest.fixture(autouse=True)
    def _database(self, tmp_path: Path) -> None:
        self.path = tmp_path / "data" / "events.db"

    def open_store(
        self, registry: EventRegistry | None = None, inline_views: tuple[InlineView, ...] = ()
    ) -> AbstractAsyncContextManager[EventStore]:
        return SQLiteEventStore.open(self.path, registry=registry or bank_registry(), inline_views=inline_views)

    async def tamper_with_data(self, position: int, data: str) -> None:
        with self._raw() as conn:
            conn.execute("DROP TRIGGER IF EXISTS events_refuse_update")
            conn.execute("UPDATE events SET data = ? WHERE position = ?", (data, position))

    async def remove_behind_the_back(self, position: int) -> None:
        with self._raw() as conn:
            conn.execute("DROP TRIGGER IF EXISTS events_refuse_delete")
            conn.execute("DELETE FROM events WHERE position = ?", (position,))

    async def update_directly(self, position: int) -> None:
        with self._raw() as conn:
            conn.execute("UPDATE events SET data = '{}' WHERE position = ?", (position,))

    async def delete_directly(self, position: int) -> None:
        with self._raw() as conn:
            conn.execute("DELETE FROM events WHERE position = ?", (position,))

    async def count_seen_from_outside(self) -> int:
        with self._raw() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    async def append_in_another_process(self, stream_id: str, count: int) -> float:
        command = [sys.executable, "-c", APPEND_SCRIPT, str(self.path), stream_id, str(count)]
        done = await anyio.run_process(command, cwd=REPO, check=True)
        return float(done.stdout.decode().strip())

    def _raw(self) -> sqlite3.Connection:
        """A plain sqlite3 connection that commits on leaving its `with` block."""
        return sqlite3.connect(self.path)

    @pytest.mark.anyio
    async def test_wal_and_full_synchronous_by_default(self) -> None:
        async with self.open_store() as store:
            assert isinstance(store, SQLiteEventStore)
            durability = await store.durability()
        async with SQLiteEventStore.open(self.path, registry=bank_registry(), synchronous="normal") as store:
            relaxed = await store.durability()
        with self._raw() as conn:
            journal_mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert (durability.journal_mode, durability.synchronous) == ("WAL", "FULL")
        assert relaxed.synchronous == "NORMAL"
        assert journal_mode == "wal"

    @pytest.mark.anyio
    async def test_a_new_store_is_private_to_its_owner(self) -> None:
        async with self.open_store() as store:
            await store.append("acct-1", [Opened(owner="Ann")], metadata=Metadata(actor="alice"))
        assert stat.S_IMODE(self.path.stat().st_mode) == 0o600
        assert stat.S_IMODE(self.path.parent.stat().st_mode) == 0o700


class TestFilesThatAreNotStores:
    """Opening anything but a Switchboard store fails, names the file, and changes no byte of it."""

    @pytest.mark.anyio
    async def test_random_bytes(self, tmp_path: Path) -> None:
        path = tmp_path / "random.db"
        path.write_bytes(os.urandom(8192))
        await _refused_unchanged(path)

    @pytest.mark.anyio
    async def test_text_that_starts_like_sqlite(self, tmp_path: Path) -> None:
        path = tmp_path / "fake.db"
        path.write_bytes(b"SQLite format 3\x00" + os.urandom(5000))
        await _refused_unchanged(path)

    @pytest.mark.anyio
    @pytest.mark.parametrize("journal_mode", ["DELETE", "WAL"])
    async def test_a_foreign_sqlite_database(self, tmp_path: Path, journal_mode: str) -> None:
        path = tmp_path / "notes.db"
        conn = sqlite3.connect(path)
        conn.execute(f"PRAGMA journal_mode = {journal_mode}")
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.executemany("INSERT INTO notes (body) VALUES (?)", [("n",)] * 100)
        conn.commit()
        conn.close()
        await _refused_unchanged(path)

    @pytest.mark.anyio
    async def test_a_database_with_a_foreign_meta_table(self, tmp_path: Path) -> None:
        path = tmp_path / "other.db"
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
            conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY)")
            conn.execute("INSERT INTO meta VALUES ('format', 'somebody-else')")
        conn.close()
        await _refused_unchanged(path)

    @pytest.mark.anyio
    async def test_a_store_from_a_newer_schema(self, tmp_path: Path) -> None:
        path = tmp_path / "future.db"
        async with SQLiteEventStore.open(path, registry=bank_registry()):
            pass
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
        conn.close()
        message = await _refused_unchanged(path)
        assert "999" in message


async def _refused_unchanged(path: Path) -> str:
    before = _snapshot(path.parent)
    with pytest.raises(NotAnEventStore) as refused:
        async with SQLiteEventStore.open(path, registry=bank_registry()):
            pass
    assert str(path) in str(refused.value)
    assert _snapshot(path.parent) == before
    return str(refused.value)


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file in the folder with a digest of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}
