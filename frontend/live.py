"""One live feed per browser tab: follows /api/v1/live and tells the pages what changed.

The feed runs in the server for as long as the tab's event socket stays open; it changes the tab's state (and
sends it reactions) only while that socket is still the one it was started for, so a closed tab gets nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import reflex as rx
from reflex.utils.prerequisites import get_app

from frontend import api
from frontend.auth import client_for

SHOWN = 200
RECONNECT_DELAY_S = 1.0
FEED_FAILURES = (OSError, httpx.HTTPError, api.Problem, api.websockets.WebSocketException)


@dataclass
class EventRow:
    position: int
    time: str
    type: str
    stream: str
    actor: str
    summary: str


def event_row(event: api.LoggedEvent) -> EventRow:
    time = event.recorded_at.replace("T", " ")[:19]
    return EventRow(event.position, time, event.type, event.stream_id, event.actor, event.summary)


def _connected(client_token: str, socket_id: str) -> bool:
    """Whether the tab is still connected over the same socket: a reload (as signing in or out does) opens another,
    with the cookie it has then, and a feed of its own."""
    namespace = get_app().app.event_namespace
    return namespace is not None and namespace.token_to_sid.get(client_token) == socket_id


class LiveState(rx.State):
    """The newest events (newest first) and whether the live feed is connected."""

    rows: list[EventRow] = []
    last_position: int = 0
    error: str = ""
    _feed_socket: str = ""  # the event socket the running feed follows for

    def _add(self, events: list[api.LoggedEvent]) -> list[str]:
        fresh = [e for e in events if e.position > self.last_position]
        if fresh:
            self.rows = ([event_row(e) for e in reversed(fresh)] + self.rows)[:SHOWN]
            self.last_position = fresh[-1].position
        return [e.type for e in fresh]

    @rx.event(background=True)
    async def follow(self) -> AsyncIterator[rx.event.EventSpec]:
        """Load the newest events, then follow the feed, as the signed-in user, while this tab's socket stays open."""
        client_token, socket_id = self.router.session.client_token, self.router.session.session_id
        async with self:
            if self._feed_socket == socket_id:
                return
            self._feed_socket = socket_id
        client = client_for(self)
        try:
            while _connected(client_token, socket_id):
                async for reaction in self._follow_once(client, lambda: _connected(client_token, socket_id)):
                    yield reaction
                await asyncio.sleep(RECONNECT_DELAY_S)
        finally:
            if _connected(client_token, socket_id):  # still open (the feed failed): a page load may start it again
                async with self:  # a closed tab is left alone: leaving the lock sends the tab its state
                    if self._feed_socket == socket_id:
                        self._feed_socket = ""

    async def _follow_once(
        self, client: api.Client, still_open: Callable[[], bool]
    ) -> AsyncIterator[rx.event.EventSpec]:
        """One connection of the feed: catch up, follow until it ends, then say so (the caller reconnects)."""

        async def opened() -> None:
            async with self:
                if still_open() and self.error:
                    self.error = ""

        try:
            if self.last_position == 0:
                events, _ = await client.latest_events(SHOWN)
                async with self:
                    types = self._add(events) if still_open() else []
                # a change logged after the page loaded its data but before this catch-up must still reach it
                for reaction in reactions_to(types if still_open() else []):
                    yield reaction
            async for event in client.follow_events(self.last_position, opened):
                async with self:  # checked under the lock: the tab's state may have been reset for another user
                    if not still_open():
                        return
                    types = self._add([event])
                for reaction in reactions_to(types if still_open() else []):  # the tab may have closed meanwhile
                    yield reaction
            ending = "Live feed closed by the server"
        except FEED_FAILURES as exc:
            ending = f"Live feed interrupted ({type(exc).__name__})"
        async with self:
            if still_open():
                self.error = f"{ending}; reconnecting"


REACTIONS: list[tuple[tuple[str, ...], rx.event.EventHandler]] = []


def react_to(type_prefixes: tuple[str, ...], handler: rx.event.EventHandler) -> None:
    """Run `handler` in this tab whenever an event whose type starts with one of the prefixes arrives."""
    REACTIONS.append((type_prefixes, handler))


def reactions_to(types: list[str]) -> list[rx.event.EventSpec]:
    return [handler() for prefixes, handler in REACTIONS if any(t.startswith(prefixes) for t in types)]
