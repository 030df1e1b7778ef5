"""An instance as it was at a point in the log, what changed between two points, and its connection tests over time.

Everything is rebuilt from the instance's own stream by folding its events through the view's `evolve`, so the
rules that build today's answer are the ones that rebuild yesterday's — also for a deleted instance.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import msgspec

from backend.errors import FieldError, NotFound
from backend.instances.events import ConnectionTested, stream_of
from backend.instances.service import Instances
from backend.instances.view import InstanceRow, InstanceView, evolve
from backend.log_point import NOW, BadQueryValue, LogPoint
from backend.providers.contract import Outcome
from events import EventRegistry, StoredEvent
from events.event import type_name

Leaf = str | float | bool | None
"""A field's value; whole numbers are floats to the type checker and numbers to the schema (one JSON type each)."""
READ_PAGE = 1000
BOOKKEEPING = frozenset({"version", "updated_at"})
"""Fields every event moves; the points of a diff carry them instead of each change."""
ANSWER_TIME = frozenset({"key_missing", "endpoint_status", "current_origin", "default_endpoint", "key_required"})
"""Fields filled in when answering, never from events."""
UNCOMPARED = BOOKKEEPING | ANSWER_TIME


class EventRef(msgspec.Struct, frozen=True, kw_only=True):
    """One event of the instance's stream: where it is, what it was, who caused it and when."""

    position: int
    version: int
    type: str
    actor: str
    recorded_at: datetime


class FieldChange(msgspec.Struct, frozen=True, kw_only=True):
    """One field (dotted for nested ones, e.g. `credential.last4`) and the events that changed it in between.

    A field that changed and changed back lists no change; `null` on one side: it was not there.
    """

    field: str
    before: Leaf
    after: Leaf
    events: list[EventRef]


class DiffPoint(msgspec.Struct, frozen=True, kw_only=True):
    """The instance at one end of a diff: whether it existed, and its last event at or before that point."""

    exists: bool
    position: int
    version: int


class InstanceDiff(msgspec.Struct, frozen=True, kw_only=True, rename={"start": "from", "end": "to"}):
    """What changed in an instance between two points of the log, field by field, and the events in between."""

    instance_id: str
    start: DiffPoint
    end: DiffPoint
    changes: list[FieldChange]
    events: list[EventRef]


class ConnectionTestRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One connection test as recorded: its outcome, HTTP status and latency, with the key version it used."""

    position: int
    tested_at: datetime
    outcome: Outcome
    http_status: int | None
    latency_ms: float
    model_count: int
    credential_version: int | None
    message: str
    actor: str


class ConnectionTests(msgspec.Struct, frozen=True, kw_only=True):
    """An instance's connection tests, oldest first."""

    instance_id: str
    tests: list[ConnectionTestRecord]


class Fold:
    """An instance's stream folded event by event through the view's rules."""

    def __init__(self, registry: EventRegistry) -> None:
        self._registry = registry
        self.row: InstanceRow | None = None
        self.last: StoredEvent | None = None

    def take(self, stored: StoredEvent) -> None:
        self.row = evolve(self.row, self._registry.decode(stored), stored)
        self.last = stored

    def point(self) -> DiffPoint:
        last = self.last
        return DiffPoint(exists=self.row is not None, position=last.position if last else 0,
                         version=last.version if last else 0)

    def fields(self) -> dict[str, Leaf]:
        if self.row is None:
            return {}
        shown = msgspec.to_builtins(self.row.instance)
        return {name: value for name, value in _leaves("", shown) if name.split(".")[0] not in UNCOMPARED}


async def instance_as_of(instances: Instances, instance_id: str, point: LogPoint) -> InstanceView:
    """The instance as the log had it at `point`; 404 saying whether it did not exist yet or was deleted."""
    events = await _stream(instances, instance_id)
    fold = Fold(instances.store.registry)
    for stored in events:
        if not point.includes(stored):
            break
        fold.take(stored)
    if fold.row is not None:
        return fold.row.instance
    if fold.last is not None:
        raise NotFound(f"instance {instance_id} was deleted at position {fold.last.position} ({fold.last.recorded_at})")
    raise NotFound(f"instance {instance_id} did not exist at that point (created at position {events[0].position})")


