"""Creating and changing sessions and agents; every model choice is checked, nothing is written when refused."""

from __future__ import annotations

import secrets

from msgspec import UNSET, UnsetType

from backend.errors import Conflict, FieldError, ValidationFailed
from backend.sessions.choice import (
    Chosen,
    check_choice,
    max_tokens_problems,
    name_problems,
    prompt_problems,
    reasoning_problems,
)
from backend.sessions.events import (
    AgentCreated,
    AgentModelChanged,
    AgentRemoved,
    AgentSettingsChange,
    AgentSettingsChanged,
    ModelChoice,
    SessionArchived,
    SessionCreated,
    SessionDefaultModelChanged,
    SessionRenamed,
)
from backend.sessions.schemas import (
    CreateAgent,
    CreateSession,
    UpdateAgent,
    UpdateSession,
)
from backend.sessions.service import Sessions, agent_of
from backend.sessions.view import AgentView, SessionView
from events import Event, Metadata


def _refuse(what: str, errors: list[FieldError]) -> None:
    if errors:
        raise ValidationFailed(what, errors)


async def _chosen(sessions: Sessions, instance_id: str, model_id: str, errors: list[FieldError]) -> Chosen | None:
    """The checked choice, its problems added to `errors` when it is not valid."""
    found = await check_choice(sessions, instance_id, model_id)
    if isinstance(found, list):
        errors += found
        return None
    return found


def _agent_event(agent_id: str, name: str, chosen: Chosen, prompt: str, effort: str | None, max_tokens: int | None) -> AgentCreated:
    return AgentCreated(
        agent_id=agent_id, name=name.strip(), choice=chosen.choice, system_prompt=prompt,
        reasoning_effort=effort, max_tokens=max_tokens,
    )


def _agent_problems(name: str, prompt: str, max_tokens: int | None) -> list[FieldError]:
    return name_problems(name) + prompt_problems(prompt) + max_tokens_problems(max_tokens)


async def create_session(sessions: Sessions, command: CreateSession, metadata: Metadata) -> SessionView:
    """Record `SessionCreated` and its first agent's `AgentCreated` together."""
    errors = name_problems(command.name) + name_problems(command.agent_name, "agent_name")
    errors += prompt_problems(command.system_prompt) + max_tokens_problems(command.max_tokens)
    chosen = await _chosen(sessions, command.instance_id, command.model_id, errors)
    if chosen is not None:
        errors += reasoning_problems(chosen.model, command.model_id, command.reasoning_effort)
    _refuse("the session was not created", errors)
    assert chosen is not None
    session_id = secrets.token_hex(8)
    created = SessionCreated(
        session_id=session_id, name=command.name.strip(), default=chosen.choice, system_prompt=command.system_prompt
    )
    agent = _agent_event(secrets.token_hex(6), command.agent_name, chosen, "", command.reasoning_effort, command.max_tokens)
    await sessions.append(session_id, [created, agent], metadata, expected_version=0)
    return await sessions.session(session_id)


def check_version(session: SessionView, if_match: int | None) -> None:
    if if_match is not None and if_match != session.version:
        raise Conflict(f"session {session.id} is at version {session.version}, not {if_match}")


async def update_session(
    sessions: Sessions, session_id: str, command: UpdateSession, metadata: Metadata, if_match: int | None
) -> SessionView:
    """Record a rename, the archiving, and a default model change (from and to); no change records nothing."""
    async with sessions.lock(session_id):
        session = (await sessions.row(session_id)).session
        check_version(session, if_match)
        errors: list[FieldError] = [] if isinstance(command.name, UnsetType) else name_problems(command.name)
        events: list[Event] = []
        if isinstance(command.name, str) and command.name.strip() != session.name:
            events.append(SessionRenamed(name=command.name.strip(), previous_name=session.name))
        if command.archived is True and not session.archived:
            events.append(SessionArchived())
        if command.archived is False and session.archived:
            errors.append(FieldError("archived", "an archived session stays archived"))
        instance_id = _or(command.instance_id, session.default_instance_id)
        model_id = _or(command.model_id, session.default_model_id)
        if (instance_id, model_id) != (session.default_instance_id, session.default_model_id):
            chosen = await _chosen(sessions, instance_id, model_id, errors)
            if chosen is not None:
                before = _default_choice(session)
                events.append(SessionDefaultModelChanged(before=before, after=chosen.choice))
        _refuse("the session was not changed", errors)
        if events:
            await sessions.append(session_id, events, metadata, expected_version=session.version)
    return await sessions.session(session_id)


