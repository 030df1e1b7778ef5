"""Event store benchmark on PostgreSQL: the store against bare asyncpg doing the same inserts and reads in the same
run, each in a schema of its own, and appends/s with several processes writing at once. Run
`python -m bench.events --backend postgres`."""

from __future__ import annotations

import asyncio
import multiprocessing
import secrets
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import asyncpg

from bench.events import (
    METADATA,
    SINGLE_BLOCK,
    _bare_row,
    _chained_rows,
    _event,
    _line,
    _percentile,
    _registry,
)
from events.postgres.schema import prepare_schema
from events.postgres.store import PostgresEventStore

COLUMNS = ("position", "event_id", "stream_id", "version", "type", "schema_version", "data", "metadata", "actor",
           "recorded_at", "hash")
INSERT_ROW = f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
BARE_SELECT = ("SELECT position, stream_id, version, event_id, type, schema_version, data, metadata, recorded_at, hash "
               "FROM events ORDER BY position")
GATE = 20261203  # advisory lock key the processes wait on, so they start writing at once
PROCESS_APPENDERS = 20


@asynccontextmanager
async def bench_schema(server: str) -> AsyncIterator[str]:
    """A URL whose search path is a new store schema, dropped afterwards."""
    schema = f"bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server)
    await admin.execute(f"CREATE SCHEMA {schema}")
    url = f"{server}{'&' if '?' in server else '?'}search_path={schema}"
    conn = await asyncpg.connect(url)
    await prepare_schema(conn, url)
    await conn.close()
    try:
        yield url
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


# --- 1. single durable appends ------------------------------------------------------------


async def single_appends(server: str, count: int) -> tuple[float, float]:
    """Appends/s through the store and through a bare INSERT (autocommit), in alternating blocks."""
    rows = [_bare_row(n) for n in range(1, count + 1)]
    store_time = bare_time = 0.0
    async with bench_schema(server) as store_url, bench_schema(server) as bare_url:
        conn = await asyncpg.connect(bare_url)
        async with PostgresEventStore.open(store_url, registry=_registry()) as store:
            for block in range(0, count, SINGLE_BLOCK):
                started = time.perf_counter()
                for n in range(block, min(block + SINGLE_BLOCK, count)):
                    await store.append(f"stream-{n % 10}", [_event(n)], metadata=METADATA)
                store_time += time.perf_counter() - started
                started = time.perf_counter()
                for row in rows[block:block + SINGLE_BLOCK]:
                    await conn.execute(INSERT_ROW, *row)
                bare_time += time.perf_counter() - started
        await conn.close()
    return count / store_time, count / bare_time


# --- 2. concurrent appenders (group commit) ------------------------------------------------


async def store_concurrent(server: str, appenders: int, each: int) -> tuple[float, list[float], float]:
    """Events/s, each append's latency, and events per commit."""
    latencies: list[float] = []

    async def appender(index: int) -> None:
        for n in range(each):
            started = time.perf_counter()
            await store.append(f"stream-{index}", [_event(n)], metadata=METADATA)
            latencies.append(time.perf_counter() - started)

    async with bench_schema(server) as url, PostgresEventStore.open(url, registry=_registry()) as store:
        before = store.transactions
        started = time.perf_counter()
        async with anyio.create_task_group() as tasks:
            for index in range(appenders):
                tasks.start_soon(appender, index)
        elapsed = time.perf_counter() - started
        return appenders * each / elapsed, latencies, appenders * each / (store.transactions - before)


async def bare_batches(server: str, count: int, batch: int) -> float:
    """The same rows inserted `batch` to a transaction with executemany."""
    rows = [_bare_row(n) for n in range(1, count + 1)]
    async with bench_schema(server) as url:
        conn = await asyncpg.connect(url)
        started = time.perf_counter()
        for start in range(0, count, batch):
            async with conn.transaction():
                await conn.executemany(INSERT_ROW, rows[start:start + batch])
        elapsed = time.perf_counter() - started
        await conn.close()
    return count / elapsed


# --- 3. catch-up read ----------------------------------------------------------------------


async def build_log(url: str, count: int) -> None:
    """`count` events with a valid hash chain copied straight into the store's table, the head moved after them."""
    conn = await asyncpg.connect(url)
    last = None
    batch: list[tuple[object, ...]] = []
    for row in _chained_rows(count):
        batch.append(row)
        if len(batch) == 50_000:
            await conn.copy_records_to_table("events", records=batch, columns=COLUMNS)
            last, batch = batch[-1], []
    if batch:
        await conn.copy_records_to_table("events", records=batch, columns=COLUMNS)
        last = batch[-1]
    assert last is not None
    await conn.execute("UPDATE event_log_head SET position = $1, hash = $2, recorded_at = $3", last[0], last[10],
                       last[9])
    await conn.execute("VACUUM ANALYZE events")
    await conn.close()


async def store_catch_up(url: str, count: int) -> float:
    async with PostgresEventStore.open(url, registry=_registry()) as store:
        registry, seen = store.registry, 0
        started = time.perf_counter()
        async for batch in store.subscribe_batches(0):
            for stored in batch:
                registry.decode(stored)
            seen += len(batch)
            if seen >= count:
                break
        return count / (time.perf_counter() - started)


