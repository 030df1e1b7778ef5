"""Minimal ASGI plumbing for the upstreams: a parsed request, reply shapes, and writing them with faults."""

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Reset = Callable[[], Awaitable[None]]  # resets a request's connection

Fault = Literal["none", "malformed", "broken_stream", "reset", "stall", "never_ends", "stream_error", "corrupt_gzip"]
SSE = "text/event-stream; charset=utf-8"
NDJSON = "application/x-ndjson"
JSON = "application/json"
KEEP_ALIVES = {SSE: b": keep-alive\n\n", NDJSON: b"\n", JSON: b" "}  # bytes that add nothing to an answer


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    received_at: float = field(default_factory=time.time)  # wall clock, to compare with an HTTP date

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
    keep_alive: bytes | None = None  # the protocol's own keep-alive (Anthropic's ping event); else its media type's


async def _no_reset() -> None:
    return None


def _always() -> bool:
    return True


@dataclass(frozen=True)
class FaultPlan:
    """A fault to play on a successful answer: streams play it after `pieces_before` text pieces, a JSON
    answer in the middle of its body. `reset` resets this request's connection (RST); `current` turns False
    once the test that chose the fault is over, which ends a body that never ends."""

    fault: Fault = "none"
    stall_s: float = 0.0
    pieces_before: int = 1
    keepalive_s: float = 0.05
    reset: Reset = _no_reset
    current: Callable[[], bool] = _always


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


async def send_reply(send: Send, receive: Receive, reply: Reply, plan: FaultPlan) -> None:
    """Write a reply; a fault applies only to successful answers. A dropped answer is left incomplete."""
    if isinstance(reply, JsonReply):
        await _send_json(send, receive, reply, plan if reply.status < 400 else FaultPlan())
    else:
        await _send_stream(send, receive, reply, plan)


async def _send_json(send: Send, receive: Receive, reply: JsonReply, plan: FaultPlan) -> None:
    """A fault strikes after half the body: malformed ends it there (a complete answer that is not JSON), the
    others promise the whole body and then close, reset, pause, or send only keep-alives."""
    raw, fault = json.dumps(reply.body).encode(), plan.fault
    half = raw[: len(raw) // 2]
    headers = {"content-type": JSON, **reply.headers, **_encoding(fault)}
    if fault != "never_ends":  # chunked: it has no length to announce
        headers["content-length"] = str(len(half) if fault == "malformed" else len(raw))
    await _start(send, reply.status, headers)
    if fault in ("none", "stream_error", "corrupt_gzip"):
        await _body(send, raw, more=False)
        return
    await _body(send, half, more=fault != "malformed")
    if fault == "reset":
        await plan.reset()
    elif fault == "never_ends":
        await _keep_alive(send, receive, KEEP_ALIVES[JSON], plan)
    elif fault == "stall":
        await asyncio.sleep(plan.stall_s)
        await _body(send, raw[len(half) :], more=False)


async def _send_stream(send: Send, receive: Receive, reply: StreamReply, plan: FaultPlan) -> None:
    await _start(send, 200, {"content-type": reply.media_type, "cache-control": "no-cache", **_encoding(plan.fault)})
    frames, fault, at = reply.frames, plan.fault, reply.first_text + plan.pieces_before
    if fault == "malformed":
        frames = frames[:at] + [b"data: {not json\n\n" if reply.media_type == SSE else b"{not json\n"]
    if fault == "stream_error":
        frames = frames[:at] + [reply.error_frame]
    for index, frame in enumerate(frames):
        if index == at:
            if fault == "broken_stream":
                return  # the server answers no more: the client sees the connection close mid-body
            if fault == "reset":
                await plan.reset()
                return
            if fault == "never_ends":
                await _keep_alive(send, receive, reply.keep_alive or KEEP_ALIVES[reply.media_type], plan)
                return
            if fault == "stall":
                await asyncio.sleep(plan.stall_s)
        await _body(send, frame, more=True)
    await _body(send, b"", more=False)


def _encoding(fault: Fault) -> dict[str, str]:
    """A corrupt gzip body: the answer says it is gzip-encoded but is sent as it is."""
    return {"content-encoding": "gzip"} if fault == "corrupt_gzip" else {}


async def _keep_alive(send: Send, receive: Receive, frame: bytes, plan: FaultPlan) -> None:
    """Send keep-alives every `keepalive_s` until the client goes away (or the test is over): the body never ends."""
    gone = asyncio.ensure_future(receive())  # the request was read: the next message is the client's disconnect
    try:
        while plan.current() and not gone.done():
            await _body(send, frame, more=True)
            await asyncio.wait([gone], timeout=plan.keepalive_s)
    finally:
        gone.cancel()


async def _body(send: Send, data: bytes, *, more: bool) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": more})


async def _start(send: Send, status: int, headers: dict[str, str]) -> None:
    raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
