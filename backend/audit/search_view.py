"""The full-text search view of the log: an SQLite FTS5 index over each event's type, stream, actor and shown data,
kept as a catch-up view (rebuildable from position 0) and brought up to the log's head before each search."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import aiosqlite
import msgspec

from backend.audit.schemas import shown_data
from events import EventRegistry, StoredEvent
from events.store import EventStore

TABLE = "audit_search"
CREATE = f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5(body, content='', tokenize='unicode61')"
# A contentless table keeps only the index: the text is the log's, read from the events table when shown.


class AuditSearchView:
    """Words of every event by position (the FTS rowid), for `q` in the audit query."""

    name = TABLE
    version = 1

    def __init__(self, registry: EventRegistry) -> None:
        self._registry = registry

    async def create(self, conn: aiosqlite.Connection) -> None:
        await conn.execute(CREATE)

    async def reset(self, conn: aiosqlite.Connection) -> None:
        await conn.execute(f"DROP TABLE IF EXISTS {TABLE}")  # a contentless table cannot DELETE its rows
        await conn.execute(CREATE)

    async def apply(self, conn: aiosqlite.Connection, events: Sequence[StoredEvent]) -> None:
        await conn.executemany(
            f"INSERT INTO {TABLE} (rowid, body) VALUES (?, ?)",
            [(event.position, searchable_text(event, self._registry)) for event in events],
        )


def searchable_text(event: StoredEvent, registry: EventRegistry) -> str:
    """What a search matches: the type, stream and actor, and every key and value of the data readers may see."""
    data = msgspec.json.decode(shown_data(event, registry))
    return " ".join((event.type, event.stream_id, event.metadata.actor, *_words_of(data)))


def _words_of(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _words_of(item)
    elif isinstance(value, list):
        for item in value:
            yield from _words_of(item)
    elif value is not None:
        yield str(value)


def match_expression(text: str) -> str:
    """An FTS5 query for what a person typed: every word must appear, each as a prefix ("rot" finds "rotated").

    Each word is quoted, so FTS5's own syntax (AND, NEAR, column:, *) in the input is searched for, never run.
    """
    return " ".join('"' + word.replace('"', '""') + '"*' for word in text.split())


async def bring_up_to_date(store: EventStore, view: AuditSearchView) -> None:
    """Index every event up to the log's head now, so a search sees the caller's own writes."""
    head = await store.head()
    async with store.run_catch_up(view) as runner:
        await runner.wait_until(head)
