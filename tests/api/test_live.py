"""The live feed over a real websocket: catch-up, then live; slow clients are cut off, not buffered."""

from __future__ import annotations

import base64
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import pytest
import websockets

from backend.audit import live
from backend.audit.events import ServiceStarted
from backend.services import build_registry
from backend.settings import Settings
from events import Metadata, SQLiteEventStore

pytestmark = pytest.mark.anyio
WRITER = Metadata(actor="test-writer")


@contextmanager
def stalled_reader(base: str) -> Iterator[socket.socket]:
    """A live feed opened by hand on a socket with a 64 KiB receive buffer, then not read: the server's writes
    block once the buffers are full (a client library would keep reading into its own queue)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.socket() as reader:
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        reader.connect((host, int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        reader.sendall(
            f"GET /api/v1/live?after=0 HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += reader.recv(1)
        assert answer.startswith(b"HTTP/1.1 101"), answer
        yield reader


def read_until_closed(reader: socket.socket) -> tuple[list[int], int | None]:
    """Read the server's frames to the end: the positions of the text frames, and the close frame's code."""
    stream = reader.makefile("rb")
    positions: list[int] = []
    while header := stream.read(2):
        opcode, length = header[0] & 0x0F, header[1] & 0x7F
        if length >= 126:
            length = int.from_bytes(stream.read(2 if length == 126 else 8), "big")
        payload = stream.read(length)
        if opcode == 0x8:
            return positions, int.from_bytes(payload[:2], "big")
        positions.append(json.loads(payload)["position"])
    return positions, None


def ws_url(base: str, after: int) -> str:
    return base.replace("http", "ws", 1) + f"/api/v1/live?after={after}"


async def test_catch_up_then_live(served: str, settings: Settings) -> None:
    async with (
        SQLiteEventStore.open(settings.database_path, registry=build_registry()) as store,
        websockets.connect(ws_url(served, 0)) as socket,
    ):
        first = json.loads(await socket.recv())
        assert (first["position"], first["type"]) == (1, "ServiceStarted")
        await store.append("elsewhere", [ServiceStarted(version="x", data_dir="/d")], metadata=WRITER)
        with anyio.fail_after(5):
            second = json.loads(await socket.recv())
        assert second["position"] == 2 and second["actor"] == "test-writer"
        assert second["stream_id"] == "elsewhere"


async def test_starts_after_the_given_position(served: str, settings: Settings) -> None:
    async with SQLiteEventStore.open(settings.database_path, registry=build_registry()) as store:
        for n in range(3):
            await store.append("s", [ServiceStarted(version=str(n), data_dir="/d")], metadata=WRITER)
        async with websockets.connect(ws_url(served, 2)) as socket:
            positions = [json.loads(await socket.recv())["position"] for _ in range(2)]
    assert positions == [3, 4]


async def test_a_fast_reader_catches_up_on_20000_events_in_order_once_each(served: str, settings: Settings) -> None:
    total = 20_000
    async with SQLiteEventStore.open(settings.database_path, registry=build_registry()) as store:
        for start in range(0, total, 1000):
            batch = [ServiceStarted(version=str(n), data_dir="/d") for n in range(start, start + 1000)]
            await store.append("bulk", batch, metadata=WRITER)
    seen: list[int] = []
    with anyio.fail_after(120):
        async with websockets.connect(ws_url(served, 0)) as socket:
            while len(seen) < total + 1:
                seen.append(json.loads(await socket.recv())["position"])
            assert socket.close_code is None
    assert seen == list(range(1, total + 2))


async def test_a_reader_that_stops_reading_is_closed_and_resumes_without_gaps(
    served: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "LIVE_BUFFER", 8)
    monkeypatch.setattr(live, "STALL_S", 0.5)
    total = 1500
    async with SQLiteEventStore.open(settings.database_path, registry=build_registry()) as store:
        for start in range(0, total, 250):
            batch = [ServiceStarted(version=str(n), data_dir="x" * 8000) for n in range(start, start + 250)]
            await store.append("bulk", batch, metadata=WRITER)
    with stalled_reader(served) as reader:
        await anyio.sleep(2.0)  # the reader takes nothing for longer than STALL_S while 12 MB wait for it
        positions, close_code = await anyio.to_thread.run_sync(read_until_closed, reader)
    assert close_code == live.TRY_AGAIN_LATER
    assert positions == list(range(1, len(positions) + 1)) and len(positions) < total + 1
    async with websockets.connect(ws_url(served, positions[-1])) as socket:
        rest = [json.loads(await socket.recv())["position"] for _ in range(total + 1 - len(positions))]
    assert positions + rest == list(range(1, total + 2))
