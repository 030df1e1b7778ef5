"""The sessions part of the public API as the web app uses it: sessions, agents, transcripts and streamed turns."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import msgspec

from frontend.api import UNAUTHORIZED, Client, SignInRequired, api_base, problem_from

SESSIONS = "/api/v1/sessions"
TURN_TIMEOUT_S = 3600  # a turn lasts as long as the instance's timeout and retries allow


class Prices(msgspec.Struct, frozen=True):
    """Per-1M-token USD prices in force for a turn; None where unknown."""

    input: float | None = None
    output: float | None = None
    cache_read: float | None = None
    cache_write: float | None = None


class Turn(msgspec.Struct, frozen=True):
    """One answer (or its failure) with the model, connection, tokens and cost it had."""

    turn_id: str
    outcome: str
    model_id: str = ""
    instance_id: str = ""
    provider_id: str = ""
    provider_type: str = ""
    text: str = ""
    finish_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    prices: Prices = Prices()
    cost_usd: float | None = None
    price_status: str = "unknown"
    ttft_ms: float | None = None
    total_ms: float | None = None
    attempts: int = 1
    error_outcome: str | None = None
    message: str | None = None


class Message(msgspec.Struct, frozen=True):
    """One entry of an agent's transcript: the user's text, or a turn."""

    position: int
    kind: str
    text: str = ""
    at: str = ""
    actor: str = ""
    turn: Turn | None = None


class Agent(msgspec.Struct, frozen=True):
    id: str
    name: str
    instance_id: str | None = None
    instance_name: str | None = None
    provider_id: str | None = None
    model_id: str = ""
    system_prompt: str | None = None
    reasoning_effort: str | None = None
    max_tokens: int | None = None
    status: str = "ready"
    turns: int = 0
    cost_usd: float = 0.0


class Session(msgspec.Struct, frozen=True):
    """A session with its agents and totals; `cost_usd` is the known part, `unknown_cost_turns` counted apart."""

    id: str
    name: str
    default_instance_id: str | None = None
    default_model_id: str = ""
    system_prompt: str | None = None
    archived: bool = False
    version: int = 0
    agents: list[Agent] = []
    turns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unknown_cost_turns: int = 0
    created_at: str = ""
    created_by: str = ""
    last_activity: str | None = None


class _Paged(msgspec.Struct, frozen=True):
    items: list[Session] = []
    sessions: list[Session] = []


class _Delta(msgspec.Struct, frozen=True):
    text: str


StreamPiece = str | Turn  # text as it streams, then the turn's record


def _session_path(session_id: str, *rest: str) -> str:
    return "/".join((SESSIONS, session_id, *rest))


def _agent_path(session_id: str, agent_id: str, *rest: str) -> str:
    return _session_path(session_id, "agents", agent_id, *rest)


async def list_sessions(client: Client) -> list[Session]:
    page = msgspec.json.decode(await client.get_json(SESSIONS), type=list[Session] | _Paged)
    return page if isinstance(page, list) else page.items or page.sessions


async def create_session(client: Client, name: str, instance_id: str, model_id: str) -> Session:
    body = {"name": name, "instance_id": instance_id, "model_id": model_id}
    return msgspec.json.decode(await client.send("POST", SESSIONS, body=body), type=Session)


async def get_session(client: Client, session_id: str) -> Session:
    return msgspec.json.decode(await client.get_json(_session_path(session_id)), type=Session)


async def add_agent(client: Client, session_id: str, name: str, instance_id: str, model_id: str) -> Session:
    """Add an agent; the session as it is then, the new agent last."""
    body = {"name": name, "instance_id": instance_id, "model_id": model_id}
    return msgspec.json.decode(
        await client.send("POST", _session_path(session_id, "agents"), body=body),
        type=Session,
    )


async def change_agent_model(
    client: Client,
    session_id: str,
    agent_id: str,
    version: int,
    instance_id: str,
    model_id: str,
) -> None:
    """Record the agent's new instance and model; the next turn uses them."""
    body = {"instance_id": instance_id, "model_id": model_id}
    await client.send(
        "PATCH",
        _agent_path(session_id, agent_id),
        body=body,
        headers={"if-match": str(version)},
    )


async def transcript(client: Client, session_id: str, agent_id: str) -> list[Message]:
    return msgspec.json.decode(
        await client.get_json(_agent_path(session_id, agent_id, "messages")),
        type=list[Message],
    )


async def cancel_turn(client: Client, session_id: str, agent_id: str) -> None:
    await client.send("POST", _agent_path(session_id, agent_id, "cancel"))


async def send_message(client: Client, session_id: str, agent_id: str, text: str) -> AsyncIterator[StreamPiece]:
    """Send `text` to the agent and yield "" once the server has taken the turn (from then on it can be cancelled),
    the answer's text pieces as they stream, then the turn's record.

    A refusal before streaming (a turn already running, a model or input refused) is raised as a Problem.
    """
    headers = {
        "content-type": "application/json",
        "accept": "text/event-stream",
        **client.auth_headers(),
    }
    async with (
        httpx.AsyncClient(base_url=api_base(), timeout=TURN_TIMEOUT_S) as http,
        http.stream(
            "POST",
            _agent_path(session_id, agent_id, "messages"),
            content=msgspec.json.encode({"text": text}),
            headers=headers,
        ) as response,
    ):
        if response.status_code == UNAUTHORIZED:
            raise SignInRequired(client.page)
        if response.status_code >= 400:
            await response.aread()
            raise problem_from(response)
        yield ""
        async for event, data in server_sent_events(response.aiter_lines()):
            if event == "delta":
                yield msgspec.json.decode(data, type=_Delta).text
            elif event == "turn":
                yield msgspec.json.decode(data, type=Turn)


async def server_sent_events(
    lines: AsyncIterator[str],
) -> AsyncIterator[tuple[str, str]]:
    """(event name, data) for each event of a text/event-stream."""
    event, data = "message", []
    async for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        yield event, "\n".join(data)
