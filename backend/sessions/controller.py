"""HTTP routes for sessions, agents and turns: parse, call one domain function, shape the answer."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import (
    FromPath,
    HeaderParameter,
    JSONBody,
    PathParameter,
    QueryParameter,
)
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from backend.context import parse_if_match
from backend.sessions.commands import (
    add_agent,
    create_session,
    remove_agent,
    update_agent,
    update_session,
)
from backend.sessions.costs import session_cost
from backend.sessions.schemas import (
    CreateAgent,
    CreateSession,
    SendMessage,
    SessionCost,
    StopRequested,
    TurnFrame,
    UpdateAgent,
    UpdateSession,
)
from backend.sessions.service import Sessions, agent_of
from backend.sessions.turns import cancel_turn, start_turn
from backend.sessions.view import MessageOut, SessionView, TurnOut
from events import Metadata

IfMatch = Annotated[
    str | None,
    HeaderParameter(name="if-match", description="The session version the change is based on; 409 when it moved on"),
]
SessionId = FromPath[Annotated[str, PathParameter(max_length=64)]]
AgentId = FromPath[Annotated[str, PathParameter(max_length=64)]]
SessionsDep = NamedDependency[Sessions]
RequestMetadata = NamedDependency[Metadata]
Limit = Annotated[int, QueryParameter(ge=1, le=500)]
Offset = Annotated[int, QueryParameter(ge=0, le=1_000_000_000)]


class SessionsController(Controller):
    path = "/api/v1/sessions"
    tags = ["sessions"]

    @get("/", summary="Sessions, the most recently active first (paged)")
    async def list_sessions(self, sessions: SessionsDep, limit: Limit = 100, offset: Offset = 0) -> list[SessionView]:
        rows = await sessions.view.page(sessions.store, limit, offset)
        return await sessions.shown([row.session for row in rows])

    @post("/", summary="Create a session with its first agent on an instance and model")
    async def create(self, sessions: SessionsDep, data: JSONBody[CreateSession], metadata: RequestMetadata) -> SessionView:
        return await create_session(sessions, data, metadata)

    @get("/{session_id:str}", summary="One session with its agents and totals")
    async def detail(self, sessions: SessionsDep, session_id: SessionId) -> SessionView:
        return await sessions.session(session_id)

    @patch("/{session_id:str}", summary="Rename, archive or change the default model (If-Match: <version>)")
    async def update(
        self, sessions: SessionsDep, session_id: SessionId, data: JSONBody[UpdateSession], metadata: RequestMetadata,
        if_match: IfMatch = None,
    ) -> SessionView:
        return await update_session(sessions, session_id, data, metadata, parse_if_match(if_match))

    @post("/{session_id:str}/agents", summary="Add an agent, on its own instance and model or the session's")
    async def create_agent(
        self, sessions: SessionsDep, session_id: SessionId, data: JSONBody[CreateAgent], metadata: RequestMetadata
    ) -> SessionView:
        return await add_agent(sessions, session_id, data, metadata)

    @patch("/{session_id:str}/agents/{agent_id:str}", summary="Change an agent's instance and model, or prompt (If-Match)")
    async def update_agent(
        self, sessions: SessionsDep, session_id: SessionId, agent_id: AgentId, data: JSONBody[UpdateAgent],
        metadata: RequestMetadata, if_match: IfMatch = None,
    ) -> SessionView:
        return await update_agent(sessions, session_id, agent_id, data, metadata, parse_if_match(if_match))

    @delete("/{session_id:str}/agents/{agent_id:str}", summary="Remove an agent", status_code=HTTP_204_NO_CONTENT)
    async def remove_agent(
        self, sessions: SessionsDep, session_id: SessionId, agent_id: AgentId, metadata: RequestMetadata
    ) -> None:
        await remove_agent(sessions, session_id, agent_id, metadata)

    @get("/{session_id:str}/agents/{agent_id:str}/messages", summary="The agent's transcript with per-turn usage and cost")
    async def transcript(self, sessions: SessionsDep, session_id: SessionId, agent_id: AgentId) -> list[MessageOut]:
        agent_of((await sessions.row(session_id)).session, agent_id)
        return await sessions.view.transcript(sessions.store, session_id, agent_id)

    @post(
        "/{session_id:str}/agents/{agent_id:str}/messages",
        summary="Send a message: text/event-stream of `delta` events, then one `turn` event",
        status_code=HTTP_200_OK,
        responses={200: ResponseSpec(TurnFrame, media_type="text/event-stream", description="`delta` events, then one `turn`")},
    )
    async def send(
        self, sessions: SessionsDep, session_id: SessionId, agent_id: AgentId, data: JSONBody[SendMessage],
        metadata: RequestMetadata,
    ) -> Stream:
        frames = await start_turn(sessions, session_id, agent_id, data, metadata)
        return Stream(frames, media_type="text/event-stream", headers={"cache-control": "no-store"})

    @post(
        "/{session_id:str}/agents/{agent_id:str}/cancel",
        summary="Cancel the agent's running turn, on whichever replica runs it",
        description=(
            "200 with the turn as recorded once it has ended (`cancelled`, with the text streamed so far). A turn "
            "that another replica runs is asked to stop through the log; 202 when that replica has not recorded its "
            "end within `SWITCHBOARD_TURN_STOP_WAIT_S` (a replica that died does not stop it: its lease runs out and "
            "it is interrupted). 409 when no turn is in progress."
        ),
        status_code=HTTP_200_OK,
        responses={
            HTTP_200_OK: ResponseSpec(TurnOut, description="The turn as recorded"),
            HTTP_202_ACCEPTED: ResponseSpec(StopRequested, description="Stop requested from the replica running it"),
        },
    )
    async def cancel(
        self, sessions: SessionsDep, session_id: SessionId, agent_id: AgentId, metadata: RequestMetadata
    ) -> Response[TurnOut | StopRequested]:
        answer = await cancel_turn(sessions, session_id, agent_id, metadata)
        return Response(answer, status_code=HTTP_202_ACCEPTED if isinstance(answer, StopRequested) else HTTP_200_OK)

    @get("/{session_id:str}/cost", summary="What the session cost, beside its cost at today's catalog prices")
    async def cost(
        self, sessions: SessionsDep, session_id: SessionId, prices: Annotated[Literal["current"], QueryParameter()] = "current"
    ) -> SessionCost:
        return await session_cost(sessions, session_id)