async def bare_select(url: str, count: int) -> float:
    conn = await asyncpg.connect(url)
    started = time.perf_counter()
    seen = 0
    async with conn.transaction():
        async for _ in conn.cursor(BARE_SELECT, prefetch=2000):
            seen += 1
    elapsed = time.perf_counter() - started
    await conn.close()
    assert seen == count
    return count / elapsed


# --- 4. several processes writing at once --------------------------------------------------


def process_appends(url: str, name: str, each: int, ready: multiprocessing.Queue[tuple[float, float]]) -> None:
    asyncio.run(_process_appends(url, name, each, ready))


async def _process_appends(url: str, name: str, each: int, ready: multiprocessing.Queue[tuple[float, float]]) -> None:
    async def appender(index: int) -> None:
        for n in range(index, each, PROCESS_APPENDERS):
            await store.append(f"{name}-{index}", [_event(n)], metadata=METADATA)

    async with PostgresEventStore.open(url, registry=_registry()) as store:
        gate = await asyncpg.connect(url)
        ready.put((0.0, 0.0))
        await gate.execute("SELECT pg_advisory_lock_shared($1)", GATE)
        started = time.time()
        async with anyio.create_task_group() as tasks:
            for index in range(PROCESS_APPENDERS):
                tasks.start_soon(appender, index)
        ready.put((started, time.time()))
        await gate.close()


async def processes_at_once(server: str, processes: int, each: int) -> float:
    """Appends/s of `processes` processes, each with PROCESS_APPENDERS appenders, all let go at the same moment."""
    context = multiprocessing.get_context("spawn")
    reports: multiprocessing.Queue[tuple[float, float]] = context.Queue()
    async with bench_schema(server) as url:
        gate = await asyncpg.connect(url)
        await gate.execute("SELECT pg_advisory_lock($1)", GATE)
        children = [context.Process(target=process_appends, args=(url, f"p{n}", each, reports))
                    for n in range(processes)]
        for child in children:
            child.start()
        for _ in children:
            await anyio.to_thread.run_sync(reports.get)
        await gate.execute("SELECT pg_advisory_unlock($1)", GATE)
        spans = [await anyio.to_thread.run_sync(reports.get) for _ in children]
        for child in children:
            await anyio.to_thread.run_sync(child.join)
        head = await gate.fetchval("SELECT position FROM event_log_head")
        await gate.close()
    assert head == processes * each
    return processes * each / (max(end for _, end in spans) - min(start for start, _ in spans))


# --- report --------------------------------------------------------------------------------


def run(server: str, events: int, appends: int, rounds: int) -> None:
    print(f"1. single-event durable appends ({appends} per round in alternating blocks of {SINGLE_BLOCK}, "
          f"{rounds} rounds) vs a bare INSERT each")
    results = [anyio.run(single_appends, server, appends) for _ in range(rounds)]
    _line("appends/s", statistics.median(r[0] for r in results), statistics.median(r[1] for r in results), 0.7)

    appenders, each = 100, max(1, appends // 100)
    print(f"2. {appenders} concurrent appenders x {each} appends (group commit) vs executemany of 100 rows")
    store_rates, bare_rates, p50s, p99s, group_sizes = [], [], [], [], []
    for _ in range(rounds):
        rate, latencies, group_size = anyio.run(store_concurrent, server, appenders, each)
        store_rates.append(rate)
        group_sizes.append(group_size)
        p50s.append(_percentile(latencies, 0.50) * 1000)
        p99s.append(_percentile(latencies, 0.99) * 1000)
        bare_rates.append(anyio.run(bare_batches, server, appenders * each, 100))
    _line("events/s", statistics.median(store_rates), statistics.median(bare_rates), 0.5)
    print(f"  append latency p50 {statistics.median(p50s):.2f} ms, p99 {statistics.median(p99s):.2f} ms; "
          f"{statistics.median(group_sizes):.1f} events per commit")

    print(f"3. catch-up read of {events:,} events, decode included, vs a bare cursor over the same rows")
    anyio.run(_catch_up, server, events, rounds)

    each = max(PROCESS_APPENDERS, appends)
    print(f"4. processes appending at once, each {PROCESS_APPENDERS} appenders x {each // PROCESS_APPENDERS} appends")
    for processes in (1, 2, 3):
        rates = [anyio.run(processes_at_once, server, processes, each) for _ in range(rounds)]
        print(f"  {processes} process{'es' if processes > 1 else '  '} {statistics.median(rates):>11,.0f} appends/s")


async def _catch_up(server: str, events: int, rounds: int) -> None:
    async with bench_schema(server) as url:
        started = time.perf_counter()
        await build_log(url, events)
        print(f"  built the log in {time.perf_counter() - started:.1f} s")
        store_rates, bare_rates = [], []
        for _ in range(rounds):
            bare_rates.append(await bare_select(url, events))
            store_rates.append(await store_catch_up(url, events))
    _line("events/s", statistics.median(store_rates), statistics.median(bare_rates), 0.5)
