"""Audit query and export benchmark: the audit code against bare SQL on the same file. Run `python -m bench.audit`."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import msgspec

from backend.audit.export import ExportFormat, export_bytes
from backend.audit.instance_refs import InstanceRefsView
from backend.audit.query import (
    AuditFilter,
    checked_filter,
    every_match,
    query_page,
    selection,
)
from backend.audit.schemas import NO_NAMES, event_out
from backend.audit.search_view import TABLE as SEARCH_TABLE
from backend.audit.search_view import AuditSearchView, SearchIndex, _words_of
from backend.instances.events import (
    ConnectionTested,
    CredentialRotated,
    InstanceCreated,
    InstanceUpdated,
    SettingsChange,
)
from backend.instances.events import stream_of as instance_stream
from backend.services import build_registry
from backend.sessions.events import (
    AgentCreated,
    MessageAdded,
    ModelChoice,
    Prices,
    SessionCreated,
    TurnCompleted,
    TurnFailed,
    TurnStarted,
)
from backend.sessions.events import stream_of as session_stream
from bench.events import open_for_bulk_insert
from events import Event, Metadata, SQLiteEventStore
from events.chain import GENESIS_HASH, event_hash
from events.rows import format_time
from events.sql import SQLITE
from events.writer import INSERT_EVENT

SEED = 10
START = datetime(2026, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=90)
INSTANCES = 60
ACTORS = ("user:alice", "user:bob", "user:carol", "user:dave", "token:ci-bot", "system")
ACTOR_WEIGHTS = (40, 25, 15, 10, 8, 2)
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "claude-haiku-4", "llama-3.1-70b", "mistral-large")
PROVIDERS = ("openai", "anthropic", "groq", "mistral")
OUTCOMES = ("rate_limited", "timeout", "server_error", "auth_failed")
PAGE = 100  # the API's default page size
COLUMNS = ", ".join(f"events.{name}" for name in (
    "position", "event_id", "stream_id", "version", "type", "schema_version", "data", "metadata", "actor",
    "recorded_at", "hash"))
PRICES = Prices(input=2.5, output=10.0, cache_read=1.25, cache_write=None)


# --- the log ------------------------------------------------------------------------------------


def _instance_id(n: int) -> str:
    return f"inst{n:04d}"


def _choice(rng: random.Random) -> ModelChoice:
    n = rng.randrange(INSTANCES)
    return ModelChoice(instance_id=_instance_id(n), provider_id=PROVIDERS[n % len(PROVIDERS)],
                       model_id=MODELS[n % len(MODELS)])


def _events(count: int) -> Iterator[tuple[str, Event, str]]:
    """(stream, event, actor) in log order: instances created, updated, tested and rotated; sessions with agents and
    turns (message, started, completed or failed) on the instances."""
    rng = random.Random(SEED)
    emitted = 0
    for n in range(INSTANCES):
        yield instance_stream(_instance_id(n)), InstanceCreated(
            instance_id=_instance_id(n), name=f"{PROVIDERS[n % len(PROVIDERS)]} team {n}",
            provider_id=PROVIDERS[n % len(PROVIDERS)], provider_type="openai", endpoint="", timeout_ms=30000,
            max_attempts=3, backoff_ms=500, headers={}), "user:alice"
    emitted += INSTANCES
    sessions: list[tuple[str, str, ModelChoice]] = []
    while emitted < count:
        actor = rng.choices(ACTORS, ACTOR_WEIGHTS)[0]
        roll = rng.random()
        batch: list[tuple[str, Event, str]]
        if roll < 0.06:
            n = rng.randrange(INSTANCES)
            ok = rng.random() < 0.9
            batch = [(instance_stream(_instance_id(n)), ConnectionTested(
                instance_id=_instance_id(n), outcome="ok" if ok else rng.choice(OUTCOMES),
                http_status=200 if ok else 429, latency_ms=rng.uniform(20, 900), model_count=12 if ok else 0,
                message="" if ok else "upstream refused", credential_version=1), actor)]
        elif roll < 0.07:
            n = rng.randrange(INSTANCES)
            batch = [(instance_stream(_instance_id(n)), InstanceUpdated(
                instance_id=_instance_id(n), before=SettingsChange(timeout_ms=30000),
                after=SettingsChange(timeout_ms=rng.choice((10000, 60000)))), actor)]
        elif roll < 0.072:
            n = rng.randrange(INSTANCES)
            batch = [(instance_stream(_instance_id(n)), CredentialRotated(
                instance_id=_instance_id(n), fingerprint=os.urandom(8).hex(), last4="x9Qa", credential_version=2,
                previous_fingerprint=os.urandom(8).hex(), previous_version=1, verified=True,
                origin="https://api.example.com"), actor)]
        elif roll < 0.08 or not sessions:
            session_id = f"s{len(sessions):06x}"
            choice = _choice(rng)
            agent_id = f"a{len(sessions):06x}"
            sessions.append((session_id, agent_id, choice))
            stream = session_stream(session_id)
            batch = [
                (stream, SessionCreated(session_id=session_id, name=f"review {len(sessions)}", default=choice,
                                        system_prompt="You are a careful reviewer."), actor),
                (stream, AgentCreated(agent_id=agent_id, name="reviewer", choice=choice, system_prompt="",
                                      reasoning_effort=None, max_tokens=None), actor),
            ]
        else:
            session_id, agent_id, choice = sessions[-1 - min(len(sessions) - 1, int(rng.expovariate(0.05)))]
            stream, turn_id = session_stream(session_id), os.urandom(6).hex()
            turn = {"agent_id": agent_id, "turn_id": turn_id, "instance_id": choice.instance_id,
                    "provider_id": choice.provider_id, "provider_type": "openai", "model_id": choice.model_id}
            ended = dict(turn, text="Here is the summary you asked for, in three short points.",
                         finish_reason="stop", input_tokens=rng.randrange(50, 4000),
                         output_tokens=rng.randrange(10, 800), cache_read_tokens=0, cache_write_tokens=0,
                         prices=PRICES, price_status="known", cost_usd=0.0012, ttft_ms=rng.uniform(200, 900),
                         total_ms=rng.uniform(900, 9000), attempts=1)
            end: Event = (TurnCompleted(**ended) if rng.random() < 0.95 else
                          TurnFailed(**ended, error_outcome=rng.choice(OUTCOMES), http_status=429,
                                     message="Too many requests"))
            batch = [
                (stream, MessageAdded(agent_id=agent_id, text="Please summarise the attached change log."), actor),
                (stream, TurnStarted(**turn, prices=PRICES, price_status="known"), actor),
                (stream, end, actor),
            ]
        yield from batch[: count - emitted]
        emitted += len(batch)


def build_log(path: Path, count: int) -> None:
    """Write `count` events with a valid hash chain straight into a new store file, and the audit search view up to
    its head (its rows, checkpoint and version as its catch-up would leave them); then open the store with the
    instance references view, which the store builds from the log as it would at a first start."""
    registry = build_registry()
    conn, indexes = open_for_bulk_insert(path)
    conn.execute(f"CREATE VIRTUAL TABLE {SEARCH_TABLE} USING fts5(body, content='', tokenize='unicode61')")
    words: list[tuple[int, str]] = []
    rows = _chained_rows(registry, count, words)
    while chunk := [row for _, row in zip(range(10_000), rows)]:
        conn.executemany(INSERT_EVENT, chunk)
        conn.executemany(f"INSERT INTO {SEARCH_TABLE} (rowid, body) VALUES (?, ?)", words)
        words.clear()
    for _, sql in indexes:
        conn.execute(sql)
    view = AuditSearchView(registry)
    conn.execute("INSERT INTO checkpoints (view, position) VALUES (?, ?)", (view.name, count))
    conn.execute("INSERT INTO view_versions (view, version) VALUES (?, ?)", (view.name, view.version))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    anyio.run(_build_references, path)


async def _build_references(path: Path) -> None:
    async with SQLiteEventStore.open(path, registry=build_registry(), inline_views=[InstanceRefsView()]) as store:
        for rebuilt in store.rebuilt_views:
            print(f"{rebuilt.view} built from {rebuilt.events:,} events in {rebuilt.milliseconds / 1000:.1f} s")


def _chained_rows(registry, count: int, words: list[tuple[int, str]]) -> Iterator[tuple]:
    previous = GENESIS_HASH
    versions: dict[str, int] = {}
    step = SPAN / count
    for position, (stream, event, actor) in enumerate(_events(count), start=1):
        version = versions[stream] = versions.get(stream, 0) + 1
        event_id = f"{position:032x}"
        encoded = registry.encode(event, event_id)
        metadata = msgspec.json.encode(Metadata(actor=actor, request_id=f"req-{position:08x}")).decode()
        recorded_at = format_time(START + step * position)
        previous = event_hash(previous, position, stream, version, event_id, encoded.type, encoded.schema_version,
                              encoded.data, metadata, recorded_at)
        words.append((position, " ".join((encoded.type, stream, actor,
                                           *_words_of(msgspec.json.decode(encoded.data))))))
        yield (position, event_id, stream, version, encoded.type, encoded.schema_version, encoded.data, metadata,
               actor, recorded_at, previous)


# --- (a) filtered pages -------------------------------------------------------------------------

FilterMaker = Callable[[random.Random, int], AuditFilter]


def _window(rng: random.Random, days: float) -> tuple[datetime, datetime]:
    since = START + timedelta(seconds=rng.uniform(0, SPAN.total_seconds() - days * 86400))
    return since, since + timedelta(days=days)


def _cursor(rng: random.Random, head: int) -> dict[str, int]:
    return {} if rng.random() < 0.1 else {"before": rng.randrange(2, head + 1)}


FILTERS: dict[str, FilterMaker] = {
    "none (cursor only)": lambda rng, head: AuditFilter(**_cursor(rng, head)),
    "type": lambda rng, head: AuditFilter(
        types=(rng.choice(("TurnCompleted", "TurnFailed", "ConnectionTested", "SessionCreated",
                           "InstanceUpdated", "CredentialRotated")),), **_cursor(rng, head)),
    "stream prefix": lambda rng, head: AuditFilter(stream=rng.choice(("instance-", "session-")),
                                                   **_cursor(rng, head)),
    "stream (one)": lambda rng, head: AuditFilter(stream=rng.choice(
        [instance_stream(_instance_id(rng.randrange(INSTANCES)))]), **_cursor(rng, head)),
    "actor": lambda rng, head: AuditFilter(actor=rng.choice(ACTORS), **_cursor(rng, head)),
    "since/until (1 day)": lambda rng, head: AuditFilter(
        **dict(zip(("since", "until"), _window(rng, 1))), **_cursor(rng, head)),
    "q (full text)": lambda rng, head: AuditFilter(q=rng.choice(
        ("rate_limited", "claude-haiku", "team 17", "bob", "timeout ConnectionTested", "TurnFailed groq")),
        **_cursor(rng, head)),
    "instance": lambda rng, head: AuditFilter(instance=_instance_id(rng.randrange(INSTANCES)), **_cursor(rng, head)),
    "type+actor+7 days": lambda rng, head: AuditFilter(
        types=("TurnCompleted", "TurnFailed"), actor=rng.choice(ACTORS[:4]),
        **dict(zip(("since", "until"), _window(rng, 7))), **_cursor(rng, head)),
}


def _bare_page(conn: sqlite3.Connection, wanted: AuditFilter) -> list[tuple]:
    """The same rows as the page, by a plain SELECT of the columns from the same tables with the same condition."""
    found = selection(wanted, SQLITE)
    order = "ASC" if wanted.after is not None and wanted.before is None else "DESC"
    sql = (f"SELECT {COLUMNS} FROM {found.source.tables} WHERE {found.condition} "
           f"ORDER BY {found.source.key} {order} LIMIT ?")
    return conn.execute(sql, (*found.params, PAGE + 1)).fetchall()


async def measure_pages(path: Path, queries: int) -> dict[str, dict[str, list[float]]]:
    registry = build_registry()
    results: dict[str, dict[str, list[float]]] = {}
    bare = sqlite3.connect(path)
    async with SQLiteEventStore.open(path, registry=registry) as store, anyio.create_task_group() as tasks:
        search = SearchIndex(store, tasks)
        head = await store.head()
        for kind, make in FILTERS.items():
            rng = random.Random(hash(kind) & 0xFFFF)
            times: dict[str, list[float]] = {"page": [], "shaped": [], "bare": [], "rows": []}
            for n in range(queries + 5):
                wanted = checked_filter(make(rng, head))
                started = time.perf_counter()
                page = await query_page(store, search, wanted, "newest", PAGE)
                paged = time.perf_counter()
                [event_out(stored, registry, NO_NAMES) for stored in page.events]
                shaped = time.perf_counter()
                rows = _bare_page(bare, wanted)
                done = time.perf_counter()
                assert len(rows) == len(page.events) + page.more, (kind, wanted, len(rows), len(page.events))
                if n >= 5:  # the first few warm the caches
                    times["page"].append(paged - started)
                    times["shaped"].append(shaped - started)
                    times["bare"].append(done - shaped)
                    times["rows"].append(len(page.events))
            results[kind] = times
        tasks.cancel_scope.cancel()
    bare.close()
    return results


# --- (b) export ---------------------------------------------------------------------------------


async def store_export(path: Path, wanted: AuditFilter, export_format: ExportFormat) -> tuple[int, float, int]:
    """Rows, seconds and bytes of an export through every_match and export_bytes."""
    registry = build_registry()
    async with SQLiteEventStore.open(path, registry=registry) as store, anyio.create_task_group() as tasks:
        search = SearchIndex(store, tasks)
        rows = 0

        async def counted():
            nonlocal rows
            async for page in every_match(store, search, wanted, "oldest", registry):
                rows += len(page)
                yield page

        size = 0
        started = time.perf_counter()
        async for chunk in export_bytes(counted(), export_format):
            size += len(chunk)
        tasks.cancel_scope.cancel()
        return rows, time.perf_counter() - started, size


def bare_export(path: Path, wanted: AuditFilter) -> tuple[int, float]:
    conn = sqlite3.connect(path)
    found = selection(wanted, SQLITE)
    started = time.perf_counter()
    sql = f"SELECT {COLUMNS} FROM {found.source.tables} WHERE {found.condition} ORDER BY {found.source.key}"
    cursor = conn.execute(sql, found.params)
    rows = 0
    while batch := cursor.fetchmany(1000):
        rows += len(batch)
    elapsed = time.perf_counter() - started
    conn.close()
    return rows, elapsed


EXPORTS: dict[str, AuditFilter] = {
    "everything": AuditFilter(),
    "type=TurnCompleted,TurnFailed": AuditFilter(types=("TurnCompleted", "TurnFailed")),
}


# --- report -------------------------------------------------------------------------------------


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the log")
    parser.add_argument("--queries", type=int, default=200, help="timed page queries per filter kind")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per export; the median is printed")
    parser.add_argument("--dir", type=Path, default=None, help="folder for the temporary database")
    arguments = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, "
          f"load average {_load()}")
    with tempfile.TemporaryDirectory(dir=arguments.dir, prefix="bench-audit-") as folder:
        _run(Path(folder) / "audit.db", arguments.events, arguments.queries, arguments.rounds)
    print(f"load average at the end {_load()}")


def _run(path: Path, events: int, queries: int, rounds: int) -> None:
    started = time.perf_counter()
    builder = multiprocessing.get_context("spawn").Process(target=build_log, args=(path, events))
    builder.start()
    builder.join()
    if builder.exitcode != 0:
        raise SystemExit("building the log failed")
    print(f"built a log of {events:,} events and its search index in {time.perf_counter() - started:.1f} s "
          f"({path.stat().st_size / 2**20:.0f} MB)")

    print(f"\n(a) filtered pages: query_page(order=newest, limit={PAGE}), {queries} random cursors per kind, "
          f"vs a bare SELECT of the same rows; target p99 < 50 ms")
    print(f"  {'filter':<22} {'rows':>5} {'p50 ms':>8} {'p99 ms':>8} {'+shape p99':>11} {'bare p50':>9} "
          f"{'bare p99':>9} {'ratio p50':>10} {'ratio p99':>10}  target")
    results = anyio.run(measure_pages, path, queries)
    for kind, times in results.items():
        p50, p99 = _percentile(times["page"], 0.5) * 1000, _percentile(times["page"], 0.99) * 1000
        shaped99 = _percentile(times["shaped"], 0.99) * 1000
        b50, b99 = _percentile(times["bare"], 0.5) * 1000, _percentile(times["bare"], 0.99) * 1000
        verdict = "met" if p99 < 50 else "NOT MET"
        print(f"  {kind:<22} {statistics.mean(times['rows']):>5.0f} {p50:>8.2f} {p99:>8.2f} {shaped99:>11.2f} "
              f"{b50:>9.2f} {b99:>9.2f} {p50 / b50:>9.2f}x {p99 / b99:>9.2f}x  {verdict}")

    print(f"\n(b) export: every_match + export_bytes vs a bare SELECT iterating the same rows "
          f"(median of {rounds}); target >= 0.5x")
    for label, wanted in EXPORTS.items():
        bare_rates = []
        for _ in range(rounds):
            rows, seconds = bare_export(path, wanted)
            bare_rates.append(rows / seconds)
        bare_rate = statistics.median(bare_rates)
        print(f"  {label}: {rows:,} rows, bare SELECT {bare_rate:,.0f} rows/s")
        for export_format in ("ndjson", "csv"):
            rates, sizes = [], []
            for _ in range(rounds):
                exported, seconds, size = anyio.run(store_export, path, wanted, export_format)
                assert exported == rows, (exported, rows)
                rates.append(exported / seconds)
                sizes.append(size)
            rate = statistics.median(rates)
            ratio = rate / bare_rate
            print(f"    {export_format:<7} {rate:>10,.0f} rows/s  {sizes[0] / 2**20:>6.0f} MB   ratio {ratio:.2f}x  "
                  f"{'met' if ratio >= 0.5 else 'NOT MET'}")


if __name__ == "__main__":
    main()
