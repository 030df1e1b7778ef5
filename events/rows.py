"""How pages of events are read from the database and turned into StoredEvents, and how times are stored."""

from __future__ import annotations

from datetime import UTC, datetime
from operator import attrgetter
from typing import NamedTuple, Protocol, TypeVar

import msgspec

from events.event import StoredEvent
from events.sql import POSTGRESQL, SQLITE, Dialect

# The database renders each row as the JSON of a StoredEvent (data and metadata are stored as JSON
# already) and joins a page of them into one string, so the reader hands over one value per page
# and msgspec decodes the page in one call.
SQLITE_EVENT_JSON = (
    """printf('{"position":%d,"stream_id":%s,"version":%d,"event_id":%s,"type":%s,"schema_version":%d,"""
    """"data":%s,"metadata":%s,"recorded_at":"%s","hash":"%s"}', events.position, json_quote(events.stream_id),"""
    """ events.version, json_quote(events.event_id), json_quote(events.type), events.schema_version, events.data,"""
    """ events.metadata, events.recorded_at, events.hash)"""
)
POSTGRESQL_EVENT_JSON = (
    """format('{"position":%s,"stream_id":%s,"version":%s,"event_id":%s,"type":%s,"schema_version":%s,"""
    """"data":%s,"metadata":%s,"recorded_at":"%s","hash":"%s"}', events.position, to_json(events.stream_id),"""
    """ events.version, to_json(events.event_id), to_json(events.type), events.schema_version, events.data,"""
    """ events.metadata, events.recorded_at, events.hash)"""
)
EVENT_JSON = {SQLITE.name: SQLITE_EVENT_JSON, POSTGRESQL.name: POSTGRESQL_EVENT_JSON}
"""Each backend's expression writing one events row as the JSON of a StoredEvent, by dialect name."""


class Source(NamedTuple):
    """Where a query finds its events: the events table alone, or a view of positions joined to it that drives the
    query (`tables`, the view first), and the position column the rows are taken in order of (`key`), which
    conditions on position should name so the view's own index bounds them."""

    tables: str
    key: str


EVENTS = Source("events", "events.position")


class Page(msgspec.Struct, frozen=True):
    """One page of events as SQLite returns it: how many, the lowest and highest position, and their joined JSON."""

    count: int
    first_position: int
    last_position: int
    body: str

    def decode(self) -> list[StoredEvent]:
        return self.decode_as(_page_decoder)

    def decode_as(self, decoder: msgspec.json.Decoder[list[R]]) -> list[R]:
        """The rows, in position order, decoded as the objects the page's `record` expression wrote."""
        if not self.count:
            return []
        rows = decoder.decode(f"[{self.body}]")
        rows.sort(key=_position)  # group_concat does not promise an order
        return rows


class Positioned(Protocol):
    @property
    def position(self) -> int: ...


R = TypeVar("R", bound=Positioned)
_page_decoder = msgspec.json.Decoder(list[StoredEvent])
_position = attrgetter("position")


def page_query(
    dialect: Dialect, where: str, *, descending: bool = False, source: Source = EVENTS, record: str | None = None
) -> str:
    """SQL for the first page (size bound to the last parameter) of events matching `where`, in position order
    (or from the highest position down when `descending`; the page decodes in position order either way), each
    written as JSON by `record` (an expression over the events table; a StoredEvent unless another is given)."""
    order = "DESC" if descending else "ASC"
    record = record or EVENT_JSON[dialect.name]
    return (
        "SELECT count(*), coalesce(min(position), 0), coalesce(max(position), 0), "
        f"coalesce({dialect.join_text('record')}, '') FROM "
        f"(SELECT events.position AS position, {record} AS record FROM {source.tables} WHERE {where} "
        f"ORDER BY {source.key} {order} LIMIT ?) AS page"
    )


FIRST_AT = (
    "coalesce((SELECT position FROM events WHERE recorded_at >= ? ORDER BY recorded_at, position LIMIT 1), ?)"
)
"""The first position recorded at or after a time (or NO_POSITION when none is yet)."""
NO_POSITION = 2**63 - 1  # above every position


def time_window(column: str, since: datetime | None, until: datetime | None) -> tuple[list[str], list[object]]:
    """Conditions on a position column (and their parameters) for events recorded at or after `since` and before
    `until`. `recorded_at` never goes back along the log, so a time range is a position range, found with one seek
    in the time index, and a query keeps walking positions in order (a range over the time index would have to be
    sorted by position)."""
    clauses: list[str] = []
    params: list[object] = []
    for moment, comparison in ((since, ">="), (until, "<")):
        if moment is not None:
            clauses.append(f"{column} {comparison} {FIRST_AT}")
            params += [format_time(moment), NO_POSITION]
    return clauses, params


def format_time(moment: datetime) -> str:
    """The stored form of a time: UTC, fixed width, so text order is time order."""
    if moment.tzinfo is None:
        raise ValueError("datetimes given to the event store must be timezone-aware")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
