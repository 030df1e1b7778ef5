"""The Audit page: the newest events, newest first, with new ones arriving live."""

from __future__ import annotations

import reflex as rx

from frontend.layout import page_frame
from frontend.live import EventRow, LiveState

COLUMNS = ("#", "Time (UTC)", "Type", "Stream", "Actor", "Summary")


def _event_row(row: EventRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row.position),
        rx.table.cell(row.time, white_space="nowrap"),
        rx.table.cell(rx.badge(row.type, variant="soft")),
        rx.table.cell(rx.code(row.stream, variant="ghost")),
        rx.table.cell(row.actor),
        rx.table.cell(row.summary),
    )


def audit_page() -> rx.Component:
    return page_frame(
        "Audit",
        rx.text("Every change, newest first. New events appear as they are logged.", color_scheme="gray"),
        rx.table.root(
            rx.table.header(rx.table.row(*(rx.table.column_header_cell(c) for c in COLUMNS))),
            rx.table.body(rx.foreach(LiveState.rows, _event_row), id="event-rows"),
            width="100%",
            margin_top="16px",
        ),
    )
