"""`switchboard report cost`: the API's cost report (same function), as a table or JSON."""

from __future__ import annotations

import argparse
from typing import get_args

from backend.cli.domain import services_for_cli
from backend.cli.output import Refused, print_json, print_table
from backend.reports.cost import cost_report
from backend.reports.schemas import CostFigures, CostReport, GroupBy
from backend.settings import Settings

HEADERS = ("GROUP", "TURNS", "UNPRICED", "TOKENS IN", "TOKENS OUT", "CACHE R/W", "COST USD", "AT TODAY'S PRICES")


def group_by(value: str) -> GroupBy:
    choices: tuple[GroupBy, ...] = get_args(GroupBy)
    for choice in choices:
        if value == choice:
            return choice
    raise Refused(f"--group-by {value!r} is not one of {', '.join(choices)}", code=2)


async def report_cost(settings: Settings, args: argparse.Namespace) -> int:
    grouping = group_by(args.group_by)
    async with services_for_cli(settings) as services:
        report = await cost_report(services, grouping, args.since, args.until)
    if args.json:
        print_json(report)
    else:
        _print_report(report)
    return 0


def _print_report(report: CostReport) -> None:
    rows = [(group.name, *_figures(group)) for group in report.groups]
    print_table(HEADERS, [*rows, ("total", *_figures(report.total))])


def _figures(figures: CostFigures) -> tuple[str, ...]:
    today = f"{figures.current_cost_usd:.4f}"
    if figures.current_unknown_cost_turns:
        today += f" (+{figures.current_unknown_cost_turns} unpriced)"
    return (
        str(figures.turns), str(figures.unknown_cost_turns), f"{figures.input_tokens:,}", f"{figures.output_tokens:,}",
        f"{figures.cache_read_tokens:,}/{figures.cache_write_tokens:,}", f"{figures.cost_usd:.4f}", today,
    )
