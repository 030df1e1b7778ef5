"""The Reports page's pure helpers: the period's days, spend per day with its parts (zero on days without turns,
the smallest parts together as Others), totals, tokens per model and the latency chart's points and classes."""

from __future__ import annotations

from datetime import date

from frontend.pages.reports_state import (
    OTHERS,
    PALETTE,
    SpendRow,
    address,
    latency_chart,
    model_rows,
    period_days,
    spend_chart,
    start_of,
    token_data,
    totals,
)
from frontend.reports_api import (
    ConnectionTest,
    CostFigures,
    CostGroup,
    CostPart,
    CostReport,
)


def figures(turns: int = 1, cost: float = 0.0, unknown: int = 0, tokens: tuple[int, int] = (0, 0)) -> dict[str, object]:
    return {
        "turns": turns, "unknown_cost_turns": unknown, "input_tokens": tokens[0], "output_tokens": tokens[1],
        "cache_read_tokens": 0, "cache_write_tokens": 0, "cost_usd": cost, "current_cost_usd": cost * 2,
        "current_unknown_cost_turns": unknown,
    }


def part(key: str, cost: float, turns: int = 1, unknown: int = 0) -> CostPart:
    return CostPart(key=key, name=key.title(), **figures(turns, cost, unknown))  # type: ignore[arg-type]


def day(key: str, *parts: CostPart) -> CostGroup:
    """A day's group: the sum of its parts."""
    turns, unknown = sum(p.turns for p in parts), sum(p.unknown_cost_turns for p in parts)
    whole = figures(turns, sum(p.cost_usd for p in parts), unknown)
    return CostGroup(key=key, name=key, parts=list(parts), **whole)  # type: ignore[arg-type]


def report(*groups: CostGroup) -> CostReport:
    turns = sum(group.turns for group in groups)
    unknown = sum(group.unknown_cost_turns for group in groups)
    total = CostFigures(**figures(turns, sum(group.cost_usd for group in groups), unknown))  # type: ignore[arg-type]
    return CostReport(group_by="day", split_by="instance", since=None, until=None, groups=list(groups), total=total)


DAYS = period_days(3, date(2026, 12, 2))


def test_the_period_is_its_days_up_to_today_starting_at_midnight_utc() -> None:
    assert DAYS == [date(2026, 11, 30), date(2026, 12, 1), date(2026, 12, 2)]
    assert start_of(DAYS[0]) == "2026-11-30T00:00:00Z"
    assert len(period_days(30, date(2026, 12, 2))) == 30


def test_the_address_names_the_period_the_split_and_the_instance() -> None:
    assert address("7", "model", "abc123") == "/reports?days=7&by=model&instance=abc123"
    assert address("30", "instance", "") == "/reports?days=30&by=instance"


def test_spend_per_day_stacks_the_parts_and_shows_days_without_turns_as_zero() -> None:
    chart = spend_chart(report(day("2026-12-02", part("alpha", 0.02), part("beta", 0.5, unknown=1))), DAYS)
    assert [(one.key, one.name) for one in chart.series] == [("s0", "Beta"), ("s1", "Alpha")]  # costliest first
    assert chart.data == [
        {"day": "Nov 30", "s0": 0.0, "s1": 0.0},
        {"day": "Dec 1", "s0": 0.0, "s1": 0.0},
        {"day": "Dec 2", "s0": 0.5, "s1": 0.02},
    ]
    assert chart.rows == [SpendRow("2026-12-02", ["$0.50", "$0.02"], "$0.52 + 1 turn of unknown price", 2)]
    assert chart.total == SpendRow("Total", ["$0.50", "$0.02"], "$0.52 + 1 turn of unknown price", 2)


def test_parts_beyond_the_palette_are_summed_as_others() -> None:
    many = [part(f"p{index:02}", cost=float(index + 1)) for index in range(len(PALETTE) + 2)]
    chart = spend_chart(report(day("2026-12-01", *many)), DAYS)
    assert len(chart.series) == len(PALETTE) and chart.series[-1].name == OTHERS
    assert chart.series[0].name == "P09"
    assert chart.data[1][chart.series[-1].key] == 1.0 + 2.0 + 3.0  # the three cheapest parts
    assert sum(float(value) for key, value in chart.data[1].items() if key != "day") == sum(range(1, 11))


def test_totals_count_unknown_prices_apart() -> None:
    shown = totals(CostFigures(**figures(3, 0.0042, unknown=1, tokens=(12_345, 678))))  # type: ignore[arg-type]
    assert (shown.turns, shown.input_tokens, shown.output_tokens) == ("3", "12,345", "678")
    assert (shown.cost, shown.unpriced, shown.today) == ("$0.0042", "1", "$0.0084 + 1 unpriced turn")


def test_tokens_per_model_name_the_model_and_its_provider() -> None:
    by_model = report(CostGroup(key="deepseek/deepseek-v4-flash", name="deepseek-v4-flash", parts=[],
                                **figures(2, 0.001, tokens=(1500, 40))))  # type: ignore[arg-type]
    assert token_data(by_model) == [{"model": "deepseek-v4-flash", "input": 1500, "output": 40}]
    row = model_rows(by_model)[0]
    assert (row.name, row.provider, row.input_tokens, row.cost, row.today) == (
        "deepseek-v4-flash", "deepseek", "1,500", "$0.0010", "$0.0020"
    )


def connection_test(at: str, outcome: str, latency_ms: float) -> ConnectionTest:
    return ConnectionTest(at, outcome, 200 if outcome == "ok" else 401, latency_ms, 2, "")


def test_latency_points_are_classed_by_outcome_and_listed_newest_first() -> None:
    tests = [
        connection_test("2026-12-01T10:00:00+00:00", "ok", 12.4),
        connection_test("2026-12-01T10:05:00+00:00", "auth_failed", 8.0),
        connection_test("2026-12-01T10:10:00+00:00", "timeout", 3000.0),
        connection_test("2026-12-01T10:15:00+00:00", "ok", 10.0),
    ]
    chart = latency_chart(tests)
    assert [point["ms"] for point in chart.line] == [12.4, 8.0, 3000.0, 10.0]
    assert chart.line[1]["t"] - chart.line[0]["t"] == 5 * 60 * 1000
    assert [(one.name, len(one.points)) for one in chart.classes] == [
        ("Connected", 2), ("Rate limited or timed out", 1), ("Failed", 1)
    ]
    assert [row.outcome for row in chart.rows] == ["ok", "timeout", "auth_failed", "ok"]
    assert chart.rows[0].time == "2026-12-01 10:15:00 UTC" and chart.rows[2].status == "401"
    assert chart.scale == "seconds"
    weeks = latency_chart([tests[0], connection_test("2026-12-09T10:00:00+00:00", "ok", 9.0)])
    assert weeks.scale == "days" and [one.name for one in weeks.classes] == ["Connected"]
