"""What the chat view holds and does: the session's totals and agents, the chosen agent's transcript, the answer
streaming in, stop and retry, and the dialogs that add an agent or change an agent's model."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

import reflex as rx

from frontend import instances_api, sessions_api
from frontend.api import Client
from frontend.auth import client_for
from frontend.forms import REQUEST_FAILURES, describe_failure
from frontend.live import LiveState, react_to
from frontend.money import tokens, usd
from frontend.pages.instances_state import shown_time
from frontend.pages.model_picker import ModelPicker
from frontend.pages.sessions import SESSION_EVENTS, total_cost
from frontend.words import plural


@dataclass
class AgentRow:
    id: str
    name: str
    model: str
    instance_id: str
    instance: str
    status: str
    totals: str  # "3 turns · $0.0120"


@dataclass
class EntryRow:
    """One transcript entry: the user's text, or a turn with what it used and cost. `retry_text` is the message a
    failed turn answered, sent again by Retry."""

    position: int
    kind: str
    text: str
    at: str
    actor: str
    outcome: str = ""
    model: str = ""
    instance: str = ""
    usage: str = ""
    cost: str = ""
    ttft: str = ""
    error_outcome: str = ""  # the failure's code, shown in words
    problem: str = ""  # what the provider said
    retry_text: str = ""


def turn_cost(turn: sessions_api.Turn) -> str:
    if turn.cost_usd is None:
        return "price unknown"
    return "free" if turn.price_status == "free" else usd(turn.cost_usd)


def millis(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} ms"


def entry_rows(messages: list[sessions_api.Message], instance_names: dict[str, str]) -> list[EntryRow]:
    rows: list[EntryRow] = []
    last_user = ""
    for message in messages:
        row = EntryRow(
            message.position,
            message.kind,
            message.text,
            shown_time(message.at),
            message.actor,
        )
        turn = message.turn
        if message.kind == "user":
            last_user = message.text
        elif turn is not None:
            row.text = turn.text or message.text
            row.outcome = turn.outcome
            row.model = turn.model_id
            row.instance = instance_names.get(turn.instance_id, turn.instance_id)
            row.usage = f"{tokens(turn.input_tokens)} in · {tokens(turn.output_tokens)} out"
            row.cost = turn_cost(turn)
            row.ttft = millis(turn.ttft_ms)
            row.error_outcome, row.problem = turn.error_outcome or "", turn.message or ""
            row.retry_text = last_user if turn.outcome != "completed" else ""
        rows.append(row)
    return rows


def agent_row(agent: sessions_api.Agent, instance_names: dict[str, str]) -> AgentRow:
    instance_id = agent.instance_id or ""
    return AgentRow(
        id=agent.id,
        name=agent.name,
        model=agent.model_id,
        instance_id=instance_id,
        instance=agent.instance_name or instance_names.get(instance_id, "instance deleted"),
        status=agent.status,
        totals=f"{plural(agent.turns, 'turn')} · {usd(agent.cost_usd)}",
    )


class ChatState(rx.State):
    """The open session: totals, agents, the chosen agent's transcript, and the turn being streamed."""

    session_id: str = ""
    name: str = ""
    version: int = 0
    totals: str = ""
    agents: list[AgentRow] = []
    agent_id: str = ""
    rows: list[EntryRow] = []
    sending: bool = False
    started: bool = False  # the server took the turn being sent: it can be stopped
    pending_text: str = ""  # the message being answered, until the transcript has it
    streaming_text: str = ""
    error: str = ""
    loaded: bool = False
    _seen_position: int = 0  # the newest live event of this session already reloaded for

    @rx.var
    def agent_name(self) -> str:
        return next((agent.name for agent in self.agents if agent.id == self.agent_id), "")

    @rx.var
    def agent_model(self) -> str:
        return next(
            (f"{a.model} · {a.instance}" for a in self.agents if a.id == self.agent_id),
            "",
        )

    @rx.event
    async def load(self) -> None:
        self.session_id = parse_qs(self.router.url.query).get("id", [""])[0]
        self._forget_shown()
        await self._reload(client_for(self))

    def _forget_shown(self) -> None:
        """Nothing of the session shown before stays on screen while (or if) this one fails to load."""
        self.name, self.totals, self.version, self.agents, self.agent_id, self.rows = "", "", 0, [], "", []
        self.loaded, self.error, self.streaming_text, self.pending_text = False, "", "", ""
        self._seen_position = 0

    async def _reload(self, client: Client) -> None:
        if not self.session_id:
            self.error = "No session chosen: open one from the Sessions page."
            return
        try:
            session = await sessions_api.get_session(client, self.session_id)
            names = {i.id: i.name for i in await instances_api.list_instances(client)}
            if not any(agent.id == self.agent_id for agent in session.agents):
                self.agent_id = session.agents[0].id if session.agents else ""
            messages = await sessions_api.transcript(client, self.session_id, self.agent_id) if self.agent_id else []
        except REQUEST_FAILURES as failure:
            self.error = describe_failure(failure)
            return
        self.name, self.version = session.name, session.version
        self.totals = " · ".join((
            plural(session.turns, "turn"), f"{tokens(session.input_tokens)} in", f"{tokens(session.output_tokens)} out",
            total_cost(session.cost_usd, session.unknown_cost_turns),
        ))
        self.agents = [agent_row(agent, names) for agent in session.agents]
        self.rows = entry_rows(messages, names)
        if self.pending_text and any(row.kind == "user" and row.text == self.pending_text for row in self.rows[-2:]):
            self.pending_text = ""
        self.loaded = True

    @rx.event
    async def choose_agent(self, agent_id: str) -> None:
        if not self.sending:
            self.agent_id = agent_id
            await self._reload(client_for(self))

    @rx.event
    async def follow_live(self) -> None:
        """Reload when the live feed brought an event of this session (another tab's message or turn)."""
        if not self.session_id or self.sending:
            return
        live = await self.get_state(LiveState)
        stream = f"session-{self.session_id}"
        newest = max((row.position for row in live.rows if row.stream == stream), default=0)
        if newest > self._seen_position:
            self._seen_position = newest
            await self._reload(client_for(self))

    @rx.event
    def submit(self, form: dict[str, str]) -> rx.event.EventSpec | None:
        text = form.get("text", "").strip()
        return ChatState.send(text) if text else None

    @rx.event(background=True)
    async def send(self, text: str) -> None:
        """Send `text` to the chosen agent and show the answer as it streams; then reload the transcript."""
        async with self:
            if self.sending or not self.agent_id:
                return
            self.sending, self.pending_text, self.streaming_text, self.error = (
                True,
                text,
                "",
                "",
            )
            session_id, agent_id = self.session_id, self.agent_id
        client = client_for(self)
        try:
            async for piece in sessions_api.send_message(client, session_id, agent_id, text):
                if isinstance(piece, str):
                    async with self:
                        self.started, self.streaming_text = (
                            True,
                            self.streaming_text + piece,
                        )
        except REQUEST_FAILURES as failure:
            async with self:
                self.error = describe_failure(failure)
        finally:
            async with self:
                self.sending, self.started, self.streaming_text = False, False, ""
                await self._reload(client)
                if self.error:
                    self.pending_text = ""

    @rx.event
    async def stop(self) -> None:
        try:
            await sessions_api.cancel_turn(client_for(self), self.session_id, self.agent_id)
        except REQUEST_FAILURES as failure:
            self.error = describe_failure(failure)


