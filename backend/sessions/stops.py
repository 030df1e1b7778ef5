"""Stop for a turn that another replica runs: the request is recorded in the log (`TurnStopRequested`), and the
replica running the turn, following the log, cancels it as a local Stop would. The caller is answered the turn's
end when it is recorded within a short wait, else that the stop was requested.
"""

from __future__ import annotations

import logging
from contextlib import aclosing

import anyio

from backend.errors import Conflict
from backend.sessions.events import STREAM_PREFIX, TurnStopRequested, turn_end_id, turn_stop_id
from backend.sessions.schemas import StopRequested
from backend.sessions.service import Sessions, agent_of
from backend.sessions.view import TurnOut
from events import Metadata, StoredEvent
from events.event import type_name

log = logging.getLogger(__name__)
FOLLOWER_NAME = "stop requests"  # how health names this follower of the log when it stopped on an error
STOP_TYPE = type_name(TurnStopRequested)


async def request_stop(sessions: Sessions, session_id: str, agent_id: str, metadata: Metadata) -> TurnOut | StopRequested:
    """Record a stop request for the agent's open turn (409 when the log shows none open), then wait for the turn's
    end: the end as recorded, or `StopRequested` when none came within `sessions.stop_wait_s`."""
    head = await sessions.store.head()
    row = await sessions.row(session_id)
    started = row.open_turns.get(agent_id)
    if started is None:
        raise Conflict(f"agent {agent_of(row.session, agent_id).name!r} has no turn in progress")
    turn_id = started.turn_id
    request = TurnStopRequested(agent_id=agent_id, turn_id=turn_id)
    await sessions.append(session_id, [request], metadata, event_ids=[turn_stop_id(turn_id)])
    if await _end_recorded(sessions, turn_id, after=head):
        recorded = await sessions.view.turn(sessions.store, session_id, turn_id)
        if recorded is not None:
            return recorded
    return StopRequested(turn_id=turn_id, message=(
        f"turn {turn_id} runs on another replica, which has not recorded its end yet: it stops there, or, if that "
        "replica stopped, it is recorded as interrupted once its lease runs out"))


async def _end_recorded(sessions: Sessions, turn_id: str, *, after: int) -> bool:
    """Whether the turn's end is appended after position `after` within the wait (read as the log goes on)."""
    end_id = turn_end_id(turn_id)
    with anyio.move_on_after(sessions.stop_wait_s):
        async with aclosing(sessions.store.subscribe_batches(after)) as batches:
            async for batch in batches:
                if any(stored.event_id == end_id for stored in batch):
                    return True
    return False


async def follow_stop_requests(sessions: Sessions) -> None:
    """Cancel each turn running here that a stop request recorded after now names; runs until cancelled (an error
    is reported in the store's `followers`, as health shows)."""
    store = sessions.store
    try:
        async for batch in store.subscribe_batches(await store.head()):
            for stored in batch:
                if stored.type == STOP_TYPE:  # the type is read before anything is decoded: most events are not
                    stop_running(sessions, stored)
    except Exception as error:
        log.exception("stop requests are no longer followed")
        store.followers.failed(FOLLOWER_NAME, error)


def stop_running(sessions: Sessions, stored: StoredEvent) -> None:
    """Cancel the turn a stop request names, when it runs here (its end is recorded by the turn itself)."""
    request = sessions.store.registry.decode(stored)
    if not isinstance(request, TurnStopRequested):
        return
    running = sessions.running.get((stored.stream_id.removeprefix(STREAM_PREFIX), request.agent_id))
    if running is not None and running.turn_id == request.turn_id:
        running.scope.cancel()
