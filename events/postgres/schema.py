"""The store's tables, triggers and functions on PostgreSQL, created or brought up to date at start-up in the
connection's current schema, and how a schema is recognised as holding a store."""

from __future__ import annotations

import asyncpg

from events.chain import GENESIS_HASH
from events.errors import NotAnEventStore
from events.schema import FORMAT, SCHEMA_VERSION
from events.sql import POSTGRESQL

KEY = POSTGRESQL.key_text
TRIGGERS = ("events_refuse_update", "events_refuse_delete", "events_refuse_truncate")
CHANNEL_PREFIX = "switchboard_events_"
IDENTIFIER_BYTES = 63  # PostgreSQL truncates longer names

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key {KEY} PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    position BIGINT PRIMARY KEY,
    event_id {KEY} NOT NULL UNIQUE,
    stream_id {KEY} NOT NULL,
    version BIGINT NOT NULL CHECK (version > 0),
    type {KEY} NOT NULL,
    schema_version INTEGER NOT NULL,
    data TEXT NOT NULL,
    metadata TEXT NOT NULL,
    actor {KEY} NOT NULL,
    recorded_at {KEY} NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (stream_id, version)
);
CREATE INDEX IF NOT EXISTS events_by_type ON events (type, position);
CREATE INDEX IF NOT EXISTS events_by_time ON events (recorded_at);
CREATE INDEX IF NOT EXISTS events_by_actor ON events (actor, position);
CREATE INDEX IF NOT EXISTS events_by_category ON events (({POSTGRESQL.category}), position);
CREATE TABLE IF NOT EXISTS event_log_head (
    one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    position BIGINT NOT NULL,
    hash TEXT NOT NULL,
    recorded_at {KEY} NOT NULL
);
INSERT INTO event_log_head (one, position, hash, recorded_at) VALUES (TRUE, 0, '{GENESIS_HASH}', '')
    ON CONFLICT (one) DO NOTHING;
CREATE OR REPLACE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % refused', TG_OP;
END
$$;
CREATE OR REPLACE TRIGGER events_refuse_update BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE OR REPLACE TRIGGER events_refuse_delete BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE OR REPLACE TRIGGER events_refuse_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();
ALTER TABLE events ENABLE TRIGGER events_refuse_update;
ALTER TABLE events ENABLE TRIGGER events_refuse_delete;
ALTER TABLE events ENABLE TRIGGER events_refuse_truncate;
CREATE TABLE IF NOT EXISTS checkpoints (view {KEY} PRIMARY KEY, position BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS view_versions (view {KEY} PRIMARY KEY, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS view_rebuilds (
    rowid BIGSERIAL PRIMARY KEY,
    event_id {KEY} NOT NULL UNIQUE,
    view {KEY} NOT NULL,
    from_version INTEGER NOT NULL,
    to_version INTEGER NOT NULL,
    events BIGINT NOT NULL,
    milliseconds DOUBLE PRECISION NOT NULL
);
INSERT INTO meta (key, value) VALUES ('format', '{FORMAT}'), ('schema_version', '{SCHEMA_VERSION}')
    ON CONFLICT (key) DO NOTHING;
UPDATE meta SET value = '{SCHEMA_VERSION}' WHERE key = 'schema_version' AND value::integer < {SCHEMA_VERSION};
"""

# The tables of ours in the current schema, and the append-only triggers that are there and enabled.
FOUND = """
SELECT
    (SELECT array_agg(c.relname::text) FROM pg_class c
      WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
        AND c.relname IN ('meta', 'events', 'event_log_head', 'checkpoints', 'view_versions', 'view_rebuilds')),
    (SELECT array_agg(t.tgname::text) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
      WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = 'events' AND t.tgenabled <> 'D')
"""
TABLES = {"meta", "events", "event_log_head", "checkpoints", "view_versions", "view_rebuilds"}


async def prepare_schema(conn: asyncpg.Connection, location: str) -> str:
    """Create the store in the connection's current schema, or check and bring up to date the one there; returns
    the schema's name. Replicas starting at once take turns (an advisory lock on the schema's name)."""
    schema = await _current_schema(conn)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('switchboard-events:' || current_schema()))")
        tables, triggers = await conn.fetchrow(FOUND)
        tables, triggers = set(tables or ()), set(triggers or ())
        if tables:  # any of our table names: it must be our store (its creation commits all of them at once)
            await _check_identity(conn, location, tables)
        if tables != TABLES or triggers != set(TRIGGERS) or await _schema_version(conn) != SCHEMA_VERSION:
            await conn.execute(SCHEMA)
    return schema


def channel_name(schema: str) -> str:
    """The LISTEN/NOTIFY channel of the store in `schema`."""
    return (CHANNEL_PREFIX + schema).encode()[:IDENTIFIER_BYTES].decode(errors="ignore")


async def _current_schema(conn: asyncpg.Connection) -> str:
    """The schema the connection creates in; the first one its search_path names is created if missing."""
    schema = await conn.fetchval("SELECT current_schema()")
    if schema is not None:
        return str(schema)
    first = str(await conn.fetchval("SHOW search_path")).split(",")[0].strip().strip('"')
    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_quoted(first)}")
    return first


async def _check_identity(conn: asyncpg.Connection, location: str, tables: set[str]) -> None:
    if "meta" not in tables:
        found = ", ".join(sorted(tables))
        raise NotAnEventStore(location, f"it holds tables named {found} that are not a Switchboard event log (no meta)")
    try:
        meta = dict(await conn.fetch("SELECT key::text, value::text FROM meta"))
    except asyncpg.PostgresError as error:
        raise NotAnEventStore(location, f"its meta table is not ours: {error}") from error
    if meta.get("format") != FORMAT:
        raise NotAnEventStore(location, "its meta table does not name it a Switchboard event store")
    version = int(meta.get("schema_version", "0"))
    if version > SCHEMA_VERSION:
        raise NotAnEventStore(location, f"its schema {version} is newer than this code understands ({SCHEMA_VERSION})")


async def _schema_version(conn: asyncpg.Connection) -> int:
    value = await conn.fetchval("SELECT value FROM meta WHERE key = 'schema_version'")
    return int(value) if value is not None else 0


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
