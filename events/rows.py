"""How event rows are read from SQLite and turned into StoredEvents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from events.event import Metadata, StoredEvent

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

EVENT_COLUMNS = "position, stream_id, version, event_id, type, schema_version, data, metadata, recorded_at, hash"

EventRow = tuple[int, str, int, str, str, int, str, str, int, str]

_metadata_decoder = msgspec.json.Decoder(Metadata)


def stored_event(row: EventRow) -> StoredEvent:
    position, stream_id, version, event_id, type, schema_version, data, metadata, recorded_at, hash = row
    return StoredEvent(
        position=position,
        stream_id=stream_id,
        version=version,
        event_id=event_id,
        type=type,
        schema_version=schema_version,
        data=msgspec.Raw(data),
        metadata=_metadata_decoder.decode(metadata),
        recorded_at=EPOCH + timedelta(microseconds=recorded_at),
        hash=hash,
    )


def to_microseconds(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError("datetimes given to the event store must be timezone-aware")
    return (moment - EPOCH) // timedelta(microseconds=1)
