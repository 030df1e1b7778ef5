"""The conformance suite run against the PostgreSQL store, plus what only a store shared by processes must do."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc
import asyncpg
import pytest

from events import EventRegistry, EventStore, InlineView, NotAnEventStore, StoredEvent
from events.postgres.store import PostgresEventStore
from tests.events.bank import Deposited, Opened, bank_registry
from tests.events.conformance import ALICE, EventStoreConformance

REPO = Path(__file__).resolve().parents[2]

APPEND_SCRIPT = """
import sys, time, anyio
from events import Metadata
from events.postgres.store import PostgresEventStore
from tests.events.bank import Deposited, bank_registry

async def main(url: str, stream: str, count: int) -> None:
    async with PostgresEventStore.open(url, registry=bank_registry()) as store:
        for _ in range(count):
            await store.append(stream, [Deposited(amount=1)], metadata=Metadata(actor="cli"))
        print(time.time())

anyio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[3]))
"""

# Opens the store, says so, waits until the test lets every process go at once (a shared advisory lock the test
# holds exclusively), then appends from several tasks: to a stream of its own and to one all processes share.
CONCURRENT_SCRIPT = """
import sys, anyio, asyncpg
from events import Metadata
from events.postgres.store import PostgresEventStore
from tests.events.bank import Deposited, bank_registry

async def main(url: str, name: str, count: int, tasks: int) -> None:
    async with PostgresEventStore.open(url, registry=bank_registry()) as store:
        gate = await asyncpg.connect(url)
        print("ready", flush=True)
        await gate.execute("SELECT pg_advisory_lock_shared($1)", GATE)
        await gate.close()

        async def append(task: int) -> None:
            for n in range(task, count, tasks):
                stream = "shared" if n % 2 else f"own-{name}"
                await store.append(stream, [Deposited(amount=n)], metadata=Metadata(actor=name))

        async with anyio.create_task_group() as group:
            for task in range(tasks):
                group.start_soon(append, task)

