"""An export's rows, written by SQLite and given their summaries and shown data afterwards, are what `event_out`
makes of the same stored events: names put in, withheld fields left out, metadata, times, an unknown type and a
body its type cannot decode; in either order, over pages read ahead, and encoded as NDJSON and CSV (byte for byte
what the csv module writes)."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from backend.audit.events import ServiceStarted, VaultRekeyed
from backend.audit.export import CSV_COLUMNS, export_bytes
from backend.audit.names import Names
from backend.audit.query import AuditFilter, Order, every_match
from backend.audit.schemas import EventOut, event_out
from backend.auth.events import TokenIssued
from backend.instances.events import ConnectionTested
from backend.services import build_registry
from backend.sessions.events import AgentCreated, ModelChoice, SessionCreated
from events import Event, Metadata, SQLiteEventStore, StoredEvent
from tests.audit_query.conftest import search_index

pytestmark = pytest.mark.anyio
NAMES = Names(instances={"i1": "Prod"}, agents={"g1": "it's a \"helper\""}, providers={"openai": "OpenAI"})
CHOICE = ModelChoice(instance_id="i1", provider_id="openai", model_id="gpt-4o")
EVENTS: list[tuple[str, Event, Metadata]] = [
    ("tokens", TokenIssued(token_id="t1", name="=ops", role="admin", hash_prefix="ab12", token_hash="f00dfacecafe"),
     Metadata(actor="local", request_id="=HYPERLINK(1)", correlation_id="c-1")),
    ("session-s1", SessionCreated(session_id="s1", name="switch provider openai", default=CHOICE, system_prompt=""),
     Metadata(actor="user:ann", request_id="r2")),
    ("session-s1", AgentCreated(agent_id="g1", name="x", choice=CHOICE, system_prompt="", reasoning_effort=None,
                                max_tokens=None), Metadata(actor="+bot")),
    ("instance-i1", ConnectionTested(instance_id="i1", outcome="ok", http_status=200, latency_ms=3.5, model_count=1,
                                     message="line one\nline, \"two\"", credential_version=1), Metadata(actor="-x")),
    ("service", VaultRekeyed(count=1, unreadable=0, key_id="k2", previous_key_id="k1"), Metadata(actor="@cli")),
    ("service", ServiceStarted(version="1", data_dir="/srv/été"), Metadata(actor="system")),
]


async def _write(path: Path) -> None:
    async with SQLiteEventStore.open(path, registry=build_registry()) as store:
        for _ in range(4):
            for stream, event, metadata in EVENTS:
                await store.append(stream, [event], metadata=metadata)
        head = await store.head()
    with sqlite3.connect(path) as conn:  # an event type this code does not know, and a body its type cannot decode
        row = "INSERT INTO events VALUES (?, ?, ?, 1, ?, 1, ?, ?, 'old', '2999-01-01T00:00:00.000000Z', 'h')"
        conn.execute(row, (head + 1, "e1", "legacy-1", "RetiredThing", '{"type":"RetiredThing"}', '{"actor":"old"}'))
        conn.execute(row, (head + 2, "e2", "service-old", "ServiceStarted", '{"type":"ServiceStarted"}',
                           '{"actor":"old","request_id":"","correlation_id":""}'))
    conn.close()


async def _exported(path: Path, order: Order, page_size: int) -> tuple[list[EventOut], list[EventOut], dict[str, bytes]]:
    """The export's rows and bytes, and event_out of every stored event in the same order."""
    async with SQLiteEventStore.open(path, registry=build_registry()) as store, search_index(store) as search:
        registry = store.registry

        def pages() -> AsyncIterator[list[EventOut]]:
            return every_match(store, search, AuditFilter(), order, registry, NAMES, page_size=page_size)

        rows = [row async for page in pages() for row in page]
        encoded = {fmt: b"".join([chunk async for chunk in export_bytes(pages(), fmt)]) for fmt in ("ndjson", "csv")}
        stored: list[StoredEvent] = await store.read(limit=1000)
    expected = [event_out(event, registry, NAMES) for event in stored]
    return rows, expected[::-1] if order == "newest" else expected, encoded


def _csv_row(event: EventOut) -> list[str]:
    """The CSV row of an event: text a spreadsheet would run as a formula starts with an apostrophe."""
    def text(value: str) -> str:
        return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value

    return [
        str(event.position), event.recorded_at.isoformat(), text(event.stream_id), str(event.version),
        text(event.type), str(event.schema_version), text(event.actor), text(event.request_id),
        text(event.correlation_id), text(event.event_id), text(event.summary), bytes(event.data).decode(),
    ]


@pytest.mark.parametrize(("order", "page_size"), [("oldest", 5), ("newest", 7), ("oldest", 1000)])
async def test_export_rows_are_what_event_out_makes(tmp_path: Path, order: Order, page_size: int) -> None:
    path = tmp_path / "events.db"
    await _write(path)
    rows, expected, encoded = await _exported(path, order, page_size)
    assert rows == expected and len(rows) == 4 * len(EVENTS) + 2
    assert encoded["ndjson"] == b"".join(msgspec.json.encode(event) + b"\n" for event in expected)
    table = list(csv.reader(io.StringIO(encoded["csv"].decode(), newline="")))
    assert tuple(table[0]) == CSV_COLUMNS
    assert table[1:] == [_csv_row(event) for event in expected]
    withheld = [row for row in rows if row.type == "TokenIssued"]
    assert withheld and all(b"f00dfacecafe" not in bytes(row.data) for row in withheld)
    assert {row.summary for row in rows if row.type == "RetiredThing"} == {"Retired thing on legacy-1"}


TRICKY = ("", "plain", 'say "hi"', "a,b", "line\nbreak", "cr\rhere", "=SUM(A1)", "+1", "-x", "@me", "\tlead",
          "\rlead", " space", "é ü 中", '"', ",", "\r\n", "'quoted'")


async def test_csv_rows_are_what_the_csv_module_writes() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    events = [
        EventOut(position=n, stream_id=text, version=n, event_id=text, type=text, schema_version=1, actor=text,
                 request_id=text, correlation_id=text, recorded_at=at + timedelta(microseconds=n % 2 * n),
                 summary=text, data=msgspec.Raw(msgspec.json.encode({"text": text, "list": [text, 1.5]})))
        for n, text in enumerate(TRICKY)
    ]

    async def one_page() -> AsyncIterator[list[EventOut]]:
        yield events

    written = b"".join([chunk async for chunk in export_bytes(one_page(), "csv")])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_csv_row(event) for event in events)
    assert written == buffer.getvalue().encode()
