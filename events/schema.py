"""The store's tables and triggers, and how a file is created or recognised as a store."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from events.errors import NotAnEventStore
from events.sql import SQLITE

FORMAT = "switchboard-events"
SCHEMA_VERSION = 3
# 2: view_versions, so code that predates view versions cannot update views behind it.
# 3: events_by_category, for stream prefix queries; view_rebuilds, so a rebuild is logged even after a crash.
SQLITE_HEADER = b"SQLite format 3\x00"
CATEGORY = SQLITE.category

SCHEMA = f"""
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    stream_id TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version > 0),
    type TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    data TEXT NOT NULL,
    metadata TEXT NOT NULL,
    actor TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (stream_id, version)
);
CREATE INDEX IF NOT EXISTS events_by_type ON events (type, position);
CREATE INDEX IF NOT EXISTS events_by_time ON events (recorded_at);
CREATE INDEX IF NOT EXISTS events_by_actor ON events (actor, position);
CREATE INDEX IF NOT EXISTS events_by_category ON events ({CATEGORY}, position);
CREATE TRIGGER IF NOT EXISTS events_refuse_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS events_refuse_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only: DELETE refused'); END;
CREATE TABLE IF NOT EXISTS checkpoints (view TEXT PRIMARY KEY, position INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS view_versions (view TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS view_rebuilds (
    event_id TEXT NOT NULL UNIQUE,
    view TEXT NOT NULL,
    from_version INTEGER NOT NULL,
    to_version INTEGER NOT NULL,
    events INTEGER NOT NULL,
    milliseconds REAL NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('format', '{FORMAT}'), ('schema_version', '{SCHEMA_VERSION}');
UPDATE meta SET value = '{SCHEMA_VERSION}' WHERE key = 'schema_version' AND CAST(value AS INTEGER) < {SCHEMA_VERSION};
COMMIT;
"""

SYNCHRONOUS_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")
BUSY_TIMEOUT_SECONDS = 30.0  # how long a connection waits for another one's write lock


def prepare_file(path: Path) -> None:
    """Create a new store at `path`, or check that the existing file is one; a foreign file is left untouched."""
    _make_parent(path.parent)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass
    if path.stat().st_size > 0:
        _check_identity(path)
    _create_schema(path)


def check_file(path: Path) -> None:
    """Raise NotAnEventStore when an existing, non-empty file at `path` is not a store; read only."""
    if path.exists() and path.stat().st_size > 0:
        _check_identity(path)


def _make_parent(directory: Path) -> None:
    """Create missing folders as 0700; an existing folder keeps its mode."""
    if not directory.exists():
        _make_parent(directory.parent)
        directory.mkdir(mode=0o700, exist_ok=True)


def _create_schema(path: Path) -> None:
    """Create what is missing (all of it for a new file; a dropped trigger or a newer table on an old one)."""
    connection = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_SECONDS)
    try:
        connection.executescript(SCHEMA)
    finally:
        connection.close()


def _check_identity(path: Path) -> None:
    with path.open("rb") as file:
        header = file.read(100)
    if not header.startswith(SQLITE_HEADER):
        raise NotAnEventStore(path, "it is not an SQLite database")
    try:
        connection = sqlite3.connect(_read_only_uri(path, header), uri=True)
    except sqlite3.Error as error:
        raise NotAnEventStore(path, str(error)) from error
    try:
        _check_meta(path, connection)
    except sqlite3.Error as error:
        raise NotAnEventStore(path, str(error)) from error
    finally:
        connection.close()


def _read_only_uri(path: Path, header: bytes) -> str:
    """A URI that reads the file without writing anything beside it.

    A read-only connection to a WAL database creates its -shm and -wal files when they are
    missing; a WAL file without -shm has no open connection, so it is read as immutable.
    """
    in_wal_mode = header[18:20] == b"\x02\x02"
    shm = path.with_name(path.name + "-shm")
    immutable = "&immutable=1" if in_wal_mode and not shm.exists() else ""
    return f"{path.resolve().as_uri()}?mode=ro{immutable}"


def _check_meta(path: Path, connection: sqlite3.Connection) -> None:
    tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not {"meta", "events"} <= tables:
        raise NotAnEventStore(path, "it has no Switchboard event tables")
    meta = dict(connection.execute("SELECT key, value FROM meta"))
    if meta.get("format") != FORMAT:
        raise NotAnEventStore(path, "its meta table does not name it a Switchboard event store")
    version = int(meta.get("schema_version", "0"))
    if version > SCHEMA_VERSION:
        raise NotAnEventStore(path, f"its schema {version} is newer than this code understands ({SCHEMA_VERSION})")
