"""Copying an SQLite log into an empty PostgreSQL store row for row: ids, positions, times and hash chain as they are."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio

from events.postgres.connect import connect

COLUMNS = (
    "position", "event_id", "stream_id", "version", "type", "schema_version", "data", "metadata", "actor",
    "recorded_at", "hash",
)
PAGE = 5000
Progress = Callable[[int], None]


class TargetNotEmpty(Exception):
    """The PostgreSQL store already holds events: a copy goes only into an empty log."""


def _pages(path: Path) -> Iterator[list[tuple[object, ...]]]:
    """The source's rows in position order, a page at a time, from one read snapshot."""
    source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    try:
        source.execute("BEGIN")
        cursor = source.execute(f"SELECT {', '.join(COLUMNS)} FROM events ORDER BY position")
        while rows := cursor.fetchmany(PAGE):
            yield rows
    finally:
        source.close()


async def copy_sqlite_log(path: Path, url: str, progress: Progress) -> int:
    """Every event of the SQLite store at `path` into the (created, empty) store at `url`, in one transaction that
    holds the log's head: no append can land between them. Returns how many were copied."""
    conn = await connect(url)
    try:
        async with conn.transaction():
            head = await conn.fetchrow("SELECT position FROM event_log_head FOR UPDATE")
            if head is None or head["position"] != 0 or await conn.fetchval("SELECT count(*) FROM events"):
                raise TargetNotEmpty("the target already holds events; migrate only into an empty database schema")
            copied, last = 0, None
            pages = _pages(path)  # read on worker threads, one page at a time
            try:
                while page := await anyio.to_thread.run_sync(next, pages, None):
                    await conn.copy_records_to_table("events", records=page, columns=COLUMNS)
                    copied, last = copied + len(page), page[-1]
                    progress(copied)
            finally:
                await anyio.to_thread.run_sync(pages.close)
            if last is not None:
                await conn.execute(
                    "UPDATE event_log_head SET position = $1, hash = $2, recorded_at = $3", last[0], last[10], last[9]
                )
        await conn.execute("ANALYZE events")  # the planner's statistics now, not at autovacuum's next visit
        return copied
    finally:
        await conn.close()
