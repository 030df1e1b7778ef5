"""The live feed: a websocket that replays the log after a position, then follows it.

Frames wait for the socket: the subscription reads the log a page at a time, so a client catching up on any
number of events holds at most LIVE_BUFFER frames and a page in memory. A client that takes no frame for
STALL_S while frames wait for it has stopped reading or fallen behind: it is disconnected (close code 1013)
and reconnects with the last position it saw.
"""

from __future__ import annotations

from typing import Annotated

import anyio
import msgspec
from anyio.streams.memory import MemoryObjectSendStream
from litestar import WebSocket, websocket
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketDisconnect
from litestar.params import QueryParameter

from backend.audit.schemas import MAX_POSITION, event_out
from backend.auth.events import TokenRevoked
from backend.auth.guard import CLOSE_UNAUTHENTICATED, authenticate
from backend.services import Services

LIVE_BUFFER = 1000
STALL_S = 10.0
"""How long the buffer may stay full before the client counts as too slow."""
CLOSE_WAIT_S = 5.0
"""How long a close frame may wait for a client that is not reading."""
REVOKED = TokenRevoked.__name__
TRY_AGAIN_LATER = 1013


class _Ending:
    """Why the feed stops on its own: the client fell behind, or its token was revoked."""

    def __init__(self) -> None:
        self.revoked = False


async def _forward(
    services: Services,
    socket: WebSocket,
    after: int,
    frames: MemoryObjectSendStream[tuple[int, str]],
    ending: _Ending,
    scope: anyio.CancelScope,
) -> None:
    """Feed (position, JSON) pairs into the bounded buffer, waiting while it is full; return when it stays full
    for STALL_S (then `scope`, sending to the client, is cancelled too), or when a revocation leaves the
    socket's token (or cookie) no longer accepted."""
    async with frames:
        async for stored in services.store.subscribe(after=after):
            if stored.type == REVOKED and await authenticate(socket, services.tokens) is None:
                ending.revoked = True
                return
            names = await services.names.at(stored.position)
            frame = msgspec.json.encode(event_out(stored, services.registry, names)).decode()
            with anyio.move_on_after(STALL_S):
                await frames.send((stored.position, frame))
                continue
            scope.cancel()
            return


async def _wait_for_disconnect(socket: WebSocket, scope: anyio.CancelScope) -> None:
    try:
        while True:
            await socket.receive_data(mode="text")
    except WebSocketDisconnect:
        pass
    scope.cancel()


@websocket("/api/v1/live")
async def live_feed(
    socket: WebSocket,
    services: NamedDependency[Services],
    after: Annotated[int, QueryParameter(ge=0, le=MAX_POSITION)] = 0,
) -> None:
    """Send every event after `after` as one JSON text frame each, then follow the log."""
    await socket.accept()
    frames_in, frames_out = anyio.create_memory_object_stream[tuple[int, str]](LIVE_BUFFER)
    last_sent = after
    ending = _Ending()
    async with anyio.create_task_group() as group:
        group.start_soon(_wait_for_disconnect, socket, group.cancel_scope)
        group.start_soon(_forward, services, socket, after, frames_in, ending, group.cancel_scope)
        async with frames_out:
            async for position, frame in frames_out:
                await socket.send_text(frame)
                last_sent = position
        group.cancel_scope.cancel()
    if socket.connection_state == "disconnect":
        return
    with anyio.move_on_after(CLOSE_WAIT_S):
        if ending.revoked:
            await socket.close(code=CLOSE_UNAUTHENTICATED, reason="token revoked")
        else:
            await socket.close(code=TRY_AGAIN_LATER, reason=f"too slow; reconnect with after={last_sent}")
