"""The web app's client of the public Switchboard API (HTTP and the live websocket)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import msgspec
import websockets


def api_base() -> str:
    """Where the API is served: the same process and port unless SWITCHBOARD_API_URL says otherwise."""
    explicit = os.environ.get("SWITCHBOARD_API_URL")
    if explicit:
        return explicit.rstrip("/")
    return f"http://127.0.0.1:{os.environ.get('SWITCHBOARD_PORT', '3000')}"


class LoggedEvent(msgspec.Struct, frozen=True):
    """The fields of an event that the web app shows."""

    position: int
    stream_id: str
    type: str
    actor: str
    recorded_at: str
    summary: str


class _Page(msgspec.Struct, frozen=True):
    events: list[LoggedEvent]


class AuditedEvent(LoggedEvent, frozen=True):
    """An event as the audit query answers it: with its payload (the JSON the event holds)."""

    data: msgspec.Raw


class AuditPage(msgspec.Struct, frozen=True):
    """Matching events, newest first; `next` is set when older ones match too."""

    events: list[AuditedEvent]
    next: str | None
    head: int


@dataclass(frozen=True)
class AuditFilters:
    """What an audit query asks the log for (GET /api/v1/audit/events); an empty field matches everything."""

    types: tuple[str, ...] = ()
    actor: str = ""
    stream: str = ""  # a stream id, or a prefix ending in "-"
    since: str = ""  # RFC 3339
    until: str = ""
    q: str = ""  # words that must all appear in the payload

    def params(self) -> list[tuple[str, str]]:
        """The filter as query parameters, in a stable order (a type once for each)."""
        named = (("actor", self.actor), ("stream", self.stream), ("since", self.since), ("until", self.until),
                 ("q", self.q))
        return [("type", name) for name in self.types] + [(name, value) for name, value in named if value]


class _Health(msgspec.Struct, frozen=True):
    last_position: int


class FieldProblem(msgspec.Struct, frozen=True):
    """One refused input field, as named in a problem+json answer."""

    field: str
    message: str


class _ProblemBody(msgspec.Struct, frozen=True):
    title: str = ""
    detail: str = ""
    errors: list[FieldProblem] = []


@dataclass(frozen=True)
class Problem(Exception):
    """An error answer from the API, with its title, detail and field errors."""

    status: int
    title: str
    detail: str = ""
    errors: tuple[FieldProblem, ...] = ()

    def __str__(self) -> str:
        return self.detail or self.title or f"HTTP {self.status}"

    @property
    def message(self) -> str:
        """Title and detail in one line."""
        return f"{self.title}: {self.detail}" if self.title and self.detail else str(self)

    @property
    def fields(self) -> dict[str, str]:
        """The field errors by field path."""
        return {error.field: error.message for error in self.errors}


def problem_from(response: httpx.Response) -> Problem:
    try:
        body = msgspec.json.decode(response.content, type=_ProblemBody)
    except msgspec.DecodeError:
        return Problem(response.status_code, response.text[:200])
    return Problem(response.status_code, body.title, body.detail, tuple(body.errors))


Query = dict[str, str | int | float | bool | list[str]]
Params = Query | list[tuple[str, str]]  # as pairs, in order, a name may come more than once
UNAUTHORIZED = 401
LIVE_LOG = logging.getLogger("switchboard.web.live")
LIVE_LOG.setLevel(logging.INFO)  # at debug level websockets logs the handshake's headers, the token among them


class SignInRequired(Exception):
    """The API wants a (valid) token: the tab goes to the sign-in page, then back to `page`."""

    def __init__(self, page: str) -> None:
        super().__init__("signing in is required")
        self.page = page


@dataclass(frozen=True)
class Client:
    """The API as one signed-in browser reaches it: every request carries that user's token, if there is one.

    `page` is the page the calls are made for, where signing in leads back to.
    """

    token: str = field(repr=False)
    page: str = "/"

    def auth_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"} if self.token else {}

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: object = None,
        headers: dict[str, str] | None = None,
        timeout_s: float = 30,
    ) -> bytes:
        """One API request; `body` is encoded as JSON (bytes are sent as they are, already JSON).

        An error answer is raised as a Problem (a 401 as SignInRequired), a failed connection as httpx.HTTPError.
        """
        content = body if isinstance(body, bytes) or body is None else msgspec.json.encode(body)
        sent_headers = {
            **(headers or {}),
            **({"content-type": "application/json"} if content is not None else {}),
            **self.auth_headers(),
        }
        async with httpx.AsyncClient(base_url=api_base(), timeout=timeout_s) as client:
            response = await client.request(method, path, params=params, content=content, headers=sent_headers)
        if response.status_code == UNAUTHORIZED:
            raise SignInRequired(self.page)
        if response.status_code >= 400:
            raise problem_from(response)
        return response.content

    async def get_json(self, path: str, params: Params | None = None) -> bytes:
        return await self.send("GET", path, params=params)

    async def log_head(self) -> int:
        """The position of the newest event: positions run from 1 to it without gaps."""
        return msgspec.json.decode(await self.get_json("/api/v1/health"), type=_Health).last_position

    async def events_up_to(self, last: int, count: int) -> list[LoggedEvent]:
        """The `count` events up to position `last` (fewer at the log's start), oldest first."""
        if last < 1 or count < 1:
            return []
        raw = await self.get_json("/api/v1/events", {"after": max(0, last - count), "limit": min(count, last)})
        return msgspec.json.decode(raw, type=_Page).events

    async def audit_events(
        self, filters: AuditFilters, *, before: int | None = None, after: int | None = None, limit: int = 50
    ) -> AuditPage:
        """Up to `limit` events matching `filters`, newest first: the newest below `before`, or the oldest above
        `after` when only that is given."""
        cursor = [(name, str(value)) for name, value in (("before", before), ("after", after)) if value is not None]
        params = [*filters.params(), *cursor, ("limit", str(limit)), ("order", "newest")]
        return msgspec.json.decode(await self.get_json("/api/v1/audit/events", params), type=AuditPage)

    async def latest_events(self, count: int) -> tuple[list[LoggedEvent], int]:
        """The newest `count` events (oldest first) and the log's head position."""
        head = await self.log_head()
        return await self.events_up_to(head, count), head

    async def follow_events(
        self, after: int, opened: Callable[[], Awaitable[None]] = lambda: asyncio.sleep(0)
    ) -> AsyncIterator[LoggedEvent]:
        """Events after `after` as they are logged; awaits `opened()` once the feed is connected, and ends when the
        connection closes."""
        url = api_base().replace("http", "ws", 1) + f"/api/v1/live?after={after}"
        decoder = msgspec.json.Decoder(LoggedEvent)
        try:
            async with websockets.connect(
                url, additional_headers=self.auth_headers(), max_size=2**20, open_timeout=10, logger=LIVE_LOG
            ) as socket:
                await opened()
                async for frame in socket:
                    yield decoder.decode(frame)
        except websockets.InvalidStatus:
            await self.get_json("/api/v1/auth/me")  # a refused handshake says not why: a 401 here asks to sign in
            raise
