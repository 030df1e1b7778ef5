"""Event store benchmark: the store against bare SQLite on the same disk (`python -m bench.events`), or against bare
asyncpg on the same server (`--backend postgres`, in bench/events_postgres.py)."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiosqlite
import anyio
import msgspec

from events import Event, EventRegistry, Metadata, SQLiteEventStore
from events.chain import GENESIS_HASH, event_hash
from events.schema import prepare_file
from events.writer import INSERT_EVENT

METADATA = Metadata(actor="bench", request_id="req-0001")
BUILD_CACHE_KIB = 64 * 1024
SINGLE_BLOCK = 100
METADATA_JSON = msgspec.json.encode(METADATA).decode()


class CounterIncremented(Event):
    counter: str
    by: int
    note: str


def _registry() -> EventRegistry:
    registry = EventRegistry()
    registry.register(CounterIncremented)
    return registry


def _event(n: int) -> CounterIncremented:
    return CounterIncremented(counter=f"counter-{n % 100}", by=n, note="a short note of some forty characters.")


def _bare_row(n: int) -> tuple[int, str, str, int, str, int, str, str, str, str, str]:
    """A row shaped like the store's, without the work of building it properly."""
    data = msgspec.json.encode(_event(n)).decode()
    return (n, os.urandom(16).hex(), f"stream-{n}", 1, "CounterIncremented", 1, data, METADATA_JSON, "bench",
            "2026-01-01T00:00:00.000000Z", GENESIS_HASH)


def _empty_file(path: Path) -> Path:
    prepare_file(path)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    return path


# --- 1. single durable appends ------------------------------------------------------------


async def single_appends(store_path: Path, bare_path: Path, count: int) -> tuple[float, float]:
    """Appends/s through the store and through a bare INSERT + COMMIT, taken in alternating blocks."""
    rows = [_bare_row(n) for n in range(1, count + 1)]
    store_time = bare_time = 0.0
    async with SQLiteEventStore.open(store_path, registry=_registry()) as store, aiosqlite.connect(bare_path) as conn:
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = FULL")
        for block in range(0, count, SINGLE_BLOCK):
            started = time.perf_counter()
            for n in range(block, min(block + SINGLE_BLOCK, count)):
                await store.append(f"stream-{n % 10}", [_event(n)], metadata=METADATA)
            store_time += time.perf_counter() - started
            started = time.perf_counter()
            for row in rows[block:block + SINGLE_BLOCK]:
                await conn.execute(INSERT_EVENT, row)
                await conn.commit()
            bare_time += time.perf_counter() - started
    return count / store_time, count / bare_time


# --- 2. concurrent appenders (group commit) ------------------------------------------------


async def store_concurrent(path: Path, appenders: int, each: int) -> tuple[float, list[float], float]:
    """Events/s, each append's latency, and events per commit."""
    latencies: list[float] = []

    async def appender(index: int) -> None:
        for n in range(each):
            started = time.perf_counter()
            await store.append(f"stream-{index}", [_event(n)], metadata=METADATA)
            latencies.append(time.perf_counter() - started)

    async with SQLiteEventStore.open(path, registry=_registry()) as store:
        started = time.perf_counter()
        async with anyio.create_task_group() as tasks:
            for index in range(appenders):
                tasks.start_soon(appender, index)
        elapsed = time.perf_counter() - started
        return appenders * each / elapsed, latencies, appenders * each / store.transactions


def bare_batches(path: Path, count: int, batch: int) -> float:
    rows = [_bare_row(n) for n in range(1, count + 1)]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    started = time.perf_counter()
    for start in range(0, count, batch):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT_EVENT, rows[start:start + batch])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return count / elapsed


# --- 3. catch-up read ----------------------------------------------------------------------


