"""The cost report: every ended turn in a time window, grouped, at the prices recorded with it and at today's.

Turns are read from the sessions' transcript view and priced by the sessions' own rules (`turn_cost`), so a
group's figures add up to what the sessions show.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple, TypeVar

import msgspec

from backend.errors import FieldError, ValidationFailed
from backend.instances.events import InstanceDeleted
from backend.instances.events import stream_of as instance_stream
from backend.reports.schemas import (
    CostFigures,
    CostGroup,
    CostPart,
    CostReport,
    GroupBy,
)
from backend.services import Services
from backend.sessions.costs import turn_cost
from backend.sessions.schemas import TurnCost
from backend.sessions.service import Sessions
from backend.sessions.view import MESSAGES, MessageOut, TurnOut
from events.rows import time_window

_message_decoder = msgspec.json.Decoder(MessageOut)


class EndedTurn(NamedTuple):
    """A turn as the report sees it: where and by whom it ran, when it ended, and what it used."""

    session_id: str
    actor: str
    at: datetime
    turn: TurnOut


KEY_OF: dict[GroupBy, Callable[[EndedTurn], str]] = {
    "instance": lambda ended: ended.turn.instance_id,
    "model": lambda ended: f"{ended.turn.provider_id}/{ended.turn.model_id}",
    "provider": lambda ended: ended.turn.provider_id,
    "session": lambda ended: ended.session_id,
    "actor": lambda ended: ended.actor,
    "day": lambda ended: ended.at.astimezone(UTC).date().isoformat(),
}


@dataclass
class Tally:
    """Running sums for one group."""

    turns: int = 0
    unknown_cost_turns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    current_cost_usd: float = 0.0
    current_unknown_cost_turns: int = 0

    def add(self, turn: TurnOut, cost: TurnCost) -> None:
        self.turns += 1
        self.input_tokens += turn.input_tokens
        self.output_tokens += turn.output_tokens
        self.cache_read_tokens += turn.cache_read_tokens
        self.cache_write_tokens += turn.cache_write_tokens
        self.unknown_cost_turns += cost.cost_usd is None
        self.cost_usd += cost.cost_usd or 0.0
        self.current_unknown_cost_turns += cost.current_cost_usd is None
        self.current_cost_usd += cost.current_cost_usd or 0.0

    def figures(self) -> CostFigures:
        return CostFigures(**self._rounded())

    def part(self, key: str, name: str) -> CostPart:
        return CostPart(key=key, name=name, **self._rounded())

    def group(self, key: str, name: str, parts: list[CostPart]) -> CostGroup:
        return CostGroup(key=key, name=name, parts=parts, **self._rounded())

    def _rounded(self) -> dict[str, int | float]:
        sums: dict[str, int | float] = dict(vars(self))
        sums["cost_usd"] = round(self.cost_usd, 10)
        sums["current_cost_usd"] = round(self.current_cost_usd, 10)
        return sums


def check_window(since: datetime | None, until: datetime | None) -> None:
    """Refuse times without a UTC offset (no one can say which moment they mean) and an empty-by-mistake window."""
    errors = [
        FieldError(name, "must carry a UTC offset, e.g. 2026-01-31T00:00:00Z (RFC 3339)")
        for name, moment in (("since", since), ("until", until))
        if moment is not None and moment.tzinfo is None
    ]
    if not errors and since is not None and until is not None and since > until:
        errors.append(FieldError("until", "must not be before since"))
    if errors:
        raise ValidationFailed("the report's time window was refused", errors)


def check_split(group_by: GroupBy, split_by: GroupBy | None) -> None:
    """Refuse splitting the groups by what they already are: each would be its own only part."""
    if split_by == group_by:
        raise ValidationFailed(
            "the report's split was refused", [FieldError("split_by", f"must differ from group_by ({group_by})")]
        )


def transcript_window(since: datetime | None, until: datetime | None) -> tuple[str, list[object]]:
    """The transcript entries recorded at or after `since` and before `until`: a range of positions, read through
    the transcript's position index."""
    window, params = time_window("position", since, until)
    where = " AND ".join(window) or "TRUE"
    return f"SELECT session_id, body FROM {MESSAGES} WHERE {where} ORDER BY position", params


