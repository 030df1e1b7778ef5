"""The full-text search view of the log: an SQLite FTS5 index over each event's type, stream, actor and shown data,
kept as a catch-up view (rebuildable from position 0) that follows the log from start-up; each search waits for it
to reach the log's head."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import msgspec
from anyio.abc import TaskGroup

from backend.audit.schemas import shown_data
from backend.errors import ProblemError
from events import CatchUpRunner, EventRegistry, EventStore, StoredEvent, ViewRow
from events.errors import FollowerStopped
from events.sql import ViewTransaction

TABLE = "audit_search"
CREATE = f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5(body, content='', tokenize='unicode61')"
# A contentless table keeps only the index: the text is the log's, read from the events table when shown.
WORDS = f"temp.{TABLE}_words"  # the index read back word by word, to set beside a rebuild


class AuditSearchView:
    """Words of every event by position (the FTS rowid), for `q` in the audit query."""

    name = TABLE
    version = 1

    def __init__(self, registry: EventRegistry) -> None:
        self._registry = registry

    async def create(self, tx: ViewTransaction) -> None:
        await tx.execute(CREATE)

    async def reset(self, tx: ViewTransaction) -> None:
        await tx.execute(f"DROP TABLE IF EXISTS {TABLE}")  # a contentless table cannot DELETE its rows
        await tx.execute(CREATE)

    async def rows(self, tx: ViewTransaction) -> list[ViewRow]:
        """Each word of each event where it stands (word, position, column, offset): what the index holds."""
        await tx.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {WORDS} USING fts5vocab(main, {TABLE}, instance)")
        return [tuple(row) for row in await tx.fetch(f"SELECT term, doc, col, offset FROM {WORDS}")]

    async def apply(self, tx: ViewTransaction, events: Sequence[StoredEvent]) -> None:
        await tx.execute_many(
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


class SearchUnavailable(ProblemError):
    """The search index stopped following the log (an error) before it reached the head a search waits for."""

    status = 503
    title = "Search unavailable"


class SearchIndex:
    """The search view following the log in a task of the service's: from start-up for the server, from the first
    search for a command. After an error (which health lists) the next search starts it again."""

    def __init__(self, store: EventStore, tasks: TaskGroup) -> None:
        self._store = store
        self._tasks = tasks
        self._runner: CatchUpRunner | None = None

    def start(self) -> CatchUpRunner:
        """Follow the log, unless already following it; returns what follows it."""
        if self._runner is None or self._runner.stopped:
            self._runner = CatchUpRunner(self._store, AuditSearchView(self._store.registry))
            self._tasks.start_soon(self._runner.follow)
        return self._runner

    async def up_to_date(self) -> None:
        """Return once every event up to the log's head now is indexed, so a search sees the caller's own writes."""
        head = await self._store.head()
        try:
            await self.start().wait_until(head)
        except FollowerStopped:
            errors = [failure.error for failure in self._store.followers.failures() if failure.name == TABLE]
            raise SearchUnavailable(" ".join(["the search index stopped following the log.", *errors])) from None
