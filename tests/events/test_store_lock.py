"""`store.lock(name)`: one holder of a name at a time, other names free meanwhile."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from events import EventRegistry, EventStore
from events.open import open_event_store

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[EventStore]:
    async with open_event_store(tmp_path / "events.sqlite3", registry=EventRegistry()) as opened:
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
