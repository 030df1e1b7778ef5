"""What every session command needs: the store, the view, the instances, the catalog, the turns in flight and
their leases."""

from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

import anyio
import httpx
import msgspec
from anyio.abc import TaskGroup

from backend.errors import Conflict, NotFound
from backend.instances.service import Instances
from backend.sessions.events import stream_of
from backend.sessions.leases import TurnLeases
from backend.sessions.view import (
    AgentView,
    SessionListView,
    SessionRow,
    SessionView,
    TurnOut,
)
from events import AppendResult, ConcurrencyConflict, Event, Metadata

log = logging.getLogger(__name__)


@dataclass
class RunningTurn:
    """A turn in flight: cancelling its scope closes the upstream stream; `ended` is set once it is recorded;
    `lost` once its lease was taken by another replica (it is then recorded as interrupted)."""

    turn_id: str
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    ended: anyio.Event = field(default_factory=anyio.Event)
    out: TurnOut | None = None
    lost: bool = False


class Sessions:
    """The sessions domain's dependencies, the turns running in this process, and the steps commands share."""

    def __init__(
        self,
        view: SessionListView,
        instances: Instances,
        turns: TaskGroup,
        clients: Sequence[httpx.AsyncClient],
        leases: TurnLeases,
        stop_wait_s: float,
    ) -> None:
        self.store = instances.store
        self.view = view
        self.instances = instances
        self.catalog = instances.catalog
        self.turns = turns  # runs each turn's upstream exchange, apart from the request that started it
        self.clients = clients  # the turns' HTTP clients, each session's turns always on the same one
        self.leases = leases  # this replica's claim on the turns it runs
        self.stop_wait_s = stop_wait_s  # how long a Stop for a turn another replica runs waits for its end
        self.running: dict[tuple[str, str], RunningTurn] = {}

    def client_for(self, session_id: str) -> httpx.AsyncClient:
        """The client a session's turns stream through (so that a turn finds the last one's connection)."""
        return self.clients[zlib.crc32(session_id.encode()) % len(self.clients)]

    def running_turn_ids(self) -> list[str]:
        return [running.turn_id for running in self.running.values()]

    def lose(self, turn_ids: set[str]) -> None:
        """Stop at once the turns here whose lease was not renewed: another replica may already have recorded them
        as interrupted, so streaming on would only spend tokens on an answer the log can no longer take."""
        for running in self.running.values():
            if running.turn_id in turn_ids and not running.ended.is_set():
                log.warning("turn %s lost its lease on this replica: stopping it", running.turn_id)
                running.lost = True
                running.scope.cancel()

    def lock(self, session_id: str) -> AbstractAsyncContextManager[None]:
        """Serialises the commands on one session across every replica, from reading its row to appending."""
        return self.store.lock(f"session:{session_id}")

    async def row(self, session_id: str) -> SessionRow:
        row = await self.view.get(self.store, session_id)
        if row is None:
            raise NotFound(f"no session {session_id!r}")
        return row

    async def session(self, session_id: str) -> SessionView:
        return (await self.shown([(await self.row(session_id)).session]))[0]

    async def shown(self, sessions: list[SessionView]) -> list[SessionView]:
        """The sessions with each agent's instance name, and "instance_deleted" for an instance that is gone."""
        names = await self.instance_names()
        return [
            msgspec.structs.replace(session, agents=[_shown(agent, names) for agent in session.agents])
            for session in sessions
        ]

    async def instance_names(self) -> dict[str, str]:
        """The live instances' names by id."""
        rows = await self.instances.view.all(self.store)
        return {row.instance.id: row.instance.name for row in rows}

    async def append(
        self,
        session_id: str,
        events: Sequence[Event],
        metadata: Metadata,
        *,
        expected_version: int | None = None,
        event_ids: Sequence[str] | None = None,
    ) -> AppendResult:
        try:
            return await self.store.append(
                stream_of(session_id), events, metadata=metadata, expected_version=expected_version, event_ids=event_ids
            )
        except ConcurrencyConflict as conflict:
            raise Conflict(
                f"session {session_id} is at version {conflict.actual}, not {conflict.expected}; read it again and retry"
            ) from None


def _shown(agent: AgentView, names: dict[str, str]) -> AgentView:
    name = names.get(agent.instance_id)
    if name is None:
        return msgspec.structs.replace(agent, instance_name="", status="instance_deleted")
    return msgspec.structs.replace(agent, instance_name=name)


def agent_of(session: SessionView, agent_id: str) -> AgentView:
    agent = next((agent for agent in session.agents if agent.id == agent_id), None)
    if agent is None:
        raise NotFound(f"no agent {agent_id!r} in session {session.id}")
    return agent