def open_for_bulk_insert(path: Path) -> tuple[sqlite3.Connection, list[tuple[str, str]]]:
    """A new store file opened for a fast bulk insert, inside a transaction, with its secondary indexes dropped;
    the (name, sql) of those indexes, for the caller to build again before committing."""
    prepare_file(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute(f"PRAGMA cache_size = -{BUILD_CACHE_KIB}")
    indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").fetchall()
    conn.execute("BEGIN")
    for name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")
    return conn, indexes


def build_log(path: Path, count: int) -> None:
    """Write `count` events with a valid hash chain straight into a new store file.

    The secondary indexes are dropped for the bulk insert and built again afterwards.
    """
    conn, indexes = open_for_bulk_insert(path)
    conn.executemany(INSERT_EVENT, _chained_rows(count))
    for _, sql in indexes:
        conn.execute(sql)
    conn.execute("COMMIT")
    conn.close()


def _chained_rows(count: int) -> Iterator[tuple[int, str, str, int, str, int, str, str, str, str, str]]:
    previous, recorded_at = GENESIS_HASH, "2026-01-01T00:00:00.000000Z"
    for position in range(1, count + 1):
        stream, version = f"stream-{position % 1000}", position // 1000 + 1
        event_id = f"{position:032x}"
        data = msgspec.json.encode(_event(position)).decode()
        previous = event_hash(previous, position, stream, version, event_id, "CounterIncremented", 1, data,
                              METADATA_JSON, recorded_at)
        yield (position, event_id, stream, version, "CounterIncremented", 1, data, METADATA_JSON, "bench",
               recorded_at, previous)


async def store_catch_up(path: Path, count: int) -> float:
    async with SQLiteEventStore.open(path, registry=_registry()) as store:
        registry, seen = store.registry, 0
        started = time.perf_counter()
        async for batch in store.subscribe_batches(0):
            for stored in batch:
                registry.decode(stored)
            seen += len(batch)
            if seen >= count:
                break
        return count / (time.perf_counter() - started)


def bare_select(path: Path, count: int) -> float:
    conn = sqlite3.connect(path)
    started = time.perf_counter()
    cursor = conn.execute(
        "SELECT position, stream_id, version, event_id, type, schema_version, data, metadata, recorded_at, hash "
        "FROM events ORDER BY position"
    )
    seen = 0
    while rows := cursor.fetchmany(2000):
        seen += len(rows)
    elapsed = time.perf_counter() - started
    conn.close()
    assert seen == count
    return count / elapsed


# --- report --------------------------------------------------------------------------------


def _line(label: str, store: float, bare: float, target: float) -> None:
    ratio = store / bare
    verdict = "ok" if ratio >= target else "below target"
    print(f"  {label:<34} store {store:>11,.0f}/s   bare {bare:>11,.0f}/s   ratio {ratio:.2f} "
          f"(target >= {target}) {verdict}")


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the catch-up read")
    parser.add_argument("--appends", type=int, default=2000, help="appends per round in the single-append test")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per measurement; medians are printed")
    parser.add_argument("--dir", type=Path, default=None, help="folder for the temporary databases")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="the PostgreSQL server for --backend postgres (a schema of its own per measurement)")
    arguments = parser.parse_args()
    if arguments.backend == "postgres":
        from bench import events_postgres

        print(f"Python {sys.version.split()[0]}, asyncpg, PostgreSQL at {arguments.database_url}, {os.cpu_count()} CPUs")
        events_postgres.run(arguments.database_url, arguments.events, arguments.appends, arguments.rounds)
        return
    print(f"Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(dir=arguments.dir, prefix="bench-events-") as folder:
        _run(Path(folder), arguments.events, arguments.appends, arguments.rounds)


def _run(folder: Path, events: int, appends: int, rounds: int) -> None:
    print(f"1. single-event durable appends ({appends} per round in alternating blocks of {SINGLE_BLOCK}, "
          f"{rounds} rounds, WAL + synchronous=FULL)")
    store_rates, bare_rates = [], []
    for round_number in range(rounds):
        store_path, bare_path = folder / f"single-store-{round_number}.db", folder / f"single-bare-{round_number}.db"
        store_rate, bare_rate = anyio.run(single_appends, store_path, _empty_file(bare_path), appends)
        store_rates.append(store_rate)
        bare_rates.append(bare_rate)
    _line("appends/s", statistics.median(store_rates), statistics.median(bare_rates), 0.8)

    appenders, each = 100, max(1, appends // 100)
    print(f"2. {appenders} concurrent appenders x {each} appends (group commit) vs executemany of 100 rows")
    store_rates, bare_rates, p50s, p99s, group_sizes = [], [], [], [], []
    for round_number in range(rounds):
        rate, latencies, group_size = anyio.run(store_concurrent, folder / f"group-store-{round_number}.db",
                                                appenders, each)
        store_rates.append(rate)
        group_sizes.append(group_size)
        p50s.append(_percentile(latencies, 0.50) * 1000)
        p99s.append(_percentile(latencies, 0.99) * 1000)
        bare_rates.append(bare_batches(_empty_file(folder / f"group-bare-{round_number}.db"), appenders * each, 100))
    _line("events/s", statistics.median(store_rates), statistics.median(bare_rates), 0.7)
    p99 = statistics.median(p99s)
    print(f"  append latency p50 {statistics.median(p50s):.2f} ms, p99 {p99:.2f} ms "
          f"(target p99 < 10 ms) {'ok' if p99 < 10 else 'above target'}; "
          f"{statistics.median(group_sizes):.1f} events per commit")

    print(f"3. catch-up read of {events:,} events, decode included, vs bare SELECT of the same rows")
    path = folder / "catch-up.db"
    started = time.perf_counter()
    builder = multiprocessing.get_context("spawn").Process(target=build_log, args=(path, events))
    builder.start()
    builder.join()
    print(f"  built the log in {time.perf_counter() - started:.1f} s (in a child process, outside the RSS figure)")
    store_rates, bare_rates = [], []
    for _ in range(rounds):
        bare_rates.append(bare_select(path, events))
        store_rates.append(anyio.run(store_catch_up, path, events))
    _line("events/s", statistics.median(store_rates), statistics.median(bare_rates), 0.5)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    verdict = "ok" if peak_mb < 300 else "above target"
    print(f"  peak RSS of the reading process {peak_mb:.0f} MB (target < 300 MB) {verdict}")


if __name__ == "__main__":
    main()
