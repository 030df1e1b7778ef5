"""The conformance suite run against the PostgreSQL store, plus what only a store shared by processes must do."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import anyio
import asyncpg
import pytest

from events import EventRegistry, EventStore, InlineView, NotAnEventStore, StoredEvent
from events.postgres.store import PostgresEventStore
from tests.events.bank import Opened, bank_registry
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
    async def test_the_location_is_the_url_without_its_password(self) -> None:
        async with self.open_store() as store:
            assert store.location == self.url
            assert store.dialect.name == "postgresql"
