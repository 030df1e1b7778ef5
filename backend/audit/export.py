"""Audit exports: the events an audit query matches, as NDJSON or CSV bytes, encoded a page at a time so an export
of any size holds one page in memory."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable
from typing import Literal

import msgspec

from backend.audit.names import Names
from backend.audit.schemas import EventOut, event_out
from events import EventRegistry, StoredEvent

ExportFormat = Literal["ndjson", "csv"]
MEDIA_TYPES: dict[ExportFormat, str] = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
ACCEPTED: dict[str, ExportFormat] = {
    "application/x-ndjson": "ndjson", "application/ndjson": "ndjson", "application/jsonl": "ndjson",
    "text/csv": "csv",
}
CSV_COLUMNS = (
    "position", "recorded_at", "stream_id", "version", "type", "schema_version", "actor",
    "request_id", "correlation_id", "event_id", "summary", "data",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
Encoder = Callable[[list[EventOut]], bytes]


def chosen_format(format_param: ExportFormat | None, accept: str) -> ExportFormat:
    """`format=` when given, else the first media type in Accept that names a format, else NDJSON."""
    if format_param is not None:
        return format_param
    for part in accept.split(","):
        media_type = part.split(";")[0].strip().lower()
        if media_type in ACCEPTED:
            return ACCEPTED[media_type]
    return "ndjson"


def _ndjson(events: list[EventOut]) -> bytes:
    return b"".join(msgspec.json.encode(event) + b"\n" for event in events)


def _csv_rows(events: list[EventOut]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for event in events:
        writer.writerow((
            event.position, event.recorded_at.isoformat(), *_text_cells(event.stream_id), event.version,
            *_text_cells(event.type), event.schema_version,
            *_text_cells(event.actor, event.request_id, event.correlation_id, event.event_id, event.summary),
            bytes(event.data).decode(),
        ))
    return buffer.getvalue().encode()


def _text_cells(*texts: str) -> list[str]:
    """Cells a spreadsheet shows as text: one starting with =, +, -, @ (a client's X-Request-ID, say) would be run
    as a formula, so it gets a leading apostrophe."""
    return [f"'{text}" if text[:1] in FORMULA_STARTS else text for text in texts]


ENCODERS: dict[ExportFormat, Encoder] = {"ndjson": _ndjson, "csv": _csv_rows}


async def export_bytes(
    pages: AsyncIterator[list[StoredEvent]], export_format: ExportFormat, registry: EventRegistry, names: Names
) -> AsyncIterator[bytes]:
    """The export, a page of events per chunk (a CSV starts with its header row)."""
    if export_format == "csv":
        yield (",".join(CSV_COLUMNS) + "\r\n").encode()
    encode = ENCODERS[export_format]
    async for page in pages:
        yield encode([event_out(stored, registry, names) for stored in page])
