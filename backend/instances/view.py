"""The instance list view: one pre-shaped JSON row per live instance, updated inside each append.

Rows are stored as the exact bytes the API answers with; the whole list is also kept in memory,
marked with the log position of the last instance event, so listing 1,000 instances costs one indexed
look-up of that position while no process (this replica or another on the same log) changed an instance.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import msgspec

from backend.instances.destination import EndpointStatus
from backend.instances.events import (
    STREAM_PREFIX,
    ConnectionTested,
    CredentialRemoved,
    CredentialRotated,
    CredentialSet,
    EndpointConfirmed,
    InstanceCreated,
    InstanceDeleted,
    InstanceUpdated,
)
from backend.providers.contract import Outcome
from events import Event, EventRegistry, EventStore, StoredEvent, ViewRow, table_rows
from events.sql import ViewTransaction

Status = Literal["untested", "connected", "error"]

TABLE = "instance_view"
CREATE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    instance_id TEXT PRIMARY KEY,
    sort_key {{key_text}} NOT NULL,
    body {{bytes}} NOT NULL,
    model_ids TEXT NOT NULL,
    credential_serial INTEGER NOT NULL
){{options}}
"""
BY_NAME = f"CREATE INDEX IF NOT EXISTS {TABLE}_by_sort_key ON {TABLE} (sort_key)"
"""Names are looked up on every create and rename, and the list is read in name order: without it, a scan."""
HOLDER_OF_NAME = f"SELECT instance_id FROM {TABLE} WHERE sort_key >= ? AND sort_key < ? LIMIT 1"
UPSERT = f"""
INSERT INTO {TABLE} (instance_id, sort_key, body, model_ids, credential_serial) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (instance_id) DO UPDATE SET sort_key = excluded.sort_key, body = excluded.body,
    model_ids = excluded.model_ids, credential_serial = excluded.credential_serial
"""


class CredentialSummary(msgspec.Struct, frozen=True, kw_only=True):
    """What may be shown about a stored key: never the key itself.

    `origin`: the endpoint origin the key was set or confirmed for (None: recorded before origins were kept).
    """

    last4: str
    version: int
    fingerprint: str
    verified: bool
    set_at: datetime
    rotated_at: datetime | None = None
    origin: str | None = None


class LastTest(msgspec.Struct, frozen=True, kw_only=True):
    outcome: Outcome
    http_status: int | None
    latency_ms: float
    model_count: int
    message: str
    credential_version: int | None
    tested_at: datetime


class InstanceView(msgspec.Struct, frozen=True, kw_only=True):
    """An instance as the API shows it: settings, credential summary and last connection test.

    `endpoint_status` and `current_origin` (where requests go now) are filled in when read, from the
    catalog and the environment: `changed` means the key was confirmed for another origin.

    A key change clears the last test (it spoke of another key) and sets `status` to `untested`, or to
    `connected` when the new key was verified with the provider; `key_changed_at` says when, until the
    next test. `default_endpoint` is the provider's own endpoint, resolved (`""` when it resolves to
    nothing); `key_required`: the provider takes a key (not a local server).
    """

    id: str
    name: str
    provider_id: str
    provider_type: str
    endpoint: str
    timeout_ms: int
    max_attempts: int
    backoff_ms: int
    headers: dict[str, str]
    api_version: str
    version: int
    status: Status
    credential: CredentialSummary | None
    last_test: LastTest | None
    model_count: int | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    key_changed_at: datetime | None = None  # the key was set, rotated or removed since the last test (or ever tested)
    key_missing: bool = False  # never from events: set when answering, from what the vault showed at start-up or use
    endpoint_status: EndpointStatus = "ok"
    current_origin: str | None = None
    default_endpoint: str = ""
    key_required: bool = False


class InstanceRow(msgspec.Struct, frozen=True):
    """A view row: the instance, the model ids its endpoint listed last, the highest key version issued."""

    instance: InstanceView
    model_ids: list[str]
    credential_serial: int


_instance_encoder = msgspec.json.Encoder()
_instance_decoder = msgspec.json.Decoder(InstanceView)
_ids_decoder = msgspec.json.Decoder(list[str])


def evolve(row: InstanceRow | None, event: Event, stored: StoredEvent) -> InstanceRow | None:
    """The row after one event; None once the instance is deleted (or for events it does not follow)."""
    if isinstance(event, InstanceCreated):
        return InstanceRow(_created(event, stored), [], 0)
    if row is None or isinstance(event, InstanceDeleted):
        return None
    moved = msgspec.structs.replace(row.instance, version=stored.version, updated_at=stored.recorded_at)
    changed = msgspec.structs.replace(row, instance=moved)
    return _apply(changed, event, stored.recorded_at)


