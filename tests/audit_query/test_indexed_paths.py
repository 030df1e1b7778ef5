"""The audit query's indexed paths (a stream prefix as a category range, pages driven by the full-text index or by
the instance references view) answer what the plain conditions answer: on a log of mixed streams written through
the store, every filter, page size and cursor in either direction gives the events a direct reading of the log
picks out, and SQLite walks those indexes in position order rather than sorting the matches."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import anyio
import msgspec
import pytest

from backend.audit.events import ServiceStarted, VaultRekeyed
from backend.audit.instance_refs import TABLE as REFS_TABLE
from backend.audit.instance_refs import InstanceRefsView
from backend.audit.query import (
    AuditFilter,
    Order,
    checked_filter,
    every_match,
    query_page,
    selection,
)
from backend.audit.search_view import TABLE as SEARCH_TABLE
from backend.audit.search_view import SearchIndex, match_expression
from backend.instances.events import ConnectionTested
from backend.services import build_registry
from backend.sessions.events import AgentCreated, ModelChoice, SessionCreated
from events import Event, Metadata, SQLiteEventStore, StoredEvent
from events.rows import page_query
from events.sql import SQLITE
from tests.audit_query.conftest import search_index

pytestmark = pytest.mark.anyio

STREAMS = (
    "instance-a", "instance-b", "instance-a-b", "instances", "session-s1", "session-s1-x", "session-s2", "-lead",
    "catalog-provider-x", "catalog-model-y", "tokens",
)
INSTANCES = ("a", "b", "a-b", "c")  # "c" has no stream of its own: only events naming it
WORDS = ("amber", "harbour", "lantern", "amberly")
ACTORS = ("alice", "bob", "carol")
EVENTS = 420  # about: appends of 1, 2 or 4 events
PREFIXES = ("instance-", "session-", "catalog-", "-", "instance-a-", "session-s1-", "catalog-provider-")


class Log(msgspec.Struct, frozen=True, kw_only=True):
    """The log as written: its events in position order, and times between its thirds."""

    path: Path
    events: list[StoredEvent]
    moments: list[datetime]


def _event(rng: random.Random, stream: str) -> Event:
    named = rng.choice(INSTANCES)
    choice = ModelChoice(instance_id=named, provider_id="openai", model_id="gpt-4o")
    if stream.startswith("instance-") and rng.random() < 0.7:
        return ConnectionTested(instance_id=stream.removeprefix("instance-"), outcome="ok", http_status=200,
                                latency_ms=12.0, model_count=1, message=f"{rng.choice(WORDS)} ok",
                                credential_version=1)
    if stream.startswith("session-"):
        if rng.random() < 0.5:
            return SessionCreated(session_id=stream, name=rng.choice(WORDS), default=choice, system_prompt="")
        return AgentCreated(agent_id=f"g{rng.randrange(99)}", name="helper", choice=choice, system_prompt="",
                            reasoning_effort=None, max_tokens=None)
    if rng.random() < 0.2:
        return VaultRekeyed(count=1, unreadable=0, key_id=named, previous_key_id="instance_id")
    return ServiceStarted(version="1", data_dir=f"/srv/{rng.choice(WORDS)} {rng.choice(WORDS)}")


async def _write(path: Path) -> Log:
    rng = random.Random(20261202)
    moments: list[datetime] = []
    async with SQLiteEventStore.open(path, registry=build_registry(), inline_views=[InstanceRefsView()]) as store:
        for third in range(3):
            if third:
                moments.append(datetime.now(UTC))
            for _ in range(EVENTS // 6):
                stream = rng.choice(STREAMS)
                batch = [_event(rng, stream) for _ in range(rng.choice((1, 1, 2, 4)))]
                await store.append(stream, batch, metadata=Metadata(actor=rng.choice(ACTORS)))
        async with search_index(store) as search:
            await search.up_to_date()
        events = await store.read(limit=10_000)
    return Log(path=path, events=events, moments=moments)


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Log:
    return anyio.run(_write, tmp_path_factory.mktemp("indexed") / "events.db")


def _names(value: object) -> Iterator[str]:
    """Every text value of a key `instance_id`, at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "instance_id" and isinstance(item, str):
                yield item
            yield from _names(item)
    elif isinstance(value, list):
        for item in value:
            yield from _names(item)


