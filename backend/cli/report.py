"""`switchboard report cost`: the API's cost report (same function), as a table or JSON; with --split-by each
group's parts follow it, indented."""

from __future__ import annotations

import argparse
from typing import get_args

from backend.cli.domain import services_for_cli
from backend.cli.output import Refused, print_json, print_table, refusal_of
from backend.errors import ProblemError
from backend.reports.cost import cost_report
from backend.reports.schemas import CostFigures, CostReport, GroupBy
from backend.settings import Settings

HEADERS = ("GROUP", "TURNS", "UNPRICED", "TOKENS IN", "TOKENS OUT", "CACHE R/W", "COST USD", "AT TODAY'S PRICES")


def grouping(option: str, value: str) -> GroupBy:
    """The value of --group-by or --split-by, refused unless it is one of the report's groupings."""
    choices: tuple[GroupBy, ...] = get_args(GroupBy)
    for choice in choices:
        if value == choice:
            return choice
    raise Refused(f"{option} {value!r} is not one of {', '.join(choices)}", code=2)


async def report_cost(settings: Settings, args: argparse.Namespace) -> int:
    group_by = grouping("--group-by", args.group_by)
    split_by = grouping("--split-by", args.split_by) if args.split_by else None
    async with services_for_cli(settings) as services:
        try:
            report = await cost_report(services, group_by, args.since, args.until, split_by)
        except ProblemError as error:  # arguments that parse but break a rule of the report
            raise Refused(str(refusal_of(error)), code=2) from None
    if args.json:
        print_json(report)
    else:
        _print_report(report)
    return 0


def _print_report(report: CostReport) -> None:
    rows = [
        row
        for group in report.groups
        for row in [(group.name, *_figures(group)), *((f"  {part.name}", *_figures(part)) for part in group.parts)]
    ]
    print_table(HEADERS, [*rows, ("total", *_figures(report.total))])


def _figures(figures: CostFigures) -> tuple[str, ...]:
    today = f"{figures.current_cost_usd:.4f}"
    if figures.current_unknown_cost_turns:
        today += f" (+{figures.current_unknown_cost_turns} unpriced)"
    return (
        str(figures.turns), str(figures.unknown_cost_turns), f"{figures.input_tokens:,}", f"{figures.output_tokens:,}",
        f"{figures.cache_read_tokens:,}/{figures.cache_write_tokens:,}", f"{figures.cost_usd:.4f}", today,
    )
