"""Audit questions asked of the log: which events match a filter, a page at a time from a cursor in either
direction, or all of them in order for an export."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Literal, NamedTuple

import anyio
import msgspec

from backend.audit.instance_refs import TABLE as REFS_TABLE
from backend.audit.names import Names
from backend.audit.schemas import EVENT_OUT_JSON, EVENT_OUT_PAGE, NO_NAMES, EventOut, shape
from backend.audit.search_view import SEARCH_SQL, SearchIndex, match_expression
from backend.audit.search_view import TABLE as SEARCH_TABLE
from backend.errors import FieldError, ValidationFailed
from backend.instances.validation import CONTROL
from backend.sessions.events import stream_of as session_stream
from events import EventRegistry, EventStore, StoredEvent
from events.rows import EVENTS, Page, Source, time_window
from events.sql import POSTGRESQL, SQLITE, Dialect
from events.sqlite_store import PREFETCH_HEAD_START

Order = Literal["newest", "oldest"]
PREFIX_MARK = "-"
"""A `stream` filter ending in this names a prefix (`instance-`): no stream id ends in it."""
EXPORT_PAGE = 1000
MAX_SEARCH_WORD = 200
"""The longest word a search takes: PostgreSQL refuses a query word of more than 2,047 bytes."""


class AuditFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Which events an audit query asks for; every field left empty matches everything."""

    stream: str | None = None
    types: tuple[str, ...] = ()
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    instance: str | None = None
    session: str | None = None
    q: str | None = None
    after: int | None = None
    before: int | None = None


class AuditPage(msgspec.Struct, frozen=True, kw_only=True):
    """Matching events in the order asked for; `more` says whether the query goes on past them."""

    events: list[StoredEvent]
    more: bool


def checked_filter(wanted: AuditFilter) -> AuditFilter:
    """The filter, or ValidationFailed naming every field that cannot be answered."""
    named = (("stream", wanted.stream), ("actor", wanted.actor), ("instance", wanted.instance), ("session", wanted.session))
    errors = [
        *(FieldError(name, "needs a time zone (RFC 3339, e.g. 2026-01-31T12:00:00Z)")
          for name, moment in (("since", wanted.since), ("until", wanted.until))
          if moment is not None and moment.tzinfo is None),
        *(FieldError(name, "must not be empty") for name, value in named if value is not None and not value.strip()),
        *(FieldError(name, "must not contain control characters")
          for name, value in (*named, ("q", wanted.q)) if value and CONTROL.search(value)),
        *(FieldError("type", "must not be empty") for name in wanted.types if not name.strip()),
    ]
    if wanted.q is not None and not match_expression(wanted.q):
        errors.append(FieldError("q", "must hold at least one word"))
    if wanted.q is not None and any(len(word) > MAX_SEARCH_WORD for word in wanted.q.split()):
        errors.append(FieldError("q", f"each word must be at most {MAX_SEARCH_WORD} characters"))
    if not errors and wanted.since and wanted.until and wanted.since > wanted.until:
        errors.append(FieldError("until", "must not be before since"))
    if wanted.after is not None and wanted.before is not None and wanted.before <= wanted.after:
        errors.append(FieldError("before", "must be greater than after"))
    if errors:
        raise ValidationFailed("the audit query was refused", errors)
    return wanted


def _stream_clause(stream: str, dialect: Dialect) -> tuple[str, list[object]]:
    if not stream.endswith(PREFIX_MARK):
        return "stream_id = ?", [stream]
    if stream.index(PREFIX_MARK) == len(stream) - 1:  # a whole category: one range of its index, in position order
        return f"{dialect.category} = ?", [stream]
    following = stream[:-1] + chr(ord(PREFIX_MARK) + 1)  # the first text after every id with the prefix
    return "stream_id >= ? AND stream_id < ?", [stream, following]


JOIN = {SQLITE.name: "CROSS JOIN", POSTGRESQL.name: "JOIN"}
"""How a view of positions is joined to the events before them: SQLite's CROSS JOIN keeps the view the outer loop
(PostgreSQL has no CROSS JOIN ... ON, and plans the order itself)."""


def _driven_by(dialect: Dialect, table: str, key: str) -> Source:
    return Source(f"{table} {JOIN[dialect.name]} events ON events.position = {key}", key)


def _searched(dialect: Dialect) -> Source:
    """`q`: the full-text index gives the matches in position order and a page stops at its limit, instead of every
    match being collected and sorted."""
    return _driven_by(dialect, SEARCH_TABLE, SEARCH_SQL[dialect.name].key)


def _referring(dialect: Dialect) -> Source:
    """`instance`: the events naming the instance, a range of the references' primary key in position order."""
    return _driven_by(dialect, REFS_TABLE, f"{REFS_TABLE}.position")


NAMES_INSTANCE = f"EXISTS (SELECT 1 FROM {REFS_TABLE} WHERE instance_id = ? AND position = events.position)"
ALWAYS = "TRUE"  # the condition of a filter with no field set (SQLite reads TRUE as 1)