def _created(event: InstanceCreated, stored: StoredEvent) -> InstanceView:
    return InstanceView(
        id=event.instance_id,
        name=event.name,
        provider_id=event.provider_id,
        provider_type=event.provider_type,
        endpoint=event.endpoint,
        timeout_ms=event.timeout_ms,
        max_attempts=event.max_attempts,
        backoff_ms=event.backoff_ms,
        headers=event.headers,
        api_version=event.api_version,
        version=stored.version,
        status="untested",
        credential=None,
        last_test=None,
        model_count=None,
        created_at=stored.recorded_at,
        created_by=stored.metadata.actor,
        updated_at=stored.recorded_at,
    )


def _apply(row: InstanceRow, event: Event, at: datetime) -> InstanceRow:
    instance = row.instance
    if isinstance(event, InstanceUpdated):
        after = msgspec.structs.asdict(event.after)
        changes = {name: value for name, value in after.items() if value is not msgspec.UNSET}
        updated = msgspec.structs.replace(instance, **changes)
        return msgspec.structs.replace(row, instance=_confirmed(updated, event.credential_origin))
    if isinstance(event, EndpointConfirmed):
        return msgspec.structs.replace(row, instance=_confirmed(instance, event.origin))
    if isinstance(event, CredentialSet | CredentialRotated):
        return _with_credential(row, event, at)
    if isinstance(event, CredentialRemoved):
        removed = _key_changed(msgspec.structs.replace(instance, credential=None), event, at, verified=False)
        return msgspec.structs.replace(row, instance=removed)
    if isinstance(event, ConnectionTested):
        return _tested(row, event, at)
    return row


def _with_credential(row: InstanceRow, event: CredentialSet | CredentialRotated, at: datetime) -> InstanceRow:
    before = row.instance.credential
    summary = CredentialSummary(
        last4=event.last4,
        version=event.credential_version,
        fingerprint=event.fingerprint,
        verified=event.verified,
        set_at=before.set_at if before is not None and isinstance(event, CredentialRotated) else at,
        rotated_at=at if isinstance(event, CredentialRotated) else None,
        origin=event.origin,
    )
    serial = max(row.credential_serial, event.credential_version)
    instance = _key_changed(row.instance, event, at, verified=event.verified)
    return InstanceRow(msgspec.structs.replace(instance, credential=summary), row.model_ids, serial)


def _key_changed(
    instance: InstanceView, event: CredentialSet | CredentialRotated | CredentialRemoved, at: datetime, verified: bool
) -> InstanceView:
    """A new (or no) key makes the last test stale: the status is untested again, or connected when the new
    key passed verification. A first key on a never-tested instance changes nothing that was shown."""
    if isinstance(event, CredentialSet) and instance.last_test is None and instance.key_changed_at is None:
        return msgspec.structs.replace(instance, status="connected" if verified else instance.status)
    return msgspec.structs.replace(
        instance, status="connected" if verified else "untested", last_test=None, key_changed_at=at
    )


def _confirmed(instance: InstanceView, origin: str | None) -> InstanceView:
    """The instance with its key now confirmed for `origin` (unchanged when None or keyless)."""
    if origin is None or instance.credential is None:
        return instance
    return msgspec.structs.replace(instance, credential=msgspec.structs.replace(instance.credential, origin=origin))


def _tested(row: InstanceRow, event: ConnectionTested, at: datetime) -> InstanceRow:
    test = LastTest(
        outcome=event.outcome,
        http_status=event.http_status,
        latency_ms=event.latency_ms,
        model_count=event.model_count,
        message=event.message,
        credential_version=event.credential_version,
        tested_at=at,
    )
    ok = event.outcome == "ok"
    instance = msgspec.structs.replace(
        row.instance,
        last_test=test,
        key_changed_at=None,
        status="connected" if ok else "error",
        model_count=event.model_count if ok else row.instance.model_count,
    )
    listed = event.model_ids if ok and event.model_ids is not None else row.model_ids
    return InstanceRow(instance, listed, row.credential_serial)


NAME_END = "\x01"  # after a name in its sort key: below every character a name may hold (no control characters)


def _sort_key(instance: InstanceView) -> str:
    return f"{instance.name.casefold()}{NAME_END}{instance.id}"


def _instance_id(stream_id: str) -> str:
    return stream_id.removeprefix(STREAM_PREFIX)


