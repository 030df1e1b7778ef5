"""Deciding appends against the log's state: positions, versions, hashes, duplicates and conflicts."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import msgspec

from events.chain import GENESIS_HASH, event_hash
from events.errors import ConcurrencyConflict, EventIdReused
from events.event import AppendResult, Event, Metadata, StoredEvent
from events.rows import format_time

if TYPE_CHECKING:
    from events.registry import EventRegistry

InsertRow = tuple[int, str, str, int, str, int, str, str, str, str, str]

_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (4 << 76) | (0x8000 << 48)


def new_event_id() -> str:
    """A fresh random (version 4) UUID as 32 hex digits."""
    return f"{(int.from_bytes(os.urandom(16), 'big') & _UUID4_CLEAR) | _UUID4_SET:032x}"


def encode_events(registry: EventRegistry, events: Sequence[Event], event_ids: Sequence[str] | None) -> list[EncodedEvent]:
    """The events of one append ready to store, under the caller's ids or fresh ones."""
    if not events:
        raise ValueError("an append needs at least one event")
    ids = list(event_ids) if event_ids is not None else [new_event_id() for _ in events]
    if len(ids) != len(events) or len(set(ids)) != len(ids):
        raise ValueError("event_ids must give one distinct id per event")
    return [registry.encode(event, event_id) for event, event_id in zip(events, ids, strict=True)]


class EncodedEvent(msgspec.Struct, frozen=True):
    """An event ready to be stored: its id, type, schema version and JSON body."""

    event_id: str
    type: str
    schema_version: int
    data: str


class AppendRequest(msgspec.Struct, frozen=True):
    """What one append asks for, already encoded."""

    stream_id: str
    events: Sequence[EncodedEvent]
    metadata: Metadata
    metadata_json: str
    expected_version: int | None
    caller_ids: bool = False


class LogTip(msgspec.Struct, frozen=True):
    """The last row of the log: where the next append starts and what it chains to."""

    position: int = 0
    hash: str = GENESIS_HASH
    recorded_at: str = ""


class StoredId(msgspec.Struct, frozen=True):
    """Where an already stored event id landed."""

    position: int
    version: int
    stream_id: str


class Planned(msgspec.Struct, frozen=True):
    """An accepted append: its rows, the events as they will be stored, and the caller's answer."""

    rows: list[InsertRow]
    stored: list[StoredEvent]
    result: AppendResult
    caller_ids: bool


class GroupState:
    """What one transaction knows about the log while it decides its appends in order."""

    def __init__(self, tip: LogTip, versions: dict[str, int], stored_ids: dict[str, StoredId]) -> None:
        self.tip = tip
        self.versions = versions
        self.stored_ids = stored_ids
        now = datetime.now(UTC)
        self.recorded_at = max(format_time(now), tip.recorded_at)  # never earlier than the row before
        self.recorded_time = now if self.recorded_at != tip.recorded_at else datetime.fromisoformat(tip.recorded_at)

    def plan(self, request: AppendRequest, with_stored: bool) -> Planned | AppendResult:
        """Accept a request (rows to insert) or find it a duplicate; raise if it conflicts."""
        duplicate = self._duplicate(request)
        if duplicate is not None:
            return duplicate
        actual = self.versions[request.stream_id]
        if request.expected_version is not None and request.expected_version != actual:
            raise ConcurrencyConflict(request.stream_id, request.expected_version, actual)
        return self._rows(request, actual, with_stored)

    def advance(self, planned: Planned) -> None:
        """Take an accepted append into the state, so later appends in the group follow it."""
        last = planned.rows[-1]
        self.tip = LogTip(position=last[0], hash=last[10], recorded_at=self.recorded_at)
        self.versions[last[2]] = last[3]
        if planned.caller_ids:  # fresh random ids cannot come again within the group
            for row in planned.rows:
                self.stored_ids[row[1]] = StoredId(row[0], row[3], row[2])

    def _duplicate(self, request: AppendRequest) -> AppendResult | None:
        if not self.stored_ids:
            return None
        found = [self.stored_ids.get(event.event_id) for event in request.events]
        if not any(found):
            return None
        if not all(stored is not None and stored.stream_id == request.stream_id for stored in found):
            raise EventIdReused(f"append to {request.stream_id!r} reuses event ids stored by another append")
        first, last = found[0], found[-1]
        assert first is not None and last is not None
        return AppendResult(first.position, last.position, last.version, duplicate=True)

    def _rows(self, request: AppendRequest, version: int, with_stored: bool) -> Planned:
        rows: list[InsertRow] = []
        position, previous, recorded_at = self.tip.position, self.tip.hash, self.recorded_at
        for event in request.events:
            position += 1
            version += 1
            previous = event_hash(
                previous, position, request.stream_id, version, event.event_id, event.type,
                event.schema_version, event.data, request.metadata_json, recorded_at,
            )
            rows.append((
                position, event.event_id, request.stream_id, version, event.type, event.schema_version,
                event.data, request.metadata_json, request.metadata.actor, recorded_at, previous,
            ))
        stored = [self._stored(row, request.metadata) for row in rows] if with_stored else []
        return Planned(rows, stored, AppendResult(rows[0][0], rows[-1][0], version), request.caller_ids)

    def _stored(self, row: InsertRow, metadata: Metadata) -> StoredEvent:
        position, event_id, stream_id, version, type, schema_version, data, _, _, _, hash = row
        return StoredEvent(
            position=position, stream_id=stream_id, version=version, event_id=event_id, type=type,
            schema_version=schema_version, data=msgspec.Raw(data), metadata=metadata,
            recorded_at=self.recorded_time, hash=hash,
        )