class Selection(NamedTuple):
    """A filter as SQL: the tables the events are read from, the condition over them, and its parameters."""

    source: Source
    condition: str
    params: list[object]


def _source(wanted: AuditFilter, dialect: Dialect) -> Source:
    """The search index drives a query with `q` (each further row is one lookup), the references one with `instance`,
    else the events table and its indexes."""
    if wanted.q is not None:
        return _searched(dialect)
    return _referring(dialect) if wanted.instance is not None else EVENTS


def selection(wanted: AuditFilter, dialect: Dialect) -> Selection:
    """The SQL for a (checked) filter on a backend; conditions on position name the source's key, so its own index
    bounds them."""
    source = _source(wanted, dialect)
    key = source.key
    clauses: list[str] = []
    params: list[object] = []

    def add(clause: str, values: list[object]) -> None:
        clauses.append(clause)
        params.extend(values)

    if wanted.stream is not None:
        add(*_stream_clause(wanted.stream, dialect))
    if wanted.types:
        add(f"type IN ({', '.join('?' * len(wanted.types))})", list(wanted.types))
    if wanted.actor is not None:
        add("actor = ?", [wanted.actor])
    window, times = time_window(key, wanted.since, wanted.until)
    if window:
        add(" AND ".join(window), times)
    if wanted.instance is not None:
        add(f"{REFS_TABLE}.instance_id = ?" if wanted.q is None else NAMES_INSTANCE, [wanted.instance])
    if wanted.session is not None:
        add("stream_id = ?", [session_stream(wanted.session)])
    if wanted.q is not None:
        add(SEARCH_SQL[dialect.name].condition, [match_expression(wanted.q, dialect)])
    if wanted.after is not None:
        add(f"{key} > ?", [wanted.after])
    if wanted.before is not None:
        add(f"{key} < ?", [wanted.before])
    return Selection(source, " AND ".join(clauses) or ALWAYS, params)


async def _ready(search: SearchIndex, wanted: AuditFilter) -> None:
    if wanted.q is not None:
        await search.up_to_date()


async def _read(
    store: EventStore, wanted: AuditFilter, *, limit: int, descending: bool
) -> list[StoredEvent]:
    found = selection(wanted, store.dialect)
    return await store.read_where(found.condition, found.params, limit=limit, descending=descending,
                                  source=found.source)


def _from_top(wanted: AuditFilter, order: Order) -> bool:
    """Whether the page is taken from the highest matching position down: from a `before` cursor alone, or, with
    no cursor or both, when the newest come first."""
    if (wanted.after is None) != (wanted.before is None):
        return wanted.before is not None
    return order == "newest"


async def query_page(
    store: EventStore, search: SearchIndex, wanted: AuditFilter, order: Order, limit: int
) -> AuditPage:
    """Up to `limit` matching events nearest the cursor (the newest or oldest without one), in `order`."""
    await _ready(search, wanted)
    descending = _from_top(wanted, order)
    events = await _read(store, wanted, limit=limit + 1, descending=descending)
    more = len(events) > limit
    kept = (events[1:] if descending else events[:-1]) if more else events
    return AuditPage(events=kept[::-1] if order == "newest" else kept, more=more)


async def every_match(
    store: EventStore, search: SearchIndex, wanted: AuditFilter, order: Order, registry: EventRegistry,
    names: Names = NO_NAMES, page_size: int = EXPORT_PAGE,
) -> AsyncIterator[list[EventOut]]:
    """Every matching event up to the log's head when asked, as readers see it (`event_out`), a page at a time in
    `order`; the next page is read while the caller has this one, so two pages at most are in memory.

    The database writes each page's rows as EventOuts (EVENT_OUT_JSON) for one decode call, and only the summaries and
    withheld fields are made here.
    """
    await _ready(search, wanted)
    head = await store.head()
    newest = order == "newest"
    after, before = wanted.after or 0, min(wanted.before or head + 1, head + 1)
    reading = _read_ahead(store, wanted, after, before, page_size, newest)
    try:
        while reading is not None:
            page = await reading
            if newest:
                before = page.first_position
            else:
                after = page.last_position
            reading = _read_ahead(store, wanted, after, before, page_size, newest) if page.count == page_size else None
            if reading is not None:
                await anyio.sleep(PREFETCH_HEAD_START)  # the read gets into the database before this page is shaped
            rows = shape(page.decode_as(EVENT_OUT_PAGE), registry, names)
            if rows:
                yield rows[::-1] if newest else rows
    finally:
        if reading is not None:
            reading.cancel()


def _read_ahead(
    store: EventStore, wanted: AuditFilter, after: int, before: int, page_size: int, newest: bool
) -> asyncio.Task[Page] | None:
    """The page of matches between the positions nearest `before` (newest first) or `after`, read on the store's
    reader thread from now on; None when no position lies between them."""
    if after + 1 >= before:
        return None
    found = selection(msgspec.structs.replace(wanted, after=after, before=before), store.dialect)
    read = store.read_page(found.condition, found.params, limit=page_size, descending=newest, source=found.source,
                           record=EVENT_OUT_JSON[store.dialect.name])
    return asyncio.get_running_loop().create_task(read)