class InstanceListView:
    """The inline view of live instances, plus an in-memory copy of the list's answer bytes and the position of
    the last instance event it reflects."""

    name = "instances"
    # 2: a key change makes the status untested and clears the last test (key_changed_at); rows of 1 still
    # decode (the field has a default) but show a stale status, so they are rebuilt.
    # 3: a sort key joins name and id with \x01, not NUL (PostgreSQL text holds no NUL).
    version = 3

    def __init__(self, registry: EventRegistry) -> None:
        self._registry = registry
        self._cached: tuple[int, bytes] | None = None

    async def create(self, tx: ViewTransaction) -> None:
        dialect = tx.dialect
        await tx.execute(CREATE.format(bytes=dialect.bytes_type, key_text=dialect.key_text, options=dialect.table_options))
        await tx.execute(BY_NAME)

    async def reset(self, tx: ViewTransaction) -> None:
        self._cached = None  # a rebuild leaves the log as it was
        await tx.execute(f"DELETE FROM {TABLE}")

    async def rows(self, tx: ViewTransaction) -> list[ViewRow]:
        return await table_rows(tx, TABLE)

    async def apply(self, tx: ViewTransaction, events: Sequence[StoredEvent]) -> None:
        mine = [stored for stored in events if stored.stream_id.startswith(STREAM_PREFIX)]
        if not mine:
            return
        ids = sorted({_instance_id(stored.stream_id) for stored in mine})
        rows: dict[str, InstanceRow | None] = dict(await _load_rows(tx, ids))
        for stored in mine:
            instance_id = _instance_id(stored.stream_id)
            rows[instance_id] = evolve(rows.get(instance_id), self._registry.decode(stored), stored)
        await _save_rows(tx, rows)

    async def list_bytes(self, store: EventStore) -> bytes:
        """The JSON array of all live instances ordered by name, served from memory while no instance event was
        committed since it was read.

        The mark is read before the rows: rows read later are at least as new, and a commit in between only
        makes the next call read them again."""
        mark = await last_change(store)
        cached = self._cached
        if cached is not None and cached[0] == mark:
            return cached[1]
        rows = await store.fetch(f"SELECT body FROM {TABLE} ORDER BY sort_key", ())
        body = b"[" + b",".join(bytes(row[0]) for row in rows) + b"]"
        self._cached = (mark, body)
        return body

    async def get(self, store: EventStore, instance_id: str) -> InstanceRow | None:
        rows = await store.fetch(
            f"SELECT instance_id, body, model_ids, credential_serial FROM {TABLE} WHERE instance_id = ?",
            (instance_id,),
        )
        return _row(rows[0]) if rows else None

    async def holder_of_name(self, store: EventStore, name: str) -> str | None:
        """The id of the instance called `name` (compared case-folded), if any."""
        prefix = f"{name.strip().casefold()}{NAME_END}"
        rows = await store.fetch(HOLDER_OF_NAME, (prefix, prefix[:-1] + chr(ord(NAME_END) + 1)))
        return str(rows[0][0]) if rows else None

    async def all(self, store: EventStore) -> list[InstanceRow]:
        rows = await store.fetch(
            f"SELECT instance_id, body, model_ids, credential_serial FROM {TABLE} ORDER BY sort_key", ()
        )
        return [_row(row) for row in rows]



async def last_change(store: EventStore) -> int:
    """The position of the last instance event (0 for none): it moves with every commit that changes the view,
    from any process on the log, and is one look-up in the events' category index."""
    rows = await store.fetch(
        f"SELECT COALESCE(MAX(position), 0) FROM events WHERE {store.dialect.category} = ?", (STREAM_PREFIX,))
    mark = rows[0][0]
    assert isinstance(mark, int)
    return mark


def _row(row: Sequence[object]) -> InstanceRow:
    _, body, model_ids, serial = row
    assert isinstance(body, bytes) and isinstance(model_ids, str) and isinstance(serial, int)
    return InstanceRow(_instance_decoder.decode(body), _ids_decoder.decode(model_ids), serial)


async def _load_rows(tx: ViewTransaction, ids: list[str]) -> list[tuple[str, InstanceRow]]:
    marks = ",".join("?" * len(ids))
    found = await tx.fetch(
        f"SELECT instance_id, body, model_ids, credential_serial FROM {TABLE} WHERE instance_id IN ({marks})", ids
    )
    return [(str(row[0]), _row(row)) for row in found]


async def _save_rows(tx: ViewTransaction, rows: dict[str, InstanceRow | None]) -> None:
    gone = [(instance_id,) for instance_id, row in rows.items() if row is None]
    kept = [
        (instance_id, _sort_key(row.instance), _instance_encoder.encode(row.instance),
         _instance_encoder.encode(row.model_ids).decode(), row.credential_serial)
        for instance_id, row in rows.items()
        if row is not None
    ]
    if gone:
        await tx.execute_many(f"DELETE FROM {TABLE} WHERE instance_id = ?", gone)
    if kept:
        await tx.execute_many(UPSERT, kept)
