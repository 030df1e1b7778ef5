"""The full-text search view of the log: each event's type, stream, actor and shown data as words, indexed by SQLite
FTS5 or by a PostgreSQL tsvector, kept as a catch-up view (rebuildable from position 0) that follows the log from
start-up; each search waits for it to reach the log's head."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence

import msgspec
from anyio.abc import TaskGroup

from backend.audit.schemas import shown_data
from backend.errors import ProblemError
from events import CatchUpRunner, EventRegistry, EventStore, StoredEvent, ViewRow
from events.errors import FollowerStopped
from events.sql import POSTGRESQL, SQLITE, Dialect, ViewTransaction

TABLE = "audit_search"
WORDS = f"temp.{TABLE}_words"  # SQLite's index read back word by word, to set beside a rebuild


class SearchSQL(msgspec.Struct, frozen=True, kw_only=True):
    """The search view's statements on one backend: its tables, how they are emptied and read back, how one event's
    words go in, and the condition a search adds to the audit query (`key`: the index's position column)."""

    create: tuple[str, ...]
    reset: tuple[str, ...]
    rows: tuple[str, ...]
    insert: str
    key: str
    condition: str


SQLITE_CREATE = f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5(body, content='', tokenize='unicode61')"
# A contentless table keeps only the index: the text is the log's, read from the events table when shown.
SQLITE_SEARCH = SearchSQL(
    create=(SQLITE_CREATE,),
    reset=(f"DROP TABLE IF EXISTS {TABLE}", SQLITE_CREATE),  # a contentless table cannot DELETE its rows
    rows=(  # each word of each event where it stands (word, position, column, offset): what the index holds
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {WORDS} USING fts5vocab(main, {TABLE}, instance)",
        f"SELECT term, doc, col, offset FROM {WORDS}",
    ),
    insert=f"INSERT INTO {TABLE} (rowid, body) VALUES (?, ?)",
    key=f"{TABLE}.rowid",
    condition=f"{TABLE} MATCH ?",
)
POSTGRESQL_SEARCH = SearchSQL(
    create=(
        f"CREATE TABLE IF NOT EXISTS {TABLE} (position BIGINT PRIMARY KEY, body tsvector NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_words ON {TABLE} USING GIN (body)",
    ),
    reset=(f"DELETE FROM {TABLE}",),
    rows=(f"SELECT position, body::text FROM {TABLE}",),  # a tsvector's text lists its words sorted, with places
    insert=f"INSERT INTO {TABLE} (position, body) VALUES (?, to_tsvector('simple', ?))",
    key=f"{TABLE}.position",
    condition=f"{TABLE}.body @@ CAST(? AS tsquery)",
)
SEARCH_SQL = {SQLITE.name: SQLITE_SEARCH, POSTGRESQL.name: POSTGRESQL_SEARCH}


class AuditSearchView:
    """Words of every event by position (SQLite's FTS rowid, PostgreSQL's `position`), for `q` in the audit query."""

    name = TABLE
    version = 1

    def __init__(self, registry: EventRegistry) -> None:
        self._registry = registry

    async def create(self, tx: ViewTransaction) -> None:
        for statement in SEARCH_SQL[tx.dialect.name].create:
            await tx.execute(statement)

    async def reset(self, tx: ViewTransaction) -> None:
        for statement in SEARCH_SQL[tx.dialect.name].reset:
            await tx.execute(statement)

    async def rows(self, tx: ViewTransaction) -> list[ViewRow]:
        *preparing, reading = SEARCH_SQL[tx.dialect.name].rows
        for statement in preparing:
            await tx.execute(statement)
        return await tx.fetch(reading)

    async def apply(self, tx: ViewTransaction, events: Sequence[StoredEvent]) -> None:
        body = _BODIES[tx.dialect.name]
        await tx.execute_many(
            SEARCH_SQL[tx.dialect.name].insert,
            [(event.position, body(searchable_text(event, self._registry))) for event in events],
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


WORD = re.compile(r"[^\W_]+")
"""A word as FTS5's unicode61 tokenizer finds one: a run of letters and digits (all else separates words)."""


def words(text: str) -> list[str]:
    """The words of a text as FTS5's unicode61 tokenizer gives them (case-folded, Latin letters without their
    accents), for PostgreSQL, whose own parser would keep paths, hyphenated words and e-mail addresses whole."""
    bare = "".join(char for char in unicodedata.normalize("NFD", text.casefold()) if not unicodedata.combining(char))
    return WORD.findall(bare)


def _as_written(text: str) -> str:
    return text


INDEXED_CHARACTERS = 100_000
"""How much of an event's words PostgreSQL indexes: a tsvector holds at most 1 MB and places words up to the
16,383rd, and a message may be 1,000,000 characters. The type, stream and actor come first, so only the end of a
long text goes unsearched."""


def _as_words(text: str) -> str:
    joined = " ".join(words(text))
    if len(joined) <= INDEXED_CHARACTERS:
        return joined
    return joined[: INDEXED_CHARACTERS + 1].rpartition(" ")[0]  # whole words only


_BODIES = {SQLITE.name: _as_written, POSTGRESQL.name: _as_words}
"""The text indexed for an event: SQLite's tokenizer splits it; PostgreSQL's 'simple' one is given the words."""


def match_expression(text: str, dialect: Dialect = SQLITE) -> str:
    """A query for what a person typed: every word must appear, each as a prefix ("rot" finds "rotated"); '' when
    nothing was typed. A word FTS5 splits in parts ("amber-lan") is those parts in a row, the last as a prefix.

    No input is ever run as query syntax: on SQLite each word is quoted, so FTS5's own (AND, NEAR, column:, *) is
    searched for; on PostgreSQL the tsquery is built of quoted words that hold letters and digits only.
    """
    return _MATCHES[dialect.name](text.split())


def _fts5_match(typed: list[str]) -> str:
    return " ".join('"' + word.replace('"', '""') + '"*' for word in typed)


NO_WORD = "'-'"
"""A tsquery word that no event's words hold (they are letters and digits): for a typed word with no letter or
digit, which matches nothing on FTS5 either."""


def _tsquery_match(typed: list[str]) -> str:
    return " & ".join(_phrase(words(word)) for word in typed)


def _phrase(parts: list[str]) -> str:
    if not parts:
        return NO_WORD
    return " <-> ".join(f"'{part}'" for part in parts) + ":*"


_MATCHES = {SQLITE.name: _fts5_match, POSTGRESQL.name: _tsquery_match}


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
