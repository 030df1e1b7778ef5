"""How pages of events are read from SQLite and turned into StoredEvents, and how times are stored."""

from __future__ import annotations

from datetime import UTC, datetime
from operator import attrgetter

import msgspec

from events.event import StoredEvent

# SQLite renders each row as the JSON of a StoredEvent (data and metadata are stored as JSON
# already) and joins a page of them into one string, so the reader thread hands over one
# value per page and msgspec decodes the page in one call.
EVENT_JSON = (
    """printf('{"position":%d,"stream_id":%s,"version":%d,"event_id":%s,"type":%s,"schema_version":%d,"""
    """"data":%s,"metadata":%s,"recorded_at":"%s","hash":"%s"}', position, json_quote(stream_id), version,"""
    """ json_quote(event_id), json_quote(type), schema_version, data, metadata, recorded_at, hash)"""
)


class Page(msgspec.Struct, frozen=True):
    """One page of events as SQLite returns it: how many, the last position, and their joined JSON."""

    count: int
    last_position: int
    body: str

    def decode(self) -> list[StoredEvent]:
        if not self.count:
            return []
        events = _page_decoder.decode(f"[{self.body}]")
        events.sort(key=_position)  # group_concat does not promise an order
        return events


_page_decoder = msgspec.json.Decoder(list[StoredEvent])
_position = attrgetter("position")


def page_query(where: str, *, descending: bool = False) -> str:
    """SQL for the first page (size bound to the last parameter) of events matching `where`, in position order
    (or from the highest position down when `descending`; the page decodes in position order either way)."""
    order = "DESC" if descending else "ASC"
    return (
        "SELECT count(*), coalesce(max(position), 0), coalesce(group_concat(record, ','), '') FROM "
        f"(SELECT position, {EVENT_JSON} AS record FROM events WHERE {where} ORDER BY position {order} LIMIT ?)"
    )


def format_time(moment: datetime) -> str:
    """The stored form of a time: UTC, fixed width, so text order is time order."""
    if moment.tzinfo is None:
        raise ValueError("datetimes given to the event store must be timezone-aware")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