async def ended_turns(sessions: Sessions, since: datetime | None, until: datetime | None) -> list[EndedTurn]:
    """Every turn that ended at or after `since` and before `until`, in log order."""
    rows = await sessions.store.fetch(*transcript_window(since, until))
    ended: list[EndedTurn] = []
    for session_id, body in rows:
        message = _message_decoder.decode(body)
        if message.turn is not None:
            ended.append(EndedTurn(str(session_id), message.actor, message.at, message.turn))
    return ended


async def instance_names(services: Services, ids: Iterable[str]) -> dict[str, str]:
    """Each instance's name now, or the name it had when it was deleted."""
    names = await services.sessions.instance_names()
    for instance_id in set(ids) - names.keys():
        found = await services.store.read(stream=instance_stream(instance_id), type=InstanceDeleted.__name__, limit=1)
        deleted = services.registry.decode(found[0]) if found else None
        if isinstance(deleted, InstanceDeleted):
            names[instance_id] = deleted.name
    return names


async def group_names(services: Services, group_by: GroupBy, keys: Iterable[str]) -> dict[str, str]:
    """What people call each group; a key missing here is shown as itself (an actor, a day)."""
    sessions = services.sessions
    if group_by == "instance":
        return await instance_names(services, keys)
    if group_by == "provider":
        providers = {key: sessions.catalog.provider(key) for key in keys}
        return {key: provider.name for key, provider in providers.items() if provider is not None}
    if group_by == "model":
        return {key: key.split("/", 1)[1] for key in keys}
    if group_by == "session":
        rows = [await sessions.view.get(sessions.store, key) for key in keys]
        return {row.session.id: row.session.name for row in rows if row is not None}
    return {}


Row = TypeVar("Row", bound=CostPart)


def _order(group_by: GroupBy, groups: list[Row]) -> list[Row]:
    if group_by == "day":
        return sorted(groups, key=lambda group: group.key)
    return sorted(groups, key=lambda group: (-group.cost_usd, -group.current_cost_usd, group.key))


async def _parts(
    services: Services, split_by: GroupBy | None, split: dict[str, dict[str, Tally]]
) -> dict[str, list[CostPart]]:
    """Each group's parts, named and ordered; none without `split_by`."""
    if split_by is None:
        return {}
    names = await group_names(services, split_by, {key for tallies in split.values() for key in tallies})
    return {
        group: _order(split_by, [tally.part(key, names.get(key, key)) for key, tally in tallies.items()])
        for group, tallies in split.items()
    }


async def cost_report(
    services: Services,
    group_by: GroupBy,
    since: datetime | None = None,
    until: datetime | None = None,
    split_by: GroupBy | None = None,
) -> CostReport:
    """The turns that ended in [since, until) grouped by `group_by`, each group split by `split_by` when given,
    with the whole window's figures."""
    check_window(since, until)
    check_split(group_by, split_by)
    total, tallies, split = Tally(), dict[str, Tally](), dict[str, dict[str, Tally]]()
    for ended in await ended_turns(services.sessions, since, until):
        cost = turn_cost(services.sessions, ended.turn)
        total.add(ended.turn, cost)
        key = KEY_OF[group_by](ended)
        tallies.setdefault(key, Tally()).add(ended.turn, cost)
        if split_by is not None:
            split.setdefault(key, {}).setdefault(KEY_OF[split_by](ended), Tally()).add(ended.turn, cost)
    names, parts = await group_names(services, group_by, tallies), await _parts(services, split_by, split)
    groups = [tally.group(key, names.get(key, key), parts.get(key, [])) for key, tally in tallies.items()]
    return CostReport(
        group_by=group_by, split_by=split_by, since=since, until=until, groups=_order(group_by, groups),
        total=total.figures(),
    )
