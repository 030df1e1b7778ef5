"""Turns: a message to an agent streams through its instance at that moment and is recorded with its usage,
prices and cost; cancelling.

The upstream exchange runs in the service's task group, apart from the request: the request only relays its
deltas. A client that goes away cancels the turn (recorded as `TurnCancelled` with the partial text). A turn is
leased to this replica while it runs (`leases.py`); its end is appended under the turn's one end id. A turn whose
lease was not renewed (another replica may have claimed it and recorded it as interrupted) is stopped here at
once and recorded as interrupted too (a duplicate when the other replica's end came first); its client is told.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import NamedTuple

import anyio
import msgspec
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from backend.catalog.schema import Model
from backend.errors import Conflict, FieldError, ValidationFailed
from backend.instances.connection import resolve_connection
from backend.providers.contract import (
    Attempts,
    ChatError,
    ChatMessage,
    Connection,
    Finish,
    TextDelta,
    Usage,
)
from backend.providers.dispatch import stream_chat
from backend.sessions.choice import check_choice
from backend.sessions.events import (
    MessageAdded,
    TurnCancelled,
    TurnCompleted,
    TurnEnded,
    TurnFailed,
    TurnInterrupted,
    TurnStarted,
    turn_end_id,
)
from backend.sessions.pricing import PriceInForce, Tokens, cost_of, price_in_force
from backend.sessions.schemas import MAX_TEXT, SendMessage, StopRequested
from backend.sessions.service import RunningTurn, Sessions, agent_of
from backend.sessions.stops import request_stop
from backend.sessions.view import AgentView, MessageOut, SessionView, TurnOut, turn_out
from events import Metadata

log = logging.getLogger(__name__)
CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4


class TurnPlan(NamedTuple):
    """Everything a turn needs once it is allowed to start."""

    session_id: str
    started: TurnStarted
    connection: Connection
    messages: list[ChatMessage]
    max_tokens: int | None
    reasoning_effort: str | None
    metadata: Metadata


class Progress:
    """What the upstream sent so far."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.parts: list[str] = []
        self.usage: Usage | None = None
        self.error: ChatError | None = None
        self.ttft_ms: float | None = None
        self.attempts = 1
        self.finish_reason: str | None = None
        self.finished = False

    def elapsed_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 2)


def sse(event: str, data: bytes) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


def text_problems(text: str) -> list[FieldError]:
    if not text.strip():
        return [FieldError("text", "must not be empty")]
    if len(text) > MAX_TEXT:
        return [FieldError("text", f"must be at most {MAX_TEXT} characters")]
    return []


