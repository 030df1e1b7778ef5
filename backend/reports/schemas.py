"""What the cost report answers: the figures of each group and of the whole, at recorded and today's prices."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

GroupBy = Literal["instance", "model", "provider", "session", "actor", "day"]


class CostFigures(msgspec.Struct, frozen=True, kw_only=True):
    """Turns, tokens and cost; `cost_usd` is the known part, the turns without a known price are counted apart.

    `current_cost_usd` prices the same tokens at the catalog's prices now (custom overrides included).
    """

    turns: int
    unknown_cost_turns: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float
    current_cost_usd: float
    current_unknown_cost_turns: int


class CostPart(CostFigures, frozen=True, kw_only=True):
    """The figures of a group or of one of its parts. `key`: an instance, session or provider id, `provider/model`, an actor or a UTC day
    (YYYY-MM-DD); `name`: what people call it (the id itself when nothing names it any more)."""

    key: str
    name: str


class CostGroup(CostPart, frozen=True, kw_only=True):
    """A group of the report; `parts` splits its figures by the report's `split_by` (empty without it), ordered
    as groups are."""

    parts: list[CostPart]


class CostReport(msgspec.Struct, frozen=True, kw_only=True):
    """The turns that ended in [since, until), grouped: the costliest group first (by day: the oldest first)."""

    group_by: GroupBy
    split_by: GroupBy | None
    since: datetime | None
    until: datetime | None
    groups: list[CostGroup]
    total: CostFigures
