"""Minimal ASGI plumbing for the upstreams: a parsed request, reply shapes, and writing them with faults."""

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

Fault = Literal["none", "malformed", "broken_stream", "stall", "stream_error"]
SSE = "text/event-stream; charset=utf-8"
NDJSON = "application/x-ndjson"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def parsed(self) -> object:
        """The body as JSON, or None when it is empty or not JSON."""
        try:
            return self.json()
        except ValueError:
            return None

    def bearer(self) -> str | None:
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return token if scheme.lower() == "bearer" and token else None


@dataclass(frozen=True)
class JsonReply:
    body: object
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StreamReply:
    frames: list[bytes]
    media_type: str
    error_frame: bytes  # how this protocol reports a failure in the middle of a stream
    first_text: int = 0  # index of the first frame that carries a piece of the answer's text


@dataclass(frozen=True)
class FaultPlan:
    """A fault to play on a successful answer: streams play it after `pieces_before` text pieces."""

    fault: Fault = "none"
    stall_s: float = 0.0
    pieces_before: int = 1


Reply = JsonReply | StreamReply


def sse(data: object, event: str | None = None, newline: str = "\n") -> bytes:
    head = f"event: {event}{newline}" if event else ""
    return f"{head}data: {json.dumps(data)}{newline}{newline}".encode()


def ndjson(data: object) -> bytes:
    return json.dumps(data).encode() + b"\n"


async def read_request(scope: Scope, receive: Receive) -> Request:
    body = bytearray()
    while True:
        message = await receive()
        body.extend(message.get("body", b""))
        if not message.get("more_body"):
            break
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1").lower()
        headers[key] = f"{headers[key]}, {value.decode('latin-1')}" if key in headers else value.decode("latin-1")
    query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
    return Request(scope["method"], scope["path"], query, headers, bytes(body))


async def send_reply(send: Send, reply: Reply, plan: FaultPlan) -> None:
    """Write a reply; a fault applies only to successful answers. A dropped answer is left incomplete."""
    if isinstance(reply, JsonReply):
        await _send_json(send, reply, plan.fault if reply.status < 400 else "none")
    else:
        await _send_stream(send, reply, plan)


async def _send_json(send: Send, reply: JsonReply, fault: Fault) -> None:
    raw = json.dumps(reply.body).encode()
    sent = raw[: len(raw) // 2] if fault in ("malformed", "broken_stream") else raw
    length = len(raw) if fault == "broken_stream" else len(sent)
    headers = {"content-type": "application/json", "content-length": str(length), **reply.headers}
    await _start(send, reply.status, headers)
    await send({"type": "http.response.body", "body": sent, "more_body": fault == "broken_stream"})


async def _send_stream(send: Send, reply: StreamReply, plan: FaultPlan) -> None:
    await _start(send, 200, {"content-type": reply.media_type, "cache-control": "no-cache"})
    frames, fault, at = reply.frames, plan.fault, reply.first_text + plan.pieces_before
    if fault == "malformed":
        frames = frames[:at] + [b"data: {not json\n\n" if reply.media_type == SSE else b"{not json\n"]
    if fault == "stream_error":
        frames = frames[:at] + [reply.error_frame]
    for index, frame in enumerate(frames):
        if fault == "broken_stream" and index == at:
            return  # the server answers no more: the client sees the connection close mid-body
        if fault == "stall" and index == at:
            await asyncio.sleep(plan.stall_s)
        await send({"type": "http.response.body", "body": frame, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _start(send: Send, status: int, headers: dict[str, str]) -> None:
    raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
