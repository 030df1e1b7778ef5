"""The web app's client of the public Switchboard API (HTTP and the live websocket)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

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
    head: int


class _Health(msgspec.Struct, frozen=True):
    last_position: int


class FieldProblem(msgspec.Struct, frozen=True):
    field: str
    message: str


class _ProblemBody(msgspec.Struct, frozen=True):
    title: str = "Request failed"
    detail: str = ""
    errors: list[FieldProblem] = []


@dataclass(frozen=True)
class Problem(Exception):
    """An error answer from the API: its status, a readable message and the errors by field."""

    status: int
    message: str
    fields: dict[str, str]


def _problem(response: httpx.Response) -> Problem:
    try:
        body = msgspec.json.decode(response.content, type=_ProblemBody)
    except msgspec.DecodeError:
        body = _ProblemBody(title=response.reason_phrase)
    message = f"{body.title}: {body.detail}" if body.detail else body.title
    return Problem(response.status_code, message, {e.field: e.message for e in body.errors})


Query = dict[str, str | int | float | bool | list[str]]


async def send(
    method: str,
    path: str,
    *,
    params: Query | None = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """One API call; an error answer raises Problem."""
    sent_headers = {"content-type": "application/json", **(headers or {})} if body is not None else headers
    async with httpx.AsyncClient(base_url=api_base(), timeout=30) as client:
        response = await client.request(method, path, params=params, content=body, headers=sent_headers)
    if response.status_code >= 400:
        raise _problem(response)
    return response.content


async def get_json(path: str, params: Query | None = None) -> bytes:
    return await send("GET", path, params=params)


async def latest_events(count: int) -> tuple[list[LoggedEvent], int]:
    """The newest `count` events (oldest first) and the log's head position."""
    head = msgspec.json.decode(await get_json("/api/v1/health"), type=_Health).last_position
    raw = await get_json("/api/v1/events", {"after": max(0, head - count), "limit": count})
    page = msgspec.json.decode(raw, type=_Page)
    return page.events, max(head, page.head)


async def follow_events(after: int) -> AsyncIterator[LoggedEvent]:
    """Events after `after` as they are logged; ends when the connection closes."""
    url = api_base().replace("http", "ws", 1) + f"/api/v1/live?after={after}"
    decoder = msgspec.json.Decoder(LoggedEvent)
    async with websockets.connect(url, max_size=2**20, open_timeout=10) as socket:
        async for frame in socket:
            yield decoder.decode(frame)
