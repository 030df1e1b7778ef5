"""The session views, updated inside each append: one row per session (agents, totals) and the transcripts.

Both tables hold the exact shapes the API answers with; what depends on the instances now (an instance's
name, a deleted instance) is filled in when read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Literal

import msgspec

from backend.catalog.schema import PriceStatus
from backend.providers.contract import Outcome
from backend.sessions.events import (
    STREAM_PREFIX,
    AgentCreated,
    AgentModelChanged,
    AgentRemoved,
    AgentSettingsChanged,
    MessageAdded,
    ModelChoice,
    Prices,
    SessionArchived,
    SessionCreated,
    SessionDefaultModelChanged,
    SessionRenamed,
    TurnCancelled,
    TurnCompleted,
    TurnEnded,
    TurnFailed,
    TurnInterrupted,
    TurnOutcome,
    TurnStarted,
)
from backend.sessions.pricing import PriceInForce, Tokens, cost_of
from events import Event, EventRegistry, EventStore, StoredEvent, ViewRow, table_rows
from events.sql import ViewTransaction

AgentStatus = Literal["ready", "running", "instance_deleted"]

SESSIONS = "session_view"
MESSAGES = "session_message"
CREATE = (
    f"""CREATE TABLE IF NOT EXISTS {SESSIONS} (
        session_id {{key_text}} PRIMARY KEY, last_activity {{key_text}} NOT NULL, open_turns INTEGER NOT NULL,
        body {{bytes}} NOT NULL
    ){{options}}""",
    f"""CREATE TABLE IF NOT EXISTS {MESSAGES} (
        session_id TEXT NOT NULL, agent_id TEXT NOT NULL, position BIGINT NOT NULL, body {{bytes}} NOT NULL,
        PRIMARY KEY (session_id, agent_id, position)){{options}}""",
    f"CREATE INDEX IF NOT EXISTS {SESSIONS}_activity ON {SESSIONS} (last_activity)",
    f"CREATE INDEX IF NOT EXISTS {MESSAGES}_position ON {MESSAGES} (position)",  # the cost report's time windows
)


class AgentView(msgspec.Struct, frozen=True, kw_only=True):
    """An agent as the API shows it; `instance_name` and `status` "instance_deleted" are set when read."""

    id: str
    name: str
    instance_id: str
    instance_name: str
    provider_id: str
    model_id: str
    system_prompt: str
    reasoning_effort: str | None
    max_tokens: int | None
    status: AgentStatus
    turns: int
    cost_usd: float


class SessionView(msgspec.Struct, frozen=True, kw_only=True):
    """A session with its agents and totals; `cost_usd` is the known part, `unknown_cost_turns` the rest."""

    id: str
    name: str
    default_instance_id: str
    default_provider_id: str
    default_model_id: str
    system_prompt: str
    archived: bool
    version: int
    agents: list[AgentView]
    turns: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    unknown_cost_turns: int
    created_at: datetime
    created_by: str
    last_activity: datetime


class TurnOut(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One turn as recorded: which model answered through which instance, tokens, prices, cost and times."""

    turn_id: str
    outcome: TurnOutcome
    model_id: str
    instance_id: str
    provider_id: str
    provider_type: str
    text: str
    finish_reason: str | None
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    prices: Prices
    cost_usd: float | None
    price_status: PriceStatus
    ttft_ms: float | None
    total_ms: float | None
    attempts: int
    error_outcome: Outcome | None = None
    message: str | None = None


