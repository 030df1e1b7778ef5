"""How event rows are read from SQLite and turned into StoredEvents, and how times are stored."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import msgspec

from events.event import StoredEvent

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

# SQLite renders each row as the JSON of a StoredEvent (data and metadata are stored as JSON
# already), so a whole page is decoded by msgspec in one call instead of field by field.
EVENT_JSON = (
    """'{"position":' || position || ',"stream_id":' || json_quote(stream_id) || ',"version":' || version"""
    """ || ',"event_id":' || json_quote(event_id) || ',"type":' || json_quote(type)"""
    """ || ',"schema_version":' || schema_version || ',"data":' || data || ',"metadata":' || metadata"""
    """ || ',"recorded_at":"' || recorded_at || '","hash":"' || hash || '"}'"""
)

_page_decoder = msgspec.json.Decoder(list[StoredEvent])


def decode_page(rows: Iterable[tuple[str]]) -> list[StoredEvent]:
    """StoredEvents from rows selecting EVENT_JSON."""
    return _page_decoder.decode("[" + ",".join([row[0] for row in rows]) + "]")


def format_time(moment: datetime) -> str:
    """The stored form of a time: UTC, fixed width, so text order is time order."""
    if moment.tzinfo is None:
        raise ValueError("datetimes given to the event store must be timezone-aware")
    return moment.astimezone(UTC).strftime(TIME_FORMAT)
