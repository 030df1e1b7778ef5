"""Audit exports: the events an audit query matches, as NDJSON or CSV bytes, encoded a page at a time so an export
of any size holds a page or two in memory."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Literal

import msgspec

from backend.audit.schemas import EventOut

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


_encoder = msgspec.json.Encoder()


def _ndjson(events: list[EventOut]) -> bytes:
    return _encoder.encode_lines(events)


def _csv_rows(events: list[EventOut]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(_csv_cells(events))
    return buffer.getvalue().encode()


def _csv_cells(events: list[EventOut]) -> Iterator[tuple[object, ...]]:
    text = _text_cell
    for event in events:
        yield (
            event.position, event.recorded_at.isoformat(), text(event.stream_id), event.version, text(event.type),
            event.schema_version, text(event.actor), text(event.request_id), text(event.correlation_id),
            text(event.event_id), text(event.summary), bytes(event.data).decode(),
        )


def _text_cell(text: str) -> str:
    """A cell a spreadsheet shows as text: one starting with =, +, -, @ (a client's X-Request-ID, say) would be run
    as a formula, so it gets a leading apostrophe."""
    return f"'{text}" if text[:1] in FORMULA_STARTS else text


ENCODERS: dict[ExportFormat, Encoder] = {"ndjson": _ndjson, "csv": _csv_rows}


async def export_bytes(pages: AsyncIterator[list[EventOut]], export_format: ExportFormat) -> AsyncIterator[bytes]:
    """The export, a page of events per chunk (a CSV starts with its header row)."""
    if export_format == "csv":
        yield (",".join(CSV_COLUMNS) + "\r\n").encode()
    encode = ENCODERS[export_format]
    async for page in pages:
        yield encode(page)
