"""`store.lock(name)`: one holder of a name at a time, other names free meanwhile; on PostgreSQL across two stores
(two processes' worth of connections) on one schema, and nested names on one holder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from events import EventRegistry, EventStore
from events.open import open_event_store

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
