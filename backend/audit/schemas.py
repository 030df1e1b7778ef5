"""What the audit routes answer: events as clients see them, pages of them, and health."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, NamedTuple, Protocol, runtime_checkable

import msgspec

from backend.audit.names import Names
from events import EventRegistry, StoredEvent
from events.errors import UnknownEventType
from events.event import Recorded
from events.sql import POSTGRESQL, SQLITE

NO_NAMES = Names()  # ids shown as they are: for the CLI's export, which has no views open
MAX_POSITION = 2**63 - 1  # SQLite's largest integer: a position beyond it is refused, not an overflow


class EventOut(msgspec.Struct, kw_only=True):
    """One logged event with a readable one-line summary (an export fills in the summary and the shown data of
    rows the database wrote, EVENT_OUT_JSON)."""

    position: int
    stream_id: str
    version: int
    event_id: str
    type: str
    schema_version: int
    actor: str
    request_id: str
    correlation_id: str
    recorded_at: datetime
    summary: str
    data: msgspec.Raw


class EventPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of events in position order; pass `next_after` as `after` for the next page."""

    events: list[EventOut]
    next_after: int
    head: int


class HealthProblem(msgspec.Struct, frozen=True, kw_only=True):
    """A read view or follower of the log that stopped: what it shows is falling behind the log."""

    name: str
    error: str


class Health(msgspec.Struct, frozen=True, kw_only=True):
    """`status` is `ok`, or `degraded` while `problems` lists views or followers that stopped on an error."""

    status: Literal["ok", "degraded"]
    version: str
    last_position: int
    event_count: int
    problems: list[HealthProblem] = msgspec.field(default_factory=list)


@runtime_checkable
class Summarized(Protocol):
    """An event type that describes itself in one line."""

    def summary(self) -> str: ...


def _words(type_name: str) -> str:
    out = "".join(f" {c.lower()}" if c.isupper() else c for c in type_name).strip()
    return out[:1].upper() + out[1:]


def summarize(stored: Recorded, registry: EventRegistry, names: Names = NO_NAMES) -> str:
    """The event's own summary when its type gives one, with the names of the instances, agents and providers it
    mentions; else its type in words and its stream."""
    try:
        event = registry.decode(stored)
    except (UnknownEventType, msgspec.DecodeError, msgspec.ValidationError):
        return f"{_words(stored.type)} on {stored.stream_id}"
    summary = getattr(event, "summary", None)  # what isinstance(event, Summarized) asks, without its ~15 µs an event
    if callable(summary):
        return names.put_in(summary())
    return f"{_words(stored.type)} on {stored.stream_id}"


def event_out(stored: StoredEvent, registry: EventRegistry, names: Names = NO_NAMES) -> EventOut:
    return EventOut(
        position=stored.position,
        stream_id=stored.stream_id,
        version=stored.version,
        event_id=stored.event_id,
        type=stored.type,
        schema_version=stored.schema_version,
        actor=stored.metadata.actor,
        request_id=stored.metadata.request_id,
        correlation_id=stored.metadata.correlation_id,
        recorded_at=stored.recorded_at,
        summary=summarize(stored, registry, names),
        data=shown_data(stored, registry),
    )


def shown_data(stored: Recorded, registry: EventRegistry) -> msgspec.Raw:
    """The event's JSON without the fields its type withholds from readers."""
    try:
        withheld = registry.class_for(stored.type).withheld
    except UnknownEventType:
        return stored.data
    if not withheld:
        return stored.data
    data = msgspec.json.decode(stored.data, type=dict[str, object])
    return msgspec.Raw(msgspec.json.encode({name: value for name, value in data.items() if name not in withheld}))


class RowWriting(NamedTuple):
    """A backend's functions for writing a row as JSON: text formatted by a template (every value written by `%s`),
    a text as a JSON string, and a JSON column as text."""

    format: str
    quote: str
    json_text: str


def _event_out_json(writing: RowWriting) -> str:
    metadata = writing.json_text.format("events.metadata")
    return (
        f"""{writing.format}('{{"position":%s,"stream_id":%s,"version":%s,"event_id":%s,"type":%s,"""
        """"schema_version":%s,"request_id":"","correlation_id":"",%s,"recorded_at":"%s","summary":"","data":%s}', """
        f"events.position, {writing.quote}(events.stream_id), events.version, {writing.quote}(events.event_id), "
        f"{writing.quote}(events.type), events.schema_version, substr({metadata}, 2, length({metadata}) - 2), "
        "events.recorded_at, events.data)"
    )


EVENT_OUT_JSON = {
    SQLITE.name: _event_out_json(RowWriting(format="printf", quote="json_quote", json_text="{}")),
    POSTGRESQL.name: _event_out_json(RowWriting(format="format", quote="to_json", json_text="{}::text")),
}
"""An event as an EventOut, written by the database (a page is decoded in one call, with no StoredEvent on the way),
by dialect name: all but the summary, and the data as stored; `shape` makes those what readers see. The members of
the stored metadata object (actor, request_id, correlation_id) are written in as they are, after defaults for the
optional ones (the last of two equal keys wins), so no JSON is parsed to write a row."""
EVENT_OUT_PAGE = msgspec.json.Decoder(list[EventOut])


def shape(rows: list[EventOut], registry: EventRegistry, names: Names = NO_NAMES) -> list[EventOut]:
    """Rows read with EVENT_OUT_JSON, each given its summary and its data without what its type withholds: what
    `event_out` gives for the same events."""
    for row in rows:
        row.summary = summarize(row, registry, names)
        row.data = shown_data(row, registry)
    return rows
