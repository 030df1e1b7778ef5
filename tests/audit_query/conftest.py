"""Fixtures for the audit query tests: a log seeded in a real store (an SQLite file unless `settings` names a
database), then the real app on a 127.0.0.1 port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import anyio
import httpx
import msgspec
import pytest

from backend.audit.events import ServiceStarted, VaultRekeyed, VaultUpgraded
from backend.audit.search_view import SearchIndex
from backend.services import build_registry
from backend.sessions.events import ModelChoice, SessionCreated
from backend.settings import Settings
from events import Event, EventStore, Metadata
from events.open import open_event_store
from tests.api.conftest import serving


class Seeded(msgspec.Struct, frozen=True, kw_only=True):
    """The seeded log: the time between its two halves, and its events as (stream, type, actor) by position."""

    middle: datetime
    rows: dict[int, tuple[str, str, str]]


def started(text: str) -> ServiceStarted:
    return ServiceStarted(version="1", data_dir=text)


def session_on(instance_id: str) -> SessionCreated:
    choice = ModelChoice(instance_id=instance_id, provider_id="openai", model_id="gpt-4o")
    return SessionCreated(session_id="s2", name="Planning", default=choice, system_prompt="")


FIRST_HALF: list[tuple[str, Event, str]] = [
    ("instance-alpha", started("/srv/amber lantern"), "alice"),
    ("instance-beta", VaultUpgraded(count=2, from_format=1, to_format=2), "bob"),
    ("session-s1", started("/srv/quiet harbour"), "alice"),
    ("instances", started("/srv/not an instance stream"), "carol"),
]
SECOND_HALF: list[tuple[str, Event, str]] = [
    ("session-s2", session_on("alpha"), "bob"),
    ("instance-alpha", VaultRekeyed(count=1, unreadable=0, key_id="k2", previous_key_id="k1"), "alice"),
    ("instance-beta", started("/srv/amber meadow"), "carol"),
    ("session-s1", started("/srv/rotation notes"), "bob"),
]


async def _seed(location: str) -> Seeded:
    rows: dict[int, tuple[str, str, str]] = {}
    middle = datetime.now(UTC)
    async with open_event_store(location, registry=build_registry()) as store:
        for half in (FIRST_HALF, SECOND_HALF):
            if half is SECOND_HALF:
                middle = datetime.now(UTC)
            for stream, event, actor in half:
                result = await store.append(stream, [event], metadata=Metadata(actor=actor))
                rows[result.first_position] = (stream, type(event).__name__, actor)
    return Seeded(middle=middle, rows=rows)


@asynccontextmanager
async def search_index(store: EventStore) -> AsyncIterator[SearchIndex]:
    """The search index of a store a test opened, following the log from the first search until the block ends."""
    async with anyio.create_task_group() as tasks:
        yield SearchIndex(store, tasks)
        tasks.cancel_scope.cancel()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def seeded(settings: Settings) -> Seeded:
    settings.data_dir.mkdir(mode=0o700)
    return anyio.run(_seed, settings.event_log)


@pytest.fixture
def api(settings: Settings, seeded: Seeded) -> Iterator[httpx.Client]:
    with serving(settings) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
        yield client
