"""The conformance suite run against the SQLite store, plus what only a file-backed store must do."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import sys
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import anyio
import pytest

from events import (
    EventRegistry,
    EventStore,
    InlineView,
    Metadata,
    NotAnEventStore,
    SQLiteEventStore,
    StoredEvent,
)
from tests.events.bank import KILLED_EXIT_CODE, AppliedLog, BalanceView, Deposited, Opened, bank_registry
from tests.events.conformance import ALICE, EventStoreConformance

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

# Ends its own process with os._exit in the middle of a view update: in a catch-up view's
# transaction, or inside an append's transaction through an inline view.
KILL_SCRIPT = """
import sys, anyio
from pathlib import Path
from events import Metadata, SQLiteEventStore
from tests.events.bank import AppliedLog, Deposited, bank_registry

async def main(path: str, where: str, crash_at: int) -> None:
    view = AppliedLog(crash_at=crash_at, kill_process=True)
    inline_views = (view,) if where == "inline" else ()
    async with SQLiteEventStore.open(Path(path), registry=bank_registry(), inline_views=inline_views) as store:
        if where == "inline":
            for n in range(crash_at + 10):
                await store.append(f"acct-{n % 3}", [Deposited(amount=n)], metadata=Metadata(actor="cli"))
        async with store.run_catch_up(view, batch_size=50) as runner:
            await runner.wait_until(10**9)

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

    async def _killed_in_another_process(self, where: str, crash_at: int) -> None:
        command = [sys.executable, "-c", KILL_SCRIPT, str(self.path), where, str(crash_at)]
        done = await anyio.run_process(command, cwd=REPO, check=False)
        assert done.returncode == KILLED_EXIT_CODE, done.stderr.decode()

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
    async def test_appends_in_this_process_wake_subscribers_without_polling(self) -> None:
        received: list[StoredEvent] = []

        async def first_event() -> None:
            async for event in store.subscribe(after=0):
                received.append(event)
                return

        async with SQLiteEventStore.open(self.path, registry=bank_registry(), poll_interval=3600) as store:
            with anyio.fail_after(30):
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(first_event)
                    await anyio.sleep(0.1)  # the subscriber is now waiting, with no poll due for an hour
                    await store.append("acct-1", [Opened(owner="Ann")], metadata=ALICE)
        assert [e.position for e in received] == [1]

    @pytest.mark.anyio
    async def test_a_new_store_is_private_to_its_owner(self) -> None:
        async with self.open_store() as store:
            await store.append("acct-1", [Opened(owner="Ann")], metadata=Metadata(actor="alice"))
        assert stat.S_IMODE(self.path.stat().st_mode) == 0o600
        assert stat.S_IMODE(self.path.parent.stat().st_mode) == 0o700


    @pytest.mark.anyio
    async def test_verify_catches_an_edited_actor_column(self) -> None:
        async with self.open_store() as store:
            await store.append("acct-1", [Opened(owner="Ann"), Opened(owner="Bo")], metadata=Metadata(actor="alice"))
        with self._raw() as conn:
            conn.execute("DROP TRIGGER events_refuse_update")
            conn.execute("UPDATE events SET actor = 'mallory' WHERE position = 2")
        async with self.open_store() as store:
            report = await store.verify()
            assert await store.read(actor="mallory") != []
        assert (report.ok, report.first_bad_position) == (False, 2)

    @pytest.mark.anyio
    async def test_a_process_killed_inside_a_catch_up_update_loses_and_repeats_nothing(self) -> None:
        view = AppliedLog()
        query = f"SELECT position, times FROM {view.table} ORDER BY position"
        async with self.open_store() as store:
            await _fill_deposits(store, 300)
        await self._killed_in_another_process("catch-up", crash_at=137)
        async with self.open_store() as store:
            assert await store.checkpoint(view.name) == 100
            assert [tuple(r) for r in await store.fetch(query)] == [(p, 1) for p in range(1, 101)]
            with anyio.fail_after(60):
                async with store.run_catch_up(view) as runner:
                    await runner.wait_until(300)
            assert [tuple(r) for r in await store.fetch(query)] == [(p, 1) for p in range(1, 301)]

    @pytest.mark.anyio
    async def test_a_process_killed_inside_an_append_leaves_log_and_inline_view_agreeing(self) -> None:
        view = AppliedLog()
        query = f"SELECT position, times FROM {view.table} ORDER BY position"
        await self._killed_in_another_process("inline", crash_at=137)
        async with self.open_store(inline_views=(view,)) as store:
            assert await store.head() == 136
            assert (await store.verify()).ok
            live = [tuple(r) for r in await store.fetch(query)]
            await store.rebuild(view)
            rebuilt = [tuple(r) for r in await store.fetch(query)]
            result = await store.append("acct-9", [Opened(owner="after")], metadata=Metadata(actor="alice"))
        assert live == rebuilt == [(p, 1) for p in range(1, 137)]
        assert result.first_position == 137


    @pytest.mark.anyio
    async def test_a_store_from_before_view_versions_gains_them_and_rebuilds_its_views_once(self) -> None:
        view = AppliedLog()
        async with self.open_store(inline_views=(view,)) as store:
            await _fill_deposits(store, 3)
        with sqlite3.connect(self.path) as conn:  # the file as the release before view versions left it
            conn.execute("DROP TABLE view_versions")
            conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        conn.close()
        async with self.open_store(inline_views=(view,)) as store:
            upgraded = store.rebuilt_views
            rows = [tuple(r) for r in await store.fetch(f"SELECT position, times FROM {view.table}")]
        async with self.open_store(inline_views=(view,)) as store:
            reopened = store.rebuilt_views
        with sqlite3.connect(self.path) as conn:
            meta = dict(conn.execute("SELECT key, value FROM meta"))
            versions = list(conn.execute("SELECT view, version FROM view_versions"))
        conn.close()
        assert [(r.view, r.from_version, r.to_version, r.events) for r in upgraded] == [("applied", 0, 1, 3)]
        assert rows == [(1, 1), (2, 1), (3, 1)]
        assert reopened == []
        assert meta["schema_version"] == "3"
        assert versions == [("applied", 1)]

    @pytest.mark.anyio
    async def test_a_view_compared_with_its_rebuild_shows_each_row_changed_behind_its_back_and_stays_as_it_was(
        self,
    ) -> None:
        view = BalanceView()
        async with self.open_store(inline_views=(view,)) as store:
            assert isinstance(store, SQLiteEventStore)
            await _fill_deposits(store, 30)
            faithful = await store.compare_with_rebuild(view)
            with self._raw() as conn:
                conn.execute(f"UPDATE {view.table} SET balance = balance + 1 WHERE stream_id = 'acct-1'")
            tampered = await store.compare_with_rebuild(view)
            kept = [tuple(r) for r in await store.fetch(f"SELECT balance FROM {view.table} WHERE stream_id = 'acct-1'")]
            head = await store.head()
        assert (faithful.equal, faithful.rows, faithful.missing, faithful.extra) == (True, 3, 0, 0)
        assert (tampered.equal, tampered.rows, tampered.missing, tampered.extra) == (False, 3, 1, 1)
        assert kept == [(sum(range(1, 30, 3)) + 1,)]  # the replay was undone: the view is as it was found
        assert head == 30  # and the log gained nothing

    @pytest.mark.anyio
    async def test_a_catch_up_view_is_compared_with_a_replay_up_to_its_checkpoint(self) -> None:
        view = AppliedLog()
        async with self.open_store() as store:
            assert isinstance(store, SQLiteEventStore)
            await _fill_deposits(store, 20)
            with anyio.fail_after(60):
                async with store.run_catch_up(view) as runner:
                    await runner.wait_until(20)
            await _fill_deposits(store, 5)
            behind = await store.compare_with_rebuild(view)
            with self._raw() as conn:
                conn.execute(f"DELETE FROM {view.table} WHERE position = 7")
            lost = await store.compare_with_rebuild(view)
            checkpoint = await store.checkpoint(view.name)
        assert (behind.equal, behind.rows) == (True, 20)
        assert (lost.equal, lost.missing, lost.extra) == (False, 1, 0)
        assert checkpoint == 20


async def _fill_deposits(store: EventStore, count: int) -> None:
    for n in range(count):
        await store.append(f"acct-{n % 3}", [Deposited(amount=n)], metadata=Metadata(actor="alice"))


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