class MessageOut(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    position: int
    kind: Literal["user", "turn"]
    text: str
    at: datetime
    actor: str
    turn: TurnOut | None = None


class SessionRow(msgspec.Struct, frozen=True, kw_only=True):
    """The stored row: the session as shown, and each agent's turn in flight (by agent id)."""

    session: SessionView
    open_turns: dict[str, TurnStarted] = {}


_OUTCOMES: dict[type[TurnEnded], TurnOutcome] = {
    TurnCompleted: "completed", TurnFailed: "failed", TurnCancelled: "cancelled",
}


def turn_out(event: TurnEnded) -> TurnOut:
    failed = event if isinstance(event, TurnFailed) else None
    return TurnOut(
        turn_id=event.turn_id, outcome=_OUTCOMES[type(event)], model_id=event.model_id,
        instance_id=event.instance_id, provider_id=event.provider_id, provider_type=event.provider_type,
        text=event.text, finish_reason=event.finish_reason, input_tokens=event.input_tokens,
        output_tokens=event.output_tokens, cache_read_tokens=event.cache_read_tokens,
        cache_write_tokens=event.cache_write_tokens, prices=event.prices, cost_usd=event.cost_usd,
        price_status=event.price_status, ttft_ms=event.ttft_ms, total_ms=event.total_ms, attempts=event.attempts,
        error_outcome=failed.error_outcome if failed else None, message=failed.message if failed else None,
    )


def interrupted_out(started: TurnStarted) -> TurnOut:
    """An interrupted turn: nothing of its answer or usage was recorded."""
    return TurnOut(
        turn_id=started.turn_id, outcome="interrupted", model_id=started.model_id,
        instance_id=started.instance_id, provider_id=started.provider_id, provider_type=started.provider_type,
        text="", finish_reason=None, input_tokens=0, output_tokens=0, cache_read_tokens=0, cache_write_tokens=0,
        prices=started.prices, price_status=started.price_status,
        cost_usd=cost_of(Tokens(0, 0, 0, 0), PriceInForce(started.prices, started.price_status), started.provider_type),
        ttft_ms=None, total_ms=None, attempts=1,
        message="the server stopped during this turn",
    )


def _agent(event: AgentCreated) -> AgentView:
    return AgentView(
        id=event.agent_id, name=event.name, instance_id=event.choice.instance_id, instance_name="",
        provider_id=event.choice.provider_id, model_id=event.choice.model_id, system_prompt=event.system_prompt,
        reasoning_effort=event.reasoning_effort, max_tokens=event.max_tokens, status="ready", turns=0, cost_usd=0.0,
    )


def _created(event: SessionCreated, stored: StoredEvent) -> SessionView:
    return SessionView(
        id=event.session_id, name=event.name, default_instance_id=event.default.instance_id,
        default_provider_id=event.default.provider_id, default_model_id=event.default.model_id,
        system_prompt=event.system_prompt, archived=False, version=stored.version, agents=[], turns=0,
        input_tokens=0, output_tokens=0, cost_usd=0.0, unknown_cost_turns=0,
        created_at=stored.recorded_at, created_by=stored.metadata.actor, last_activity=stored.recorded_at,
    )


def _with_choice(agent: AgentView, choice: ModelChoice) -> AgentView:
    return msgspec.structs.replace(
        agent, instance_id=choice.instance_id, provider_id=choice.provider_id, model_id=choice.model_id
    )


def _map_agent(session: SessionView, agent_id: str, change: Callable[[AgentView], AgentView]) -> SessionView:
    """The session with agent `agent_id` replaced by `change(agent)`."""
    agents = [change(agent) if agent.id == agent_id else agent for agent in session.agents]
    return msgspec.structs.replace(session, agents=agents)


def _ended(row: SessionRow, out: TurnOut, agent_id: str) -> SessionRow:
    session = row.session
    known = out.cost_usd or 0.0
    session = _map_agent(session, agent_id, lambda agent: msgspec.structs.replace(
        agent, status="ready", turns=agent.turns + 1, cost_usd=round(agent.cost_usd + known, 10)))
    session = msgspec.structs.replace(
        session, turns=session.turns + 1, input_tokens=session.input_tokens + out.input_tokens,
        output_tokens=session.output_tokens + out.output_tokens, cost_usd=round(session.cost_usd + known, 10),
        unknown_cost_turns=session.unknown_cost_turns + (out.cost_usd is None),
    )
    open_turns = {key: value for key, value in row.open_turns.items() if key != agent_id}
    return SessionRow(session=session, open_turns=open_turns)


Entry = tuple[str, int, MessageOut]  # agent id, position, transcript entry


def evolve(row: SessionRow | None, event: Event, stored: StoredEvent) -> tuple[SessionRow | None, list[Entry]]:
    """The row after one event, and the transcript entries it adds."""
    if isinstance(event, SessionCreated):
        return SessionRow(session=_created(event, stored)), []
    if row is None:
        return None, []
    session = msgspec.structs.replace(row.session, version=stored.version, last_activity=stored.recorded_at)
    return _apply(msgspec.structs.replace(row, session=session), event, stored)


def _apply(row: SessionRow, event: Event, stored: StoredEvent) -> tuple[SessionRow, list[Entry]]:
    session = row.session
    entry = _entry(event, stored, row)
    if isinstance(event, TurnEnded | TurnInterrupted):
        assert entry is not None and entry[2].turn is not None
        return _ended(row, entry[2].turn, event.agent_id), [entry]
    if isinstance(event, MessageAdded):
        assert entry is not None
        return row, [entry]
    if isinstance(event, TurnStarted):
        session = _map_agent(session, event.agent_id, lambda agent: msgspec.structs.replace(agent, status="running"))
        return SessionRow(session=session, open_turns={**row.open_turns, event.agent_id: event}), []
    return msgspec.structs.replace(row, session=_changed(session, event)), []


def _entry(event: Event, stored: StoredEvent, row: SessionRow) -> Entry | None:
    at, actor = stored.recorded_at, stored.metadata.actor
    if isinstance(event, MessageAdded):
        return event.agent_id, stored.position, MessageOut(
            position=stored.position, kind="user", text=event.text, at=at, actor=actor)
    if isinstance(event, TurnEnded):
        out = turn_out(event)
    elif isinstance(event, TurnInterrupted) and event.agent_id in row.open_turns:
        out = interrupted_out(row.open_turns[event.agent_id])
    else:
        return None
    return event.agent_id, stored.position, MessageOut(
        position=stored.position, kind="turn", text=out.text, at=at, actor=actor, turn=out)


def _changed(session: SessionView, event: Event) -> SessionView:
    if isinstance(event, SessionRenamed):
        return msgspec.structs.replace(session, name=event.name)
    if isinstance(event, SessionArchived):
        return msgspec.structs.replace(session, archived=True)
    if isinstance(event, SessionDefaultModelChanged):
        after = event.after
        return msgspec.structs.replace(
            session, default_instance_id=after.instance_id, default_provider_id=after.provider_id,
            default_model_id=after.model_id)
    if isinstance(event, AgentCreated):
        return msgspec.structs.replace(session, agents=[*session.agents, _agent(event)])
    if isinstance(event, AgentModelChanged):
        return _map_agent(session, event.agent_id, lambda agent: _with_choice(agent, event.after))
    if isinstance(event, AgentSettingsChanged):
        changes = {name: value for name, value in msgspec.structs.asdict(event.after).items() if value is not msgspec.UNSET}
        return _map_agent(session, event.agent_id, lambda agent: msgspec.structs.replace(agent, **changes))
    if isinstance(event, AgentRemoved):
        return msgspec.structs.replace(session, agents=[agent for agent in session.agents if agent.id != event.agent_id])
    return session


_row_encoder = msgspec.json.Encoder()
_row_decoder = msgspec.json.Decoder(SessionRow)
_message_decoder = msgspec.json.Decoder(MessageOut)


def _session_id(stream_id: str) -> str:
    return stream_id.removeprefix(STREAM_PREFIX)


class SessionListView:
    """The inline view of sessions and their transcripts."""

    name = "sessions"
    version = 1

    def __init__(self, registry: EventRegistry) -> None:
        self._registry = registry

    async def create(self, tx: ViewTransaction) -> None:
        dialect = tx.dialect
        for statement in CREATE:
            await tx.execute(statement.format(bytes=dialect.bytes_type, key_text=dialect.key_text, options=dialect.table_options))

    async def reset(self, tx: ViewTransaction) -> None:
        await tx.execute(f"DELETE FROM {SESSIONS}")
        await tx.execute(f"DELETE FROM {MESSAGES}")

    async def rows(self, tx: ViewTransaction) -> list[ViewRow]:
        return await table_rows(tx, SESSIONS, MESSAGES)

    async def apply(self, tx: ViewTransaction, events: Sequence[StoredEvent]) -> None:
        mine = [stored for stored in events if stored.stream_id.startswith(STREAM_PREFIX)]
        if not mine:
            return
        ids = sorted({_session_id(stored.stream_id) for stored in mine})
        marks = ",".join("?" * len(ids))
        found = await tx.fetch(f"SELECT session_id, body FROM {SESSIONS} WHERE session_id IN ({marks})", ids)
        rows: dict[str, SessionRow | None] = {str(sid): _row_decoder.decode(body) for sid, body in found}
        entries: list[tuple[str, str, int, bytes]] = []
        for stored in mine:
            session_id = _session_id(stored.stream_id)
            row, added = evolve(rows.get(session_id), self._registry.decode(stored), stored)
            rows[session_id] = row
            entries += [(session_id, agent, position, _row_encoder.encode(out)) for agent, position, out in added]
        kept = [
            (sid, row.session.last_activity.isoformat(), len(row.open_turns), _row_encoder.encode(row))
            for sid, row in rows.items() if row is not None
        ]
        await tx.execute_many(
            f"INSERT INTO {SESSIONS} (session_id, last_activity, open_turns, body) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (session_id) DO UPDATE SET last_activity = excluded.last_activity, "
            "open_turns = excluded.open_turns, body = excluded.body", kept)
        await tx.execute_many(f"INSERT INTO {MESSAGES} (session_id, agent_id, position, body) VALUES (?, ?, ?, ?)", entries)

    async def get(self, store: EventStore, session_id: str) -> SessionRow | None:
        rows = await store.fetch(f"SELECT body FROM {SESSIONS} WHERE session_id = ?", (session_id,))
        return _row_decoder.decode(rows[0][0]) if rows else None

    async def page(self, store: EventStore, limit: int, offset: int) -> list[SessionRow]:
        """Sessions, the most recently active first."""
        rows = await store.fetch(
            f"SELECT body FROM {SESSIONS} ORDER BY last_activity DESC, session_id LIMIT ? OFFSET ?", (limit, offset))
        return [_row_decoder.decode(row[0]) for row in rows]

    async def all(self, store: EventStore) -> list[SessionRow]:
        rows = await store.fetch(f"SELECT body FROM {SESSIONS}", ())
        return [_row_decoder.decode(row[0]) for row in rows]

    async def with_open_turns(self, store: EventStore) -> list[SessionRow]:
        """The sessions with a turn started and not ended."""
        rows = await store.fetch(f"SELECT body FROM {SESSIONS} WHERE open_turns > 0", ())
        return [_row_decoder.decode(row[0]) for row in rows]

    async def transcript(self, store: EventStore, session_id: str, agent_id: str) -> list[MessageOut]:
        rows = await store.fetch(
            f"SELECT body FROM {MESSAGES} WHERE session_id = ? AND agent_id = ? ORDER BY position", (session_id, agent_id))
        return [_message_decoder.decode(row[0]) for row in rows]

    async def turns(self, store: EventStore, session_id: str) -> list[TurnOut]:
        rows = await store.fetch(f"SELECT body FROM {MESSAGES} WHERE session_id = ? ORDER BY position", (session_id,))
        messages = [_message_decoder.decode(row[0]) for row in rows]
        return [message.turn for message in messages if message.turn is not None]

    async def turn(self, store: EventStore, session_id: str, turn_id: str) -> TurnOut | None:
        """One ended turn as recorded; None while it has no end."""
        return next((turn for turn in await self.turns(store, session_id) if turn.turn_id == turn_id), None)
