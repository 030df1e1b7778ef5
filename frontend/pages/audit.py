"""The Audit page: the newest events, newest first, with new ones arriving live."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import reflex as rx
from reflex.utils.prerequisites import get_app

from frontend import api
from frontend.layout import page_frame

SHOWN = 200
RECONNECT_DELAY_S = 1.0


@dataclass
class EventRow:
    position: int
    time: str
    type: str
    stream: str
    actor: str
    summary: str


def _row(event: api.LoggedEvent) -> EventRow:
    time = event.recorded_at.replace("T", " ")[:19]
    return EventRow(event.position, time, event.type, event.stream_id, event.actor, event.summary)


def _client_connected(token: str) -> bool:
    namespace = get_app().app.event_namespace
    return namespace is not None and token in namespace.token_to_sid


class AuditState(rx.State):
    rows: list[EventRow] = []
    last_position: int = 0
    live: bool = False
    error: str = ""

    def _add(self, events: list[api.LoggedEvent]) -> None:
        fresh = [_row(e) for e in events if e.position > self.last_position]
        if fresh:
            self.rows = (fresh[::-1] + self.rows)[:SHOWN]
            self.last_position = fresh[-1].position

    @rx.event(background=True)
    async def follow(self) -> None:
        """Load the newest events, then follow the live feed while this tab is open."""
        async with self:
            if self.live:
                return
            self.live = True
        token = self.router.session.client_token
        try:
            while _client_connected(token):
                await self._catch_up_and_follow()
                await asyncio.sleep(RECONNECT_DELAY_S)
        finally:
            async with self:
                self.live = False

    async def _catch_up_and_follow(self) -> None:
        try:
            if self.last_position == 0:
                events, _ = await api.latest_events(SHOWN)
                async with self:
                    self._add(events)
            async for event in api.follow_events(self.last_position):
                async with self:
                    self._add([event])
                    self.error = ""
        except (OSError, api.Problem, api.websockets.WebSocketException) as exc:
            async with self:
                self.error = f"Live feed interrupted ({type(exc).__name__}); reconnecting"


def _event_row(row: EventRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row.position),
        rx.table.cell(row.time),
        rx.table.cell(rx.badge(row.type)),
        rx.table.cell(row.stream),
        rx.table.cell(row.actor),
        rx.table.cell(row.summary),
        class_name="event-row",
        data_position=row.position,
    )


def audit_page() -> rx.Component:
    return page_frame(
        "Audit",
        rx.cond(AuditState.error != "", rx.callout(AuditState.error, color_scheme="amber")),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *(rx.table.column_header_cell(h) for h in ("#", "Time (UTC)", "Type", "Stream", "Actor", "Summary"))
                )
            ),
            rx.table.body(rx.foreach(AuditState.rows, _event_row), id="event-rows"),
            width="100%",
        ),
    )