async def instance_diff(instances: Instances, instance_id: str, start: LogPoint, end: LogPoint = NOW) -> InstanceDiff:
    """What changed between `start` and `end`: each field's values there, and the events after `start` that moved it."""
    events = await _stream(instances, instance_id)
    _check_order(start, end, events)
    fold = Fold(instances.store.registry)
    between: list[EventRef] = []
    movers: dict[str, list[EventRef]] = {}
    for stored in (stored for stored in events if start.includes(stored)):
        fold.take(stored)
    before, start_point = fold.fields(), fold.point()
    previous = before
    for stored in (stored for stored in events if end.includes(stored) and not start.includes(stored)):
        fold.take(stored)
        ref = _ref(stored)
        between.append(ref)
        now = fold.fields()
        for name in _changed(previous, now):
            movers.setdefault(name, []).append(ref)
        previous = now
    changes = [
        FieldChange(field=name, before=before.get(name), after=previous.get(name), events=movers.get(name, []))
        for name in _changed(before, previous)
    ]
    return InstanceDiff(instance_id=instance_id, start=start_point, end=fold.point(), changes=changes, events=between)


async def connection_tests(instances: Instances, instance_id: str, since: datetime | None) -> ConnectionTests:
    """The instance's connection tests recorded at or after `since` (all when None), also after deletion."""
    stream = stream_of(instance_id)
    if await instances.store.stream_version(stream) == 0:
        raise NotFound(f"no instance {instance_id!r}")
    found: list[ConnectionTestRecord] = []
    after = 0
    while page := await instances.store.read(
        after=after, limit=READ_PAGE, stream=stream, type=type_name(ConnectionTested), since=since
    ):
        found += [_test_record(stored, instances.store.registry) for stored in page]
        after = page[-1].position
    return ConnectionTests(instance_id=instance_id, tests=found)


async def _stream(instances: Instances, instance_id: str) -> list[StoredEvent]:
    events = await instances.store.read_stream(stream_of(instance_id))
    if not events:
        raise NotFound(f"no instance {instance_id!r}")
    return events


def _check_order(start: LogPoint, end: LogPoint, events: list[StoredEvent]) -> None:
    """A 400 naming `from` when it lies after `to`: by their values when of one kind, else by the events they take."""
    reversed_positions = start.position is not None and end.position is not None and start.position > end.position
    reversed_times = start.time is not None and end.time is not None and start.time > end.time
    reversed_events = any(start.includes(stored) and not end.includes(stored) for stored in events)
    if reversed_positions or reversed_times or reversed_events:
        raise BadQueryValue("from is after to", [FieldError("from", "must not be after to")])


def _changed(before: dict[str, Leaf], after: dict[str, Leaf]) -> list[str]:
    names = dict.fromkeys([*before, *after])
    return [name for name in names if before.get(name) != after.get(name)]


def _leaves(prefix: str, value: object) -> Iterator[tuple[str, Leaf]]:
    """Each scalar in a JSON-like value with its dotted path; an empty mapping has none."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _leaves(f"{prefix}.{key}" if prefix else str(key), inner)
    elif value is None or isinstance(value, str | int | float | bool):
        yield prefix, value
    else:
        raise TypeError(f"{prefix} holds a {type(value).__name__}, not a scalar")


def _ref(stored: StoredEvent) -> EventRef:
    return EventRef(position=stored.position, version=stored.version, type=stored.type,
                    actor=stored.metadata.actor, recorded_at=stored.recorded_at)


def _test_record(stored: StoredEvent, registry: EventRegistry) -> ConnectionTestRecord:
    event = registry.decode(stored)
    assert isinstance(event, ConnectionTested)
    return ConnectionTestRecord(
        position=stored.position,
        tested_at=stored.recorded_at,
        outcome=event.outcome,
        http_status=event.http_status,
        latency_ms=event.latency_ms,
        model_count=event.model_count,
        credential_version=event.credential_version,
        message=event.message,
        actor=stored.metadata.actor,
    )
