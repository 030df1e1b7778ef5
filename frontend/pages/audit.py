"""The Audit page: the log, newest first, 50 events a page. On the first page new events arrive live; on a later
page the rows stay put and a bar says how many new events there are, leading back to the newest."""

from __future__ import annotations

import reflex as rx

from frontend.auth import client_for
from frontend.forms import REQUEST_FAILURES, describe_failure, error_callout
from frontend.layout import page_frame, page_range, pager
from frontend.live import EventRow, LiveState, event_row, react_to
from frontend.words import plural

PAGE = 50
ROUTE = "/audit"
COLUMNS = ("#", "Time (UTC)", "Type", "Summary", "Actor", "Stream")


class AuditState(rx.State):
    """One page of the log counted back from `anchor`, the newest event when the first page was loaded."""

    rows: list[EventRow] = []
    anchor: int = 0  # the log's head the pages count back from (positions run 1..head without gaps)
    first: int = 0  # how many events newer than the page's first row, back from `anchor`
    newer: int = 0  # events logged after `anchor`, not shown yet
    error: str = ""

    @rx.var
    def range_text(self) -> str:
        return page_range(self.first, len(self.rows), self.anchor)

    @rx.var
    def newer_text(self) -> str:
        return f"{plural(self.newer, 'new event')} — show the newest"

    @rx.event
    async def load(self) -> None:
        await self._show_newest()

    @rx.event
    async def newest(self) -> None:
        await self._show_newest()

    @rx.event
    async def previous_page(self) -> None:
        """Back a page; back on the first page that is the newest events, as when the page was opened."""
        if self.first - PAGE <= 0:
            await self._show_newest()
        else:
            await self._show(self.first - PAGE)

    @rx.event
    async def next_page(self) -> None:
        if self.first + PAGE < self.anchor:
            await self._show(self.first + PAGE)

    @rx.event
    async def logged(self) -> None:
        """A new event: the first page takes it in; a later page keeps its rows and counts it."""
        if self.router.url.path.rstrip("/") != ROUTE:  # the built site serves pages as folders: "/audit/"
            return
        if self.first == 0:
            await self._show_newest()
        else:
            self.newer = (await self.get_state(LiveState)).last_position - self.anchor

    async def _show_newest(self) -> None:
        try:
            self.anchor = await client_for(self).log_head()
        except REQUEST_FAILURES as failure:
            self.error = describe_failure(failure)
            return
        self.newer = 0
        await self._show(0)

    async def _show(self, first: int) -> None:
        try:
            events = await client_for(self).events_up_to(self.anchor - first, PAGE)
        except REQUEST_FAILURES as failure:
            self.error = describe_failure(failure)
            return
        self.rows, self.first, self.error = [event_row(e) for e in reversed(events)], first, ""


def _event_row(row: EventRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row.position),
        rx.table.cell(row.time, white_space="nowrap"),
        rx.table.cell(rx.badge(row.type, variant="soft")),
        rx.table.cell(row.summary, min_width="16rem"),
        rx.table.cell(row.actor),
        rx.table.cell(rx.code(row.stream, variant="ghost"), white_space="nowrap"),
    )


def _event_item(row: EventRow) -> rx.Component:
    """An event as stacked lines, for a phone: what happened first, then who and where."""
    return rx.flex(
        rx.flex(
            rx.badge(row.type, variant="soft"),
            rx.spacer(),
            rx.text("#", row.position, " · ", row.time, size="1", color_scheme="gray"),
            align="center",
            spacing="2",
            wrap="wrap",
        ),
        rx.text(row.summary, size="2", overflow_wrap="anywhere", class_name="event-summary"),
        rx.text(row.actor, " · ", row.stream, size="1", color_scheme="gray", overflow_wrap="anywhere"),
        direction="column",
        spacing="1",
        padding_y="var(--space-3)",
        border_bottom="1px solid var(--gray-4)",
        class_name="event-item",
    )


def _newer_bar() -> rx.Component:
    return rx.cond(
        AuditState.newer > 0,
        rx.button(
            rx.icon("arrow-up", size=16), AuditState.newer_text,
            on_click=AuditState.newest, variant="soft", width="100%", id="newer-events",
        ),
    )


def audit_page() -> rx.Component:
    return page_frame(
        "Audit",
        rx.flex(
            rx.text("Every change, newest first. New events appear as they are logged.", color_scheme="gray"),
            rx.spacer(),
            pager(
                AuditState.range_text, AuditState.first > 0, AuditState.first + PAGE < AuditState.anchor,
                AuditState.previous_page, AuditState.next_page,
            ),
            align="center",
            spacing="3",
            wrap="wrap",
            margin_bottom="var(--space-3)",
        ),
        error_callout(AuditState.error),
        _newer_bar(),
        rx.tablet_and_desktop(
            rx.table.root(  # its own scroll area: on a narrow tablet the table scrolls sideways inside it
                rx.table.header(rx.table.row(*(rx.table.column_header_cell(c) for c in COLUMNS))),
                rx.table.body(rx.foreach(AuditState.rows, _event_row), id="event-rows"),
                width="100%",
                id="event-table",
            ),
            margin_top="var(--space-3)",
        ),
        rx.mobile_only(rx.foreach(AuditState.rows, _event_item), id="event-items", margin_top="var(--space-3)"),
    )


react_to(("",), AuditState.logged)