def estimate_tokens(messages: Sequence[ChatMessage]) -> int:
    """A rough size of the prompt: about four characters a token, plus a few per message."""
    return sum(math.ceil(len(message.content) / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE for message in messages)


def prompt_of(session: SessionView, agent: AgentView, transcript: list[MessageOut], text: str) -> list[ChatMessage]:
    """The agent's system prompt (or the session's), its thread (answers of completed turns), the new message."""
    system = agent.system_prompt or session.system_prompt
    messages = [ChatMessage("system", system)] if system else []
    for entry in transcript:
        if entry.kind == "user":
            messages.append(ChatMessage("user", entry.text))
        elif entry.turn is not None and entry.turn.outcome == "completed":
            messages.append(ChatMessage("assistant", entry.text))
    messages.append(ChatMessage("user", text))
    return messages


def check_context(messages: Sequence[ChatMessage], model: Model | None, max_tokens: int | None) -> None:
    """Refuse (422) a prompt larger than the model's context window minus the answer's tokens; never truncate."""
    if model is None:
        return
    room = model.context_window - (max_tokens or 0)
    size = estimate_tokens(messages)
    if size > room:
        raise ValidationFailed("the message was not sent", [FieldError(
            "text",
            f"the prompt is about {size} tokens but {model.id} has room for {room} "
            f"({model.context_window} context window minus {max_tokens or 0} for the answer): "
            f"{size - room} tokens too many",
        )])


async def _agent_connection(sessions: Sessions, agent: AgentView) -> tuple[Connection, Model | None, str]:
    """The agent's instance resolved now (key, endpoint, timeout, retries), its catalog model and its type."""
    found = await check_choice(sessions, agent.instance_id, agent.model_id)
    if isinstance(found, list):
        if found[0].field == "instance_id":
            raise Conflict(f"the instance of agent {agent.name!r} was deleted: choose another model")
        raise ValidationFailed("the message was not sent", found)
    instance = found.row.instance
    return await resolve_connection(sessions.instances, instance), found.model, instance.provider_type


async def start_turn(
    sessions: Sessions, session_id: str, agent_id: str, command: SendMessage, metadata: Metadata
) -> AsyncIterator[bytes]:
    """Record the message and `TurnStarted`, start the upstream exchange, and answer the SSE body to relay.

    Refused before anything is written: bad text (422), a turn already running for the agent (409), an archived
    session, a deleted instance (409), a model the instance no longer offers or a prompt too large (422).
    """
    errors = text_problems(command.text)
    if errors:
        raise ValidationFailed("the message was not sent", errors)
    key = (session_id, agent_id)
    async with sessions.lock(session_id):
        row = await sessions.row(session_id)
        agent = agent_of(row.session, agent_id)
        if key in sessions.running or agent_id in row.open_turns:
            raise Conflict(f"agent {agent.name!r} has a turn in progress; wait for it or cancel it")
        if row.session.archived:
            raise Conflict(f"session {session_id} is archived")
        connection, model, provider_type = await _agent_connection(sessions, agent)
        transcript = await sessions.view.transcript(sessions.store, session_id, agent_id)
        messages = prompt_of(row.session, agent, transcript, command.text)
        max_tokens = agent.max_tokens or (model.default_max_tokens if model else None)
        check_context(messages, model, max_tokens)
        price = price_in_force(sessions.catalog, agent.provider_id, agent.model_id)
        started = TurnStarted(
            agent_id=agent_id, turn_id=secrets.token_hex(8), instance_id=agent.instance_id,
            provider_id=agent.provider_id, provider_type=provider_type, model_id=agent.model_id,
            prices=price.prices, price_status=price.status,
        )
        running = RunningTurn(started.turn_id)
        try:
            await sessions.leases.take(started.turn_id)
            sessions.running[key] = running  # only once leased: a running turn missing from a renewal lost its lease
            await sessions.append(session_id, [MessageAdded(agent_id=agent_id, text=command.text), started], metadata)
        except BaseException:
            sessions.running.pop(key, None)
            with anyio.CancelScope(shield=True):
                await sessions.leases.release(started.turn_id)
            raise
    send, receive = anyio.create_memory_object_stream[bytes](math.inf)
    plan = TurnPlan(session_id, started, connection, messages, max_tokens, agent.reasoning_effort, metadata)
    sessions.turns.start_soon(run_turn, sessions, plan, running, send)
    return relay(receive, running)


async def relay(receive: MemoryObjectReceiveStream[bytes], running: RunningTurn) -> AsyncIterator[bytes]:
    """The SSE body: the turn's events as they come; a client that goes away cancels the turn.

    Frames that are waiting together go out in one write: on a busy server the upstream's tokens arrive several
    to a read, and each write to the client costs a system call and a pass through every ASGI layer."""
    try:
        async with receive:
            async for frame in receive:
                yield frame + b"".join(waiting(receive))
    finally:
        if not running.ended.is_set():
            running.scope.cancel()


def waiting(receive: MemoryObjectReceiveStream[bytes]) -> Iterator[bytes]:
    """The frames already in the stream, taken without waiting."""
    while True:
        try:
            yield receive.receive_nowait()
        except (anyio.WouldBlock, anyio.EndOfStream):
            return


async def run_turn(
    sessions: Sessions, plan: TurnPlan, running: RunningTurn, send: MemoryObjectSendStream[bytes]
) -> None:
    """Stream from the upstream, relaying deltas, then record exactly one end event (shielded from cancelling)."""
    progress = Progress()
    try:
        with running.scope:
            await _read_upstream(sessions, plan, progress, running, send)
    except Exception as error:  # a last resort: one turn must never take the service's task group down with it
        log.error("turn %s ended by an unexpected %s", plan.started.turn_id, type(error).__name__)  # its text may hold a key
        progress.error = ChatError("bad_response", None, f"the provider's answer could not be handled ({type(error).__name__})")
    finally:
        with anyio.CancelScope(shield=True):
            await _record_end(sessions, plan, progress, running, send)


async def _read_upstream(
    sessions: Sessions, plan: TurnPlan, progress: Progress, running: RunningTurn, send: MemoryObjectSendStream[bytes]
) -> None:
    started = plan.started
    upstream = stream_chat(
        sessions.client_for(plan.session_id), plan.connection, started.model_id, plan.messages,
        max_tokens=plan.max_tokens, reasoning_effort=plan.reasoning_effort,
    )
    try:
        async for chunk in upstream:
            if isinstance(chunk, TextDelta):
                progress.ttft_ms = progress.ttft_ms if progress.ttft_ms is not None else progress.elapsed_ms()
                progress.parts.append(chunk.text)
                _relay(send, sse("delta", msgspec.json.encode({"text": chunk.text})), running)
            elif isinstance(chunk, Usage):
                progress.usage = chunk
            elif isinstance(chunk, Attempts):
                progress.attempts = chunk.count
            elif isinstance(chunk, Finish):
                progress.finish_reason = chunk.reason
            else:
                progress.error = chunk
        progress.finished = True
    finally:
        with anyio.CancelScope(shield=True):
            await upstream.aclose()


def _relay(send: MemoryObjectSendStream[bytes], frame: bytes, running: RunningTurn) -> None:
    try:
        send.send_nowait(frame)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        running.scope.cancel()  # the client went away


async def _record_end(
    sessions: Sessions, plan: TurnPlan, progress: Progress, running: RunningTurn, send: MemoryObjectSendStream[bytes]
) -> None:
    turn_id = plan.started.turn_id
    key = (plan.session_id, plan.started.agent_id)
    try:
        ended = end_event(plan.started, progress)
        event = TurnInterrupted(agent_id=plan.started.agent_id, turn_id=turn_id) if running.lost else ended
        stored = await sessions.append(plan.session_id, [event], plan.metadata, event_ids=[turn_end_id(turn_id)])
        running.out = await _end_lost(sessions, plan) if running.lost or stored.duplicate else turn_out(ended)
        _relay(send, sse("turn", msgspec.json.encode(running.out)), running)
        await sessions.leases.release(turn_id)
    except Exception:
        log.exception("turn %s could not be recorded", turn_id)
    finally:
        sessions.running.pop(key, None)
        running.ended.set()
        send.close()


async def _end_lost(sessions: Sessions, plan: TurnPlan) -> TurnOut:
    """The turn as the log holds it (interrupted), when its lease here was lost: another replica claimed it, or
    it expired before this replica could renew it."""
    turn_id = plan.started.turn_id
    log.warning("turn %s lost its lease before it ended here: it is recorded as interrupted", turn_id)
    recorded = await sessions.view.turn(sessions.store, plan.session_id, turn_id)
    if recorded is None:
        raise LookupError(f"the end of turn {turn_id} is stored but not in the session view")
    return msgspec.structs.replace(recorded, message=(
        "this turn's lease lapsed while it ran here (another replica may have closed it), so it was stopped and "
        "is recorded as interrupted: the answer streamed here was not recorded"))


def end_event(started: TurnStarted, progress: Progress) -> TurnEnded:
    """TurnCompleted, TurnFailed (the upstream's outcome) or TurnCancelled (never finished), with the partial text."""
    usage = progress.usage or Usage(input_tokens=0, output_tokens=0)
    tokens = Tokens(usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens)
    fields: dict[str, object] = {
        "agent_id": started.agent_id, "turn_id": started.turn_id, "instance_id": started.instance_id,
        "provider_id": started.provider_id, "provider_type": started.provider_type, "model_id": started.model_id,
        "text": "".join(progress.parts), "input_tokens": tokens.input, "output_tokens": tokens.output,
        "cache_read_tokens": tokens.cache_read, "cache_write_tokens": tokens.cache_write, "prices": started.prices,
        "price_status": started.price_status,
        "cost_usd": cost_of(tokens, PriceInForce(started.prices, started.price_status), started.provider_type),
        "ttft_ms": progress.ttft_ms, "total_ms": progress.elapsed_ms(), "attempts": progress.attempts,
    }
    error = progress.error
    if error is not None:
        failed = {"error_outcome": error.outcome, "http_status": error.http_status, "message": error.message}
        return msgspec.convert({**fields, **failed, "finish_reason": progress.finish_reason}, TurnFailed)
    if progress.finished:
        return msgspec.convert({**fields, "finish_reason": progress.finish_reason or "stop"}, TurnCompleted)
    return msgspec.convert({**fields, "finish_reason": progress.finish_reason}, TurnCancelled)


async def cancel_turn(
    sessions: Sessions, session_id: str, agent_id: str, metadata: Metadata
) -> TurnOut | StopRequested:
    """Close the agent's upstream stream now and answer the `TurnCancelled` record; a turn open in the log but
    running on another replica is asked to stop through the log (`stops.py`)."""
    running = sessions.running.get((session_id, agent_id))
    if running is None:
        return await request_stop(sessions, session_id, agent_id, metadata)
    running.scope.cancel()
    await running.ended.wait()
    if running.out is None:
        raise Conflict("the turn ended but could not be recorded")
    return running.out