GATE = 20261202
anyio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
"""
GATE = 20261202


class TestPostgresEventStore(EventStoreConformance):
    refusal_error = asyncpg.RaiseError

    @pytest.fixture(autouse=True)
    def _database(self, postgres_url: str) -> None:
        self.url = postgres_url

    def open_store(
        self, registry: EventRegistry | None = None, inline_views: tuple[InlineView, ...] = ()
    ) -> AbstractAsyncContextManager[EventStore]:
        return PostgresEventStore.open(self.url, registry=registry or bank_registry(), inline_views=inline_views)

    async def tamper_with_data(self, position: int, data: str) -> None:
        async with self._raw() as conn:
            await conn.execute("ALTER TABLE events DISABLE TRIGGER events_refuse_update")
            await conn.execute("UPDATE events SET data = $1 WHERE position = $2", data, position)

    async def remove_behind_the_back(self, position: int) -> None:
        async with self._raw() as conn:
            await conn.execute("ALTER TABLE events DISABLE TRIGGER events_refuse_delete")
            await conn.execute("DELETE FROM events WHERE position = $1", position)

    async def update_directly(self, position: int) -> None:
        async with self._raw() as conn:
            await conn.execute("UPDATE events SET data = '{}' WHERE position = $1", position)

    async def delete_directly(self, position: int) -> None:
        async with self._raw() as conn:
            await conn.execute("DELETE FROM events WHERE position = $1", position)

    async def count_seen_from_outside(self) -> int:
        async with self._raw() as conn:
            return int(await conn.fetchval("SELECT COUNT(*) FROM events"))

    async def append_in_another_process(self, stream_id: str, count: int) -> float:
        command = [sys.executable, "-c", APPEND_SCRIPT, self.url, stream_id, str(count)]
        done = await anyio.run_process(command, cwd=REPO, check=True)
        return float(done.stdout.decode().strip())

    @asynccontextmanager
    async def _raw(self) -> AsyncIterator[asyncpg.Connection]:
        """A plain connection to the test's schema, each statement committing on its own."""
        conn = await asyncpg.connect(self.url)
        try:
            yield conn
        finally:
            await conn.close()

    @pytest.mark.anyio
    async def test_the_database_refuses_truncate(self) -> None:
        async with self.open_store() as store:
            await store.append("acct-1", [Opened(owner="Ann")], metadata=ALICE)
        async with self._raw() as conn:
            with pytest.raises(asyncpg.RaiseError, match="append-only: TRUNCATE"):
                await conn.execute("TRUNCATE events")
            assert await conn.fetchval("SELECT COUNT(*) FROM events") == 1

    @pytest.mark.anyio
    async def test_appends_in_this_process_wake_subscribers_without_polling(self) -> None:
        received: list[StoredEvent] = []

        async def first_event() -> None:
            async for event in store.subscribe(after=0):
                received.append(event)
                return

        async with PostgresEventStore.open(self.url, registry=bank_registry(), poll_interval=3600) as store:
            with anyio.fail_after(30):
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(first_event)
                    await anyio.sleep(0.1)  # the subscriber is now waiting, with no poll due for an hour
                    await store.append("acct-1", [Opened(owner="Ann")], metadata=ALICE)
        assert [e.position for e in received] == [1]

    @pytest.mark.anyio
    async def test_a_dropped_listener_is_opened_again_and_subscriptions_go_on(self) -> None:
        received: list[StoredEvent] = []
        first = anyio.Event()

        async def events() -> None:
            async for event in store.subscribe(after=0):
                received.append(event)
                first.set()
                if len(received) == 2:
                    return

        async with PostgresEventStore.open(self.url, registry=bank_registry(), poll_interval=3600) as store:
            listener = store._listener
            assert listener is not None
            async with self._raw() as conn:  # dropped before any subscription, as by a database restart
                assert await conn.fetchval("SELECT pg_terminate_backend($1)", listener.get_server_pid())
            with anyio.fail_after(30):
                while store._listener is listener or store._reopening is None:
                    await anyio.sleep(0.01)  # until the store noticed the drop and began opening it again
                await store._reopening
                async with PostgresEventStore.open(self.url, registry=bank_registry()) as other, \
                        anyio.create_task_group() as tasks:
                    tasks.start_soon(events)  # does not fail: the listener is there again
                    await other.append("acct-1", [Opened(owner="Ann")], metadata=ALICE)
                    await first.wait()
                    await other.append("acct-1", [Deposited(amount=1)], metadata=ALICE)  # only a NOTIFY wakes it
        assert [e.position for e in received] == [1, 2]

    @pytest.mark.anyio
    async def test_a_schema_holding_someone_elses_events_table_is_refused_untouched(self) -> None:
        async with self._raw() as conn:
            await conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, body TEXT)")
            await conn.execute("INSERT INTO events VALUES (1, 'theirs')")
        with pytest.raises(NotAnEventStore) as refused:
            async with self.open_store():
                pass
        async with self._raw() as conn:
            tables = {r[0] for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
            rows = [tuple(r) for r in await conn.fetch("SELECT * FROM events")]
        assert "search_path=" in str(refused.value)
        assert tables == {"events"} and rows == [(1, "theirs")]

    @pytest.mark.anyio
    async def test_three_processes_appending_at_once_make_one_gap_free_log_seen_once_in_order(self) -> None:
        processes, each, total = 3, 300, 900
        seen: list[StoredEvent] = []

        async def tail() -> None:
            async for event in store.subscribe(after=0):
                seen.append(event)
                if len(seen) == total:
                    return

        async def writer(name: str, *, task_status: anyio.abc.TaskStatus[None]) -> None:
            command = [sys.executable, "-c", CONCURRENT_SCRIPT, self.url, name, str(each), "10"]
            async with await anyio.open_process(command, cwd=REPO) as process:
                assert process.stdout is not None and process.stderr is not None
                line = await process.stdout.receive()
                assert line.startswith(b"ready"), line
                task_status.started()
                errors = b"".join([chunk async for chunk in process.stderr])
                assert await process.wait() == 0, errors.decode()

        # No polls: only NOTIFY from the other processes can wake the subscriber.
        async with PostgresEventStore.open(self.url, registry=bank_registry(), poll_interval=3600) as store:
            with anyio.fail_after(90):
                async with self._raw() as gate, anyio.create_task_group() as tasks:
                    await gate.execute("SELECT pg_advisory_lock($1)", GATE)
                    tasks.start_soon(tail)
                    for n in range(processes):
                        await tasks.start(writer, f"p{n}")
                    await gate.execute("SELECT pg_advisory_unlock($1)", GATE)
            report = await store.verify()
            stored = await store.read(limit=total + 1)
        assert [e.position for e in seen] == list(range(1, total + 1))
        assert seen == stored
        for stream in {e.stream_id for e in stored}:
            versions = [e.version for e in stored if e.stream_id == stream]
            assert versions == list(range(1, len(versions) + 1)), stream
        assert sorted(e.metadata.actor for e in stored) == sorted(f"p{n}" for n in range(processes) for _ in range(each))
        actors = [e.metadata.actor for e in stored]
        switches = sum(a != b for a, b in zip(actors, actors[1:], strict=False))
        assert switches > processes  # the processes' appends interleaved: they did write at once
        assert report.ok and report.checked == total

    @pytest.mark.anyio
    async def test_replicas_starting_at_once_create_one_store(self) -> None:
        opened: list[int] = []

        async def replica(n: int) -> None:
            async with self.open_store() as store:
                opened.append((await store.append(f"acct-{n}", [Opened(owner=str(n))], metadata=ALICE)).stream_version)

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tasks:
                for n in range(4):
                    tasks.start_soon(replica, n)
        async with self.open_store() as store:
            assert await store.count() == 4
            assert (await store.verify()).ok
        assert opened == [1, 1, 1, 1]

    @pytest.mark.anyio
    async def test_a_trigger_disabled_behind_the_back_is_enabled_again_at_open(self) -> None:
        async with self.open_store() as store:
            await store.append("acct-1", [Opened(owner="Ann"), Opened(owner="Bo")], metadata=ALICE)
        await self.tamper_with_data(2, '{"type":"Opened","owner":"Eve"}')
        async with self.open_store() as store:
            assert (await store.verify()).first_bad_position == 2
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await self.update_directly(1)

    @pytest.mark.anyio
    async def test_the_writer_connects_again_when_its_connection_is_lost(self) -> None:
        async with PostgresEventStore.open(self.url, registry=bank_registry()) as store:
            await store.append("acct-1", [Opened(owner="Ann")], metadata=ALICE)
            writer = store._writer
            assert writer is not None
            async with self._raw() as conn:
                assert await conn.fetchval("SELECT pg_terminate_backend($1)", writer.conn.get_server_pid())
            result = await store.append("acct-1", [Deposited(amount=1)], metadata=ALICE, expected_version=1)
            again = await store.append("acct-2", [Opened(owner="Bo")], metadata=ALICE)
            report = await store.verify()
        assert (result.first_position, result.stream_version) == (2, 2)
        assert again.first_position == 3
        assert report.ok and report.checked == 3

    @pytest.mark.anyio
    async def test_the_location_is_the_url_without_its_password(self) -> None:
        async with self.open_store() as store:
            assert store.location == self.url
            assert store.dialect.name == "postgresql"
