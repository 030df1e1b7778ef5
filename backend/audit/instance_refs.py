"""Which events name each instance, by position: the events of its own stream, and every event whose data names it
as `instance_id` at any depth (a session's default model, an agent, a turn). An inline view, so the audit query's
`instance` filter is one index range that sees the caller's own writes."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from backend.instances.events import STREAM_PREFIX
from events import StoredEvent, ViewRow, table_rows
from events.schema import CATEGORY
from events.sql import ViewTransaction

TABLE = "audit_instance_refs"
CREATE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (instance_id TEXT NOT NULL, position INTEGER NOT NULL, "
    "PRIMARY KEY (instance_id, position)) WITHOUT ROWID"
)
APPLIED = "events.position IN (SELECT value FROM json_each(?1))"
# The instance's own stream, and each text value of a key `instance_id` anywhere in the data (json_tree walks
# nested objects and lists).
INSERT = f"""
INSERT OR IGNORE INTO {TABLE} (instance_id, position)
SELECT substr(events.stream_id, {len(STREAM_PREFIX) + 1}), events.position FROM events
 WHERE {APPLIED} AND {CATEGORY} = ?2
UNION ALL
SELECT tree.atom, events.position FROM events, json_tree(events.data) AS tree
 WHERE {APPLIED} AND tree.key = 'instance_id' AND tree.type = 'text'
"""


class InstanceRefsView:
    """(instance id, position) for every event that names the instance, kept with each append."""

    name = TABLE
    version = 1

    async def create(self, tx: ViewTransaction) -> None:
        await tx.execute(CREATE)

    async def reset(self, tx: ViewTransaction) -> None:
        await tx.execute(f"DELETE FROM {TABLE}")

    async def rows(self, tx: ViewTransaction) -> list[ViewRow]:
        return await table_rows(tx, TABLE)

    async def apply(self, tx: ViewTransaction, events: Sequence[StoredEvent]) -> None:
        positions = msgspec.json.encode([event.position for event in events]).decode()
        await tx.execute(INSERT, (positions, STREAM_PREFIX))
