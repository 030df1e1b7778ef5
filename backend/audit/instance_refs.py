"""Which events name each instance, by position: the events of its own stream, and every event whose data names it
as `instance_id` at any depth (a session's default model, an agent, a turn). An inline view, so the audit query's
`instance` filter is one index range that sees the caller's own writes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import msgspec

from backend.instances.events import STREAM_PREFIX
from events import StoredEvent, ViewRow, table_rows
from events.sql import ViewTransaction

TABLE = "audit_instance_refs"
CREATE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (instance_id TEXT NOT NULL, position BIGINT NOT NULL, "
    "PRIMARY KEY (instance_id, position)){options}"
)
INSERT = f"INSERT INTO {TABLE} (instance_id, position) VALUES (?, ?) ON CONFLICT DO NOTHING"
KEY = "instance_id"
KEY_IN_JSON = b'"instance_id"'  # data without it names no instance and is not decoded


class InstanceRefsView:
    """(instance id, position) for every event that names the instance, kept with each append."""

    name = TABLE
    version = 1

    async def create(self, tx: ViewTransaction) -> None:
        await tx.execute(CREATE.format(options=tx.dialect.table_options))

    async def reset(self, tx: ViewTransaction) -> None:
        await tx.execute(f"DELETE FROM {TABLE}")

    async def rows(self, tx: ViewTransaction) -> list[ViewRow]:
        return await table_rows(tx, TABLE)

    async def apply(self, tx: ViewTransaction, events: Sequence[StoredEvent]) -> None:
        refs = [(instance_id, event.position) for event in events for instance_id in instances_named(event)]
        await tx.execute_many(INSERT, refs)


def instances_named(event: StoredEvent) -> set[str]:
    """The instance whose stream the event is in, and each text value of a key `instance_id` anywhere in its data
    (in nested objects and lists alike)."""
    data = bytes(event.data)
    named = set(_values_of_key(msgspec.json.decode(data))) if KEY_IN_JSON in data else set()
    if event.stream_id.startswith(STREAM_PREFIX):
        named.add(event.stream_id.removeprefix(STREAM_PREFIX))
    return named


def _values_of_key(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == KEY and isinstance(item, str):
                yield item
            yield from _values_of_key(item)
    elif isinstance(value, list):
        for item in value:
            yield from _values_of_key(item)
