"""`store.lock(name)`: one holder of a name at a time, other names free meanwhile; on PostgreSQL across two stores
(two processes' worth of connections) on one schema, and nested names on one holder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import asyncpg
import pytest

from events import EventRegistry, EventStore
from events.errors import LockWaitTimeout
from events.open import open_event_store
from events.postgres.locks import LOCK, AdvisoryLocks, lock_pool_settings
from events.postgres.store import PostgresEventStore

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    if request.param == "sqlite":
        return tmp_path / "events.sqlite3"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def store(location: str | Path) -> AsyncIterator[EventStore]:
    async with open_event_store(location, registry=EventRegistry()) as opened:
        yield opened


async def holding(store: EventStore, name: str, entered: list[str], label: str, release: anyio.Event) -> None:
    async with store.lock(name):
        entered.append(label)
        await release.wait()


async def test_a_name_has_one_holder_at_a_time(store: EventStore) -> None:
    entered: list[str] = []
    first, second = anyio.Event(), anyio.Event()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(holding, store, "session:1", entered, "first", first)
        await anyio.wait_all_tasks_blocked()
        tasks.start_soon(holding, store, "session:1", entered, "second", second)
        tasks.start_soon(holding, store, "session:2", entered, "other name", second)
        await anyio.wait_all_tasks_blocked()
        assert entered == ["first", "other name"]
        first.set()
        second.set()
    assert entered == ["first", "other name", "second"]


async def test_a_lock_is_free_again_after_its_block_raises(store: EventStore) -> None:
    with pytest.raises(RuntimeError):
        async with store.lock("instance-names"):
            raise RuntimeError("refused")
    with anyio.fail_after(5):
        async with store.lock("instance-names"):
            pass


async def test_nested_names_are_held_together_and_both_freed(store: EventStore) -> None:
    with anyio.fail_after(5):
        async with store.lock("instance:1"), store.lock("instance-names"):
            pass
        async with store.lock("instance-names"), store.lock("instance:1"):
            pass


async def test_two_stores_on_one_database_exclude_each_other(postgres_url: str) -> None:
    entered: list[str] = []
    release = anyio.Event()
    async with (
        open_event_store(postgres_url, registry=EventRegistry()) as first,
        open_event_store(postgres_url, registry=EventRegistry()) as second,
    ):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(holding, first, "instance-names", entered, "first", release)
            with anyio.fail_after(5):
                while entered != ["first"]:
                    await anyio.wait_all_tasks_blocked()
            tasks.start_soon(holding, second, "instance-names", entered, "second", release)
            tasks.start_soon(holding, second, "instance:9", entered, "other name", release)
            with anyio.fail_after(5):
                while len(entered) < 2:
                    await anyio.wait_all_tasks_blocked()
            assert entered == ["first", "other name"]
            release.set()
        assert entered == ["first", "other name", "second"]


async def test_a_lock_held_elsewhere_is_waited_for_only_so_long(postgres_url: str) -> None:
    wait_s = 0.2
    pool = await asyncpg.create_pool(postgres_url, min_size=0, max_size=1, server_settings=lock_pool_settings(wait_s))
    elsewhere = await asyncpg.connect(postgres_url)
    try:
        await elsewhere.execute(LOCK, "session:held")
        locks = AdvisoryLocks(pool, wait_s)
        with anyio.fail_after(10), pytest.raises(LockWaitTimeout, match="'session:held' is still held elsewhere"):
            async with locks.hold("session:held"):
                pass
        async with locks.hold("session:free"):  # the connection went back to the pool, usable again
            pass
    finally:
        await elsewhere.close()
        await pool.close()


async def test_a_lock_connection_lost_during_the_block_leaves_the_block_as_it_ended(postgres_url: str) -> None:
    async with open_event_store(postgres_url, registry=EventRegistry()) as store:
        assert isinstance(store, PostgresEventStore)
        done = False
        async with store.lock("session:lost"):
            holding = store._locks._holding.get() if store._locks is not None else None
            assert holding is not None
            killer = await asyncpg.connect(postgres_url)
            try:
                assert await killer.fetchval("SELECT pg_terminate_backend($1)", holding[1].get_server_pid())
            finally:
                await killer.close()
            done = True  # a write committed here would stand: leaving the block raises nothing
        assert done
        with anyio.fail_after(10):
            async with store.lock("session:lost"):
                pass