class AddAgentState(ModelPicker, rx.State):
    """The Add agent dialog: a name, and the instance and model the agent talks to."""

    @rx.event
    async def open_add(self) -> None:
        await self._open_picker(client_for(self), "", "")

    @rx.event
    async def add(self, form: dict[str, str]) -> None:
        chat = await self.get_state(ChatState)
        try:
            session = await sessions_api.add_agent(
                client_for(self),
                chat.session_id,
                form.get("name", "").strip(),
                self.instance_id,
                self.model_id,
            )
        except REQUEST_FAILURES as failure:
            self._refused(failure, ("name",))
            return
        self.is_open = False
        chat.agent_id = session.agents[-1].id if session.agents else chat.agent_id
        await chat._reload(client_for(self))


class SwitchModelState(ModelPicker, rx.State):
    """The Change model dialog: the chosen agent's next turns go to another instance or model."""

    @rx.event
    async def open_switch(self) -> None:
        chat = await self.get_state(ChatState)
        agent = next((agent for agent in chat.agents if agent.id == chat.agent_id), None)
        await self._open_picker(
            client_for(self),
            agent.instance_id if agent else "",
            agent.model if agent else "",
        )

    @rx.event
    async def apply(self) -> None:
        chat = await self.get_state(ChatState)
        try:
            await sessions_api.change_agent_model(
                client_for(self),
                chat.session_id,
                chat.agent_id,
                chat.version,
                self.instance_id,
                self.model_id,
            )
        except REQUEST_FAILURES as failure:
            self._refused(failure, ())
            return
        self.is_open = False
        await chat._reload(client_for(self))


react_to(SESSION_EVENTS, ChatState.follow_live)