def _default_choice(session: SessionView) -> ModelChoice:
    return ModelChoice(
        instance_id=session.default_instance_id, provider_id=session.default_provider_id,
        model_id=session.default_model_id,
    )


def _agent_choice(agent: AgentView) -> ModelChoice:
    return ModelChoice(instance_id=agent.instance_id, provider_id=agent.provider_id, model_id=agent.model_id)


def _or(value: str | UnsetType, current: str) -> str:
    return current if isinstance(value, UnsetType) else value


async def add_agent(sessions: Sessions, session_id: str, command: CreateAgent, metadata: Metadata) -> SessionView:
    """Record `AgentCreated`, on the session's default instance and model unless the command names others."""
    async with sessions.lock(session_id):
        session = (await sessions.row(session_id)).session
        errors = _agent_problems(command.name, command.system_prompt, command.max_tokens)
        instance_id = command.instance_id or session.default_instance_id
        model_id = command.model_id or session.default_model_id
        chosen = await _chosen(sessions, instance_id, model_id, errors)
        if chosen is not None:
            errors += reasoning_problems(chosen.model, model_id, command.reasoning_effort)
        _refuse("the agent was not added", errors)
        assert chosen is not None
        event = _agent_event(
            secrets.token_hex(6), command.name, chosen, command.system_prompt, command.reasoning_effort, command.max_tokens
        )
        await sessions.append(session_id, [event], metadata, expected_version=session.version)
    return await sessions.session(session_id)


async def update_agent(
    sessions: Sessions, session_id: str, agent_id: str, command: UpdateAgent, metadata: Metadata, if_match: int | None
) -> SessionView:
    """Record `AgentModelChanged` (from, to) and `AgentSettingsChanged` for what really changes."""
    async with sessions.lock(session_id):
        session = (await sessions.row(session_id)).session
        check_version(session, if_match)
        agent = agent_of(session, agent_id)
        settings = _settings_change(agent, command)
        errors = _changed_settings_problems(settings)
        instance_id = _or(command.instance_id, agent.instance_id)
        model_id = _or(command.model_id, agent.model_id)
        events: list[Event] = []
        effort = agent.reasoning_effort if isinstance(settings.reasoning_effort, UnsetType) else settings.reasoning_effort
        moved = (instance_id, model_id) != (agent.instance_id, agent.model_id)
        if moved or not isinstance(settings.reasoning_effort, UnsetType):
            chosen = await _chosen(sessions, instance_id, model_id, errors)
            if chosen is not None:
                errors += reasoning_problems(chosen.model, model_id, effort)
                if moved:
                    events.append(AgentModelChanged(agent_id=agent_id, before=_agent_choice(agent), after=chosen.choice))
        _refuse("the agent was not changed", errors)
        if settings != AgentSettingsChange():
            events.append(AgentSettingsChanged(agent_id=agent_id, after=settings))
        if events:
            await sessions.append(session_id, events, metadata, expected_version=session.version)
    return await sessions.session(session_id)


def _settings_change(agent: AgentView, command: UpdateAgent) -> AgentSettingsChange:
    """Only the settings whose value really changes."""
    name = command.name.strip() if isinstance(command.name, str) else UNSET
    wanted = {
        "name": name, "system_prompt": command.system_prompt,
        "reasoning_effort": command.reasoning_effort, "max_tokens": command.max_tokens,
    }
    changed = {key: value for key, value in wanted.items() if value is not UNSET and value != getattr(agent, key)}
    return AgentSettingsChange(**changed)  # type: ignore[arg-type]


def _changed_settings_problems(settings: AgentSettingsChange) -> list[FieldError]:
    errors: list[FieldError] = []
    if isinstance(settings.name, str):
        errors += name_problems(settings.name)
    if isinstance(settings.system_prompt, str):
        errors += prompt_problems(settings.system_prompt)
    if not isinstance(settings.max_tokens, UnsetType):
        errors += max_tokens_problems(settings.max_tokens)
    return errors


async def remove_agent(sessions: Sessions, session_id: str, agent_id: str, metadata: Metadata) -> None:
    """Record `AgentRemoved`; refused while the agent's turn runs, and for the session's last agent."""
    async with sessions.lock(session_id):
        session = (await sessions.row(session_id)).session
        agent = agent_of(session, agent_id)
        if (session_id, agent_id) in sessions.running:
            raise Conflict(f"agent {agent.name!r} has a turn in progress; cancel it first")
        if len(session.agents) == 1:
            raise Conflict(f"agent {agent.name!r} is the session's only agent")
        await sessions.append(session_id, [AgentRemoved(agent_id=agent_id, name=agent.name)], metadata,
                              expected_version=session.version)
