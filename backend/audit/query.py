"""Audit questions asked of the log: which events match a filter, a page at a time from a cursor in either
direction, or all of them in order for an export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Literal

import msgspec

from backend.audit.search_view import TABLE as SEARCH_TABLE
from backend.audit.search_view import AuditSearchView, bring_up_to_date, match_expression
from backend.errors import FieldError, ValidationFailed
from backend.instances.events import stream_of as instance_stream
from backend.instances.validation import CONTROL
from backend.sessions.events import stream_of as session_stream
from events import StoredEvent
from events.rows import format_time
from events.sqlite_store import SQLiteEventStore

Order = Literal["newest", "oldest"]
PREFIX_MARK = "-"
"""A `stream` filter ending in this names a prefix (`instance-`): no stream id ends in it."""
EXPORT_PAGE = 1000


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
    if not errors and wanted.since and wanted.until and wanted.since > wanted.until:
        errors.append(FieldError("until", "must not be before since"))
    if wanted.after is not None and wanted.before is not None and wanted.before <= wanted.after:
        errors.append(FieldError("before", "must be greater than after"))
    if errors:
        raise ValidationFailed("the audit query was refused", errors)
    return wanted


def _stream_clause(stream: str) -> tuple[str, list[object]]:
    if not stream.endswith(PREFIX_MARK):
        return "stream_id = ?", [stream]
    following = stream[:-1] + chr(ord(PREFIX_MARK) + 1)  # the first text after every id with the prefix
    return "stream_id >= ? AND stream_id < ?", [stream, following]


def _instance_clause(instance_id: str) -> tuple[str, list[object]]:
    """Its own stream, and every other event that names it as `instance_id` anywhere in its data (a session's
    default model, an agent, a turn); `instr` skips the rows that cannot mention it before JSON is walked."""
    return (
        "(stream_id = ? OR (instr(data, ?) > 0 AND EXISTS "
        "(SELECT 1 FROM json_tree(events.data) WHERE key = 'instance_id' AND atom = ?)))",
        [instance_stream(instance_id), msgspec.json.encode(instance_id).decode(), instance_id],
    )


FIRST_AT = (
    "coalesce((SELECT position FROM events WHERE recorded_at >= ? ORDER BY recorded_at, position LIMIT 1), ?)"
)
"""The first position recorded at or after a time (or NO_POSITION when none is yet): `recorded_at` never goes back
along the log, so a time range is a position range, which pages walk in position order (a range over the time
index would have to be sorted by position for every page)."""
NO_POSITION = 2**63 - 1  # above every position


def where(wanted: AuditFilter) -> tuple[str, list[object]]:
    """The SQL condition over the events table for a (checked) filter, and its parameters."""
    clauses: list[str] = []
    params: list[object] = []

    def add(clause: str, values: list[object]) -> None:
        clauses.append(clause)
        params.extend(values)

    if wanted.stream is not None:
        add(*_stream_clause(wanted.stream))
    if wanted.types:
        add(f"type IN ({', '.join('?' * len(wanted.types))})", list(wanted.types))
    if wanted.actor is not None:
        add("actor = ?", [wanted.actor])
    if wanted.since is not None:
        add(f"position >= {FIRST_AT}", [format_time(wanted.since), NO_POSITION])
    if wanted.until is not None:
        add(f"position < {FIRST_AT}", [format_time(wanted.until), NO_POSITION])
    if wanted.instance is not None:
        add(*_instance_clause(wanted.instance))
    if wanted.session is not None:
        add("stream_id = ?", [session_stream(wanted.session)])
    if wanted.q is not None:
        search = f"position IN (SELECT rowid FROM {SEARCH_TABLE} WHERE {SEARCH_TABLE} MATCH ?)"
        add(search, [match_expression(wanted.q)])
    if wanted.after is not None:
        add("position > ?", [wanted.after])
    if wanted.before is not None:
        add("position < ?", [wanted.before])
    return " AND ".join(clauses) or "1", params


async def _ready(store: SQLiteEventStore, wanted: AuditFilter) -> None:
    if wanted.q is not None:
        await bring_up_to_date(store, AuditSearchView(store.registry))


def _from_top(wanted: AuditFilter, order: Order) -> bool:
    """Whether the page is taken from the highest matching position down: from a `before` cursor alone, or, with
    no cursor or both, when the newest come first."""
    if (wanted.after is None) != (wanted.before is None):
        return wanted.before is not None
    return order == "newest"


async def query_page(store: SQLiteEventStore, wanted: AuditFilter, order: Order, limit: int) -> AuditPage:
    """Up to `limit` matching events nearest the cursor (the newest or oldest without one), in `order`."""
    await _ready(store, wanted)
    condition, params = where(wanted)
    descending = _from_top(wanted, order)
    events = await store.read_where(condition, params, limit=limit + 1, descending=descending)
    more = len(events) > limit
    kept = (events[1:] if descending else events[:-1]) if more else events
    return AuditPage(events=kept[::-1] if order == "newest" else kept, more=more)


async def every_match(
    store: SQLiteEventStore, wanted: AuditFilter, order: Order, page_size: int = EXPORT_PAGE
) -> AsyncIterator[list[StoredEvent]]:
    """Every matching event up to the log's head when asked, a page at a time in `order`: one page in memory."""
    await _ready(store, wanted)
    head = await store.head()
    after = wanted.after or 0
    before = min(wanted.before or head + 1, head + 1)
    while after + 1 < before:
        window = msgspec.structs.replace(wanted, after=after, before=before)
        condition, params = where(window)
        page = await store.read_where(condition, params, limit=page_size, descending=order == "newest")
        if not page:
            return
        if order == "newest":
            before = page[0].position
            yield page[::-1]
        else:
            after = page[-1].position
            yield page
