"""What the session routes take and answer beyond the views: request bodies and the cost comparison."""

from __future__ import annotations

from typing import Literal

import msgspec
from msgspec import UNSET, UnsetType

MAX_TEXT = 1_000_000
"""Characters; a longer message is refused."""


class CreateSession(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A session and its first agent, on this instance and model."""

    name: str
    instance_id: str
    model_id: str
    system_prompt: str = ""
    reasoning_effort: str | None = None
    max_tokens: int | None = None
    agent_name: str = "Assistant"


class UpdateSession(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Rename, archive, or change the default model (instance and model, or the model only)."""

    name: str | UnsetType = UNSET
    archived: bool | UnsetType = UNSET
    instance_id: str | UnsetType = UNSET
    model_id: str | UnsetType = UNSET


class CreateAgent(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An agent; without an instance and model it uses the session's default."""

    name: str
    instance_id: str | None = None
    model_id: str | None = None
    system_prompt: str = ""
    reasoning_effort: str | None = None
    max_tokens: int | None = None


class UpdateAgent(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Change the agent's instance and model (or model only), its prompt, name, reasoning or token limit."""

    name: str | UnsetType = UNSET
    instance_id: str | UnsetType = UNSET
    model_id: str | UnsetType = UNSET
    system_prompt: str | UnsetType = UNSET
    reasoning_effort: str | None | UnsetType = UNSET
    max_tokens: int | None | UnsetType = UNSET


class SendMessage(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    text: str


class TurnFrame(msgspec.Struct, frozen=True, kw_only=True):
    """One event of a turn's text/event-stream, as documented: `delta` events (data `{"text": ...}`), then one
    `turn` (data: the closed turn, as in the transcript)."""

    event: Literal["delta", "turn"]
    data: str


class StopRequested(msgspec.Struct, frozen=True, kw_only=True):
    """The answer (202) to a Stop for a turn another replica runs, when that replica has not recorded its end
    within the wait: the request is in the log (`TurnStopRequested`), and the turn ends there, or, if that replica
    died, is interrupted once its lease runs out. The transcript shows the end when it comes."""

    status: Literal["stop_requested"] = "stop_requested"
    turn_id: str
    message: str


class TurnCost(msgspec.Struct, frozen=True, kw_only=True):
    """One turn's recorded cost beside its cost at today's prices (None: unknown)."""

    turn_id: str
    model_id: str
    provider_id: str
    cost_usd: float | None
    current_cost_usd: float | None


class SessionCost(msgspec.Struct, frozen=True, kw_only=True):
    """What the session cost (known part, and how many turns had no known price), and at today's prices."""

    session_id: str
    turns: int
    cost_usd: float
    unknown_cost_turns: int
    current_cost_usd: float
    current_unknown_cost_turns: int
    by_turn: list[TurnCost]