def _searched(path: Path, text: str) -> set[int]:
    """The positions the full-text index matches, asked the plain way (every match at once)."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(f"SELECT rowid FROM {SEARCH_TABLE} WHERE {SEARCH_TABLE} MATCH ?", (match_expression(text),))
        found = {int(row[0]) for row in rows}
    conn.close()
    return found


def _matches(stored: StoredEvent, wanted: AuditFilter, searched: set[int] | None) -> bool:
    stream = wanted.stream
    tests = (
        stream is None or (stored.stream_id.startswith(stream) if stream.endswith("-") else stored.stream_id == stream),
        not wanted.types or stored.type in wanted.types,
        wanted.actor is None or stored.metadata.actor == wanted.actor,
        wanted.since is None or stored.recorded_at >= wanted.since,
        wanted.until is None or stored.recorded_at < wanted.until,
        wanted.instance is None or stored.stream_id == f"instance-{wanted.instance}"
        or wanted.instance in _names(msgspec.json.decode(stored.data)),
        searched is None or stored.position in searched,
        wanted.after is None or stored.position > wanted.after,
        wanted.before is None or stored.position < wanted.before,
    )
    return all(tests)


def expected(log: Log, wanted: AuditFilter) -> list[int]:
    """The matching positions, oldest first, by reading every event of the log."""
    searched = _searched(log.path, wanted.q) if wanted.q is not None else None
    return [stored.position for stored in log.events if _matches(stored, wanted, searched)]


def expected_page(log: Log, wanted: AuditFilter, order: Order, limit: int) -> tuple[list[int], bool]:
    """The page nearest the cursor: below a `before` alone, above an `after` alone, else from the end `order`
    starts at."""
    found = expected(log, wanted)
    from_top = wanted.before is not None if (wanted.after is None) != (wanted.before is None) else order == "newest"
    kept = found[-limit:] if from_top else found[:limit]
    return (kept[::-1] if order == "newest" else kept), len(found) > limit


def filters(log: Log) -> list[AuditFilter]:
    early, late = log.moments
    plain = [
        *(AuditFilter(stream=prefix) for prefix in PREFIXES),
        AuditFilter(stream="instances"),
        AuditFilter(stream="instance"),
        *(AuditFilter(instance=instance_id) for instance_id in (*INSTANCES, "nobody")),
        *(AuditFilter(q=text) for text in ("amber", "amber lantern", "harb", "instance_id", "nothing")),
    ]
    combined = [
        AuditFilter(stream="session-", actor="bob"),
        AuditFilter(stream="instance-", types=("ConnectionTested",), since=early),
        AuditFilter(stream="session-s1-", until=late),
        AuditFilter(instance="a", stream="session-", actor="alice"),
        AuditFilter(instance="c", since=early, until=late),
        AuditFilter(instance="a-b", types=("VaultRekeyed", "ConnectionTested")),
        AuditFilter(q="amber", stream="instance-"),
        AuditFilter(q="lantern", instance="b"),
        AuditFilter(q="harbour", actor="carol", since=early, until=late),
        AuditFilter(q="amber", instance="a", stream="session-", types=("SessionCreated",)),
    ]
    return [checked_filter(wanted) for wanted in (*plain, *combined)]


async def _walk(store: SQLiteEventStore, search: SearchIndex, wanted: AuditFilter, order: Order) -> list[int]:
    """Every page of the query in `order`, following its cursor from one end to the other."""
    onward = "before" if order == "newest" else "after"
    walked: list[int] = []
    while True:
        page = await query_page(store, search, wanted, order, 7)
        walked += [stored.position for stored in page.events]
        if not page.more:
            return walked
        wanted = msgspec.structs.replace(wanted, **{onward: walked[-1]})


async def test_pages_walked_both_ways_give_every_match_in_order(log: Log) -> None:
    async with SQLiteEventStore.open(log.path, registry=build_registry()) as store, search_index(store) as search:
        for wanted in filters(log):
            everything = expected(log, wanted)
            assert await _walk(store, search, wanted, "newest") == everything[::-1], wanted
            assert await _walk(store, search, wanted, "oldest") == everything, wanted
            pages = every_match(store, search, wanted, "oldest", store.registry)
            exported = [row.position async for page in pages for row in page]
            assert exported == everything, wanted


async def test_a_page_from_any_cursor_is_the_one_nearest_it(log: Log) -> None:
    head = log.events[-1].position
    cursors = [{"before": head // 2}, {"after": head // 3}, {"after": head // 4, "before": head - 20},
               {"before": 2}, {"after": head}]
    async with SQLiteEventStore.open(log.path, registry=build_registry()) as store, search_index(store) as search:
        for wanted in filters(log):
            for cursor in cursors:
                at = msgspec.structs.replace(wanted, **cursor)
                for order in ("newest", "oldest"):
                    page = await query_page(store, search, at, order, 5)
                    got = ([stored.position for stored in page.events], page.more)
                    assert got == expected_page(log, at, order, 5), (at, order)


@pytest.mark.parametrize(
    ("wanted", "index"),
    [
        (AuditFilter(stream="session-", before=300), "USING INDEX events_by_category (<expr>=? AND position<?)"),
        (AuditFilter(instance="a", before=300), f"SEARCH {REFS_TABLE} USING PRIMARY KEY (instance_id=? AND position<?)"),
        (AuditFilter(q="amber", instance="a", before=300), f"SCAN {SEARCH_TABLE} VIRTUAL TABLE"),
    ],
)
async def test_sqlite_walks_the_index_in_position_order(log: Log, wanted: AuditFilter, index: str) -> None:
    found = selection(wanted, SQLITE)
    sql = page_query(SQLITE, found.condition, descending=True, source=found.source)
    with sqlite3.connect(log.path) as conn:
        plan = " | ".join(str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", (*found.params, 10)))
    conn.close()
    assert index in plan
    assert "TEMP B-TREE" not in plan


async def test_the_references_view_rebuilt_from_the_log_equals_the_one_kept_with_each_append(log: Log) -> None:
    query = f"SELECT instance_id, position FROM {REFS_TABLE} ORDER BY instance_id, position"
    async with SQLiteEventStore.open(log.path, registry=build_registry(), inline_views=[InstanceRefsView()]) as store:
        live = [tuple(row) for row in await store.fetch(query)]
        await store.rebuild(InstanceRefsView())
        rebuilt = [tuple(row) for row in await store.fetch(query)]
    named = {(instance_id, stored.position) for stored in log.events
             for instance_id in (*_names(msgspec.json.decode(stored.data)),
                                 *([stored.stream_id.removeprefix("instance-")]
                                   if stored.stream_id.startswith("instance-") else []))}
    assert live == rebuilt == sorted(named)
