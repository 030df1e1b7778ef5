"""Events on a session's stream (`session-<id>`): the session, its agents, every model choice and every turn.

A turn's end event keeps the tokens as the provider reported them and the four prices in force, so its cost
can always be recomputed.
"""

from __future__ import annotations

import uuid
from typing import Literal

import msgspec
from msgspec import UNSET, UnsetType

from backend.catalog.schema import PriceStatus
from backend.providers.contract import Outcome
from events import Event

STREAM_PREFIX = "session-"


TURN_END_NAMESPACE = uuid.UUID("0d6f3b52-7a41-4c8e-b1f9-2e5c8a7d4f60")
TURN_STOP_NAMESPACE = uuid.UUID("5b2e9c14-83d7-4f0a-9e61-c47a1d2b8f35")


def stream_of(session_id: str) -> str:
    return f"{STREAM_PREFIX}{session_id}"


def turn_end_id(turn_id: str) -> str:
    """The one event id every end of a turn is appended under (completed, failed, cancelled or interrupted), so
    that of two replicas racing to close a turn only one stores its end; the other's append is a duplicate."""
    return str(uuid.uuid5(TURN_END_NAMESPACE, turn_id))


def turn_stop_id(turn_id: str) -> str:
    """The one event id a stop request for a turn is appended under: asking again stores nothing more."""
    return str(uuid.uuid5(TURN_STOP_NAMESPACE, turn_id))


class Prices(msgspec.Struct, frozen=True, kw_only=True):
    """USD per 1M tokens in force for a turn; None when nobody knows the price."""

    input: float | None
    output: float | None
    cache_read: float | None
    cache_write: float | None


class ModelChoice(msgspec.Struct, frozen=True, kw_only=True):
    """An instance and one of the models it offers."""

    instance_id: str
    provider_id: str
    model_id: str


class SessionCreated(Event, frozen=True, kw_only=True):
    session_id: str
    name: str
    default: ModelChoice
    system_prompt: str

    def summary(self) -> str:
        return f"Session {self.name!r} created on {self.default.model_id} through instance {self.default.instance_id}"


class SessionRenamed(Event, frozen=True, kw_only=True):
    name: str
    previous_name: str

    def summary(self) -> str:
        return f"Session renamed from {self.previous_name!r} to {self.name!r}"


class SessionArchived(Event, frozen=True, kw_only=True):
    def summary(self) -> str:
        return "Session archived"


class SessionDefaultModelChanged(Event, frozen=True, kw_only=True):
    before: ModelChoice
    after: ModelChoice

    def summary(self) -> str:
        return (
            f"Session default model changed from {self.before.model_id} to {self.after.model_id} "
            f"through instance {self.after.instance_id}"
        )


class AgentCreated(Event, frozen=True, kw_only=True):
    agent_id: str
    name: str
    choice: ModelChoice
    system_prompt: str
    reasoning_effort: str | None
    max_tokens: int | None

    def summary(self) -> str:
        return f"Agent {self.name!r} created on {self.choice.model_id} through instance {self.choice.instance_id}"


class AgentModelChanged(Event, frozen=True, kw_only=True):
    agent_id: str
    before: ModelChoice
    after: ModelChoice

    def summary(self) -> str:
        return (
            f"Agent {self.agent_id} moved from {self.before.model_id} to {self.after.model_id} "
            f"through instance {self.after.instance_id}"
        )


class AgentSettingsChange(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Some of an agent's own settings; the fields left unset did not change."""

    name: str | UnsetType = UNSET
    system_prompt: str | UnsetType = UNSET
    reasoning_effort: str | None | UnsetType = UNSET
    max_tokens: int | None | UnsetType = UNSET


class AgentSettingsChanged(Event, frozen=True, kw_only=True):
    agent_id: str
    after: AgentSettingsChange

    def summary(self) -> str:
        return f"Agent {self.agent_id} settings changed"


class AgentRemoved(Event, frozen=True, kw_only=True):
    agent_id: str
    name: str

    def summary(self) -> str:
        return f"Agent {self.name!r} removed"


class MessageAdded(Event, frozen=True, kw_only=True):
    """What the user said to one agent."""

    agent_id: str
    text: str

    def summary(self) -> str:
        return f"Message to agent {self.agent_id} ({len(self.text)} characters)"


class TurnEvent(Event, frozen=True, kw_only=True):
    """What every turn event names: the agent, the turn, and the instance and model that answer it."""

    agent_id: str
    turn_id: str
    instance_id: str
    provider_id: str
    provider_type: str
    model_id: str


class TurnStarted(TurnEvent, frozen=True, kw_only=True):
    """A turn began through this instance and model, at these prices."""

    prices: Prices
    price_status: PriceStatus

    def summary(self) -> str:
        return f"Turn of agent {self.agent_id} started on {self.model_id} through instance {self.instance_id}"


class TurnEnded(TurnEvent, frozen=True, kw_only=True):
    """What every turn end holds: which model answered, what it said, the tokens, prices, cost and times."""

    text: str
    finish_reason: str | None
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    prices: Prices
    price_status: PriceStatus
    cost_usd: float | None
    ttft_ms: float | None
    total_ms: float
    attempts: int


class TurnCompleted(TurnEnded, frozen=True, kw_only=True):
    def summary(self) -> str:
        return f"Turn of agent {self.agent_id} completed by {self.model_id}: {self.output_tokens} tokens out"


class TurnFailed(TurnEnded, frozen=True, kw_only=True):
    """The upstream refused or broke off; the partial text is kept."""

    error_outcome: Outcome
    http_status: int | None
    message: str

    def summary(self) -> str:
        return f"Turn of agent {self.agent_id} on {self.model_id} failed: {self.error_outcome}"


class TurnCancelled(TurnEnded, frozen=True, kw_only=True):
    """Stopped by the user (or by the client going away); the partial text is kept."""

    def summary(self) -> str:
        return f"Turn of agent {self.agent_id} on {self.model_id} stopped"


class TurnStopRequested(Event, frozen=True, kw_only=True):
    """Stop asked for through a replica that does not run the turn; the replica running it, following the log,
    cancels it as a local Stop would (its end is then `TurnCancelled`). A turn whose replica died is not stopped
    by it: its lease runs out and it is interrupted."""

    agent_id: str
    turn_id: str

    def summary(self) -> str:
        return f"Stop requested for the turn of agent {self.agent_id}"


class TurnInterrupted(Event, frozen=True, kw_only=True):
    """Recorded for a turn whose server stopped or lost its lease (see `backend/sessions/leases.py`)."""

    agent_id: str
    turn_id: str

    def summary(self) -> str:
        return f"Turn of agent {self.agent_id} interrupted by a server stop"


TurnOutcome = Literal["completed", "failed", "cancelled", "interrupted"]

EVENT_TYPES: tuple[type[Event], ...] = (
    SessionCreated,
    SessionRenamed,
    SessionArchived,
    SessionDefaultModelChanged,
    AgentCreated,
    AgentModelChanged,
    AgentSettingsChanged,
    AgentRemoved,
    MessageAdded,
    TurnStarted,
    TurnCompleted,
    TurnFailed,
    TurnCancelled,
    TurnStopRequested,
    TurnInterrupted,
)
