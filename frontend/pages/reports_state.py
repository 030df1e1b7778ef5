"""The Reports page's figures: spend per day split by instance or model, tokens per model, and one instance's
connection tests, for the last 7, 30 or 90 days (UTC). The period, the split and the instance are chosen with links
to the page's own address (a reload or a shared link shows the same); the figures are reloaded live when turns end,
connection tests run, instances change or prices change."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

import reflex as rx

from frontend import instances_api, reports_api
from frontend.auth import client_for
from frontend.forms import REQUEST_FAILURES, describe_failure
from frontend.layout import page_range
from frontend.live import react_to
from frontend.money import usd
from frontend.pages.instances_state import shown_time
from frontend.pages.sessions import total_cost
from frontend.words import WORDS, plural

ROUTE = "/reports"
PERIODS = ("7", "30", "90")  # days, today included
SPLITS = ("instance", "model")
DEFAULT_PERIOD, DEFAULT_SPLIT = "30", "instance"
PALETTE = ("indigo", "orange", "teal", "crimson", "violet", "cyan", "grass", "brown")  # one hue per stacked part
OTHERS = "Others"
TESTS_PAGE = 20  # tests a page of the table lists, the newest first; the chart shows them all
OUTCOME_CLASSES = {  # an outcome's colour (frontend/words.py) -> the chart's name and colour for that class
    "green": ("Connected", "green"),
    "amber": ("Rate limited or timed out", "orange"),  # amber's solid step is too pale for a point on white
    "red": ("Failed", "red"),
    "gray": ("Other", "gray"),
}
TIME_SCALES = ((3_600_000, "seconds"), (3 * 86_400_000, "minutes"))  # tests spanning less than this (ms): ticks in
CHANGES = ("TurnCompleted", "TurnFailed", "TurnCancelled", "TurnInterrupted", "ConnectionTested", "Instance",
           "CustomProvider", "CustomModel", "CatalogRefreshed")  # events that move a figure of the page


def colour(name: str) -> str:
    """A Radix colour's solid step, which reads on both the light and the dark theme."""
    return f"var(--{name}-9)"


@dataclass
class Totals:
    """The period's figures at the top of the page."""

    turns: str = "0"
    input_tokens: str = "0"
    output_tokens: str = "0"
    cost: str = "$0.00"
    unpriced: str = "0"
    today: str = "$0.00"


@dataclass
class Series:
    """One stacked part of the spend chart: `key` names its figure in each day's row of the chart data."""

    key: str
    name: str
    colour: str


@dataclass
class SpendRow:
    """A day of the spend table: the cost of each part (in the chart's order), the day's total and turns."""

    day: str
    cells: list[str]
    total: str
    turns: int


@dataclass
class ModelRow:
    name: str
    provider: str
    turns: int
    input_tokens: str
    output_tokens: str
    cache: str
    cost: str
    today: str


@dataclass
class OutcomeClass:
    """The tests of one class of outcomes, as points of the latency chart: `t` in ms since 1970, `ms` the latency."""

    name: str
    colour: str
    class_name: str
    points: list[dict[str, float]] = field(default_factory=list)


@dataclass
class TestRow:
    time: str
    outcome: str
    latency: str
    status: str
    models: str
    message: str


@dataclass
class InstanceChoice:
    """An instance the latency chart can show, with the address of the page showing it."""

    id: str
    name: str
    href: str


@dataclass
class SpendChart:
    """The spend chart's data (a row per day, zero on days without turns), its parts and its table."""

    data: list[dict[str, str | float]]
    series: list[Series]
    rows: list[SpendRow]
    total: SpendRow


@dataclass
class LatencyChart:
    """The tests as points, by class of outcome; their rows, newest first; how fine the time axis' ticks are."""

    line: list[dict[str, float]]
    classes: list[OutcomeClass]
    rows: list[TestRow]
    scale: str


def period_days(days: int, today: date) -> list[date]:
    """The days of the period, oldest first: `days` days up to and including today."""
    return [today - timedelta(days=back) for back in range(days - 1, -1, -1)]


def start_of(day: date) -> str:
    """Midnight UTC at the start of `day`, as the API takes a time (RFC 3339)."""
    return datetime.combine(day, time(), UTC).isoformat().replace("+00:00", "Z")


def totals(figures: reports_api.CostFigures) -> Totals:
    today = usd(figures.current_cost_usd)
    if figures.current_unknown_cost_turns:
        today += f" + {plural(figures.current_unknown_cost_turns, 'unpriced turn')}"
    return Totals(
        turns=f"{figures.turns:,}",
        input_tokens=f"{figures.input_tokens:,}",
        output_tokens=f"{figures.output_tokens:,}",
        cost=usd(figures.cost_usd),
        unpriced=f"{figures.unknown_cost_turns:,}",
        today=today,
    )


def _ranked_parts(groups: list[reports_api.CostGroup]) -> list[tuple[str, str]]:
    """Every part's key and name across the days, the costliest over the period first."""
    cost: dict[str, tuple[float, int]] = {}
    names: dict[str, str] = {}
    for group in groups:
        for part in group.parts:
            spent, turns = cost.get(part.key, (0.0, 0))
            cost[part.key], names[part.key] = (spent + part.cost_usd, turns + part.turns), part.name
    ranked = sorted(cost, key=lambda key: (-cost[key][0], -cost[key][1], names[key], key))
    return [(key, names[key]) for key in ranked]


def spend_chart(report: reports_api.CostReport, days: list[date]) -> SpendChart:
    """Each day's cost split by the report's parts: the costliest parts each with a colour, the rest as Others."""
    ranked = _ranked_parts(report.groups)
    shown = ranked if len(ranked) <= len(PALETTE) else ranked[: len(PALETTE) - 1]
    series = [Series(f"s{index}", name, colour(PALETTE[index])) for index, (_, name) in enumerate(shown)]
    if len(shown) < len(ranked):
        series.append(Series(f"s{len(shown)}", OTHERS, colour("gray")))
    slot = {key: min(index, len(series) - 1) for index, (key, _) in enumerate(ranked)}
    by_day = {group.key: group for group in report.groups}
    data: list[dict[str, str | float]] = []
    rows: list[SpendRow] = []
    sums = [0.0] * len(series)
    for day in days:
        costs = [0.0] * len(series)
        group = by_day.get(day.isoformat())
        for part in group.parts if group else []:
            costs[slot[part.key]] += part.cost_usd
        sums = [before + cost for before, cost in zip(sums, costs)]
        data.append({"day": f"{day:%b} {day.day}", **{one.key: round(cost, 10) for one, cost in zip(series, costs)}})
        if group:
            total = total_cost(group.cost_usd, group.unknown_cost_turns)
            rows.append(SpendRow(day.isoformat(), [usd(cost) for cost in costs], total, group.turns))
    whole = report.total
    whole_cost = total_cost(whole.cost_usd, whole.unknown_cost_turns)
    total = SpendRow("Total", [usd(cost) for cost in sums], whole_cost, whole.turns)
    return SpendChart(data, series, rows, total)


def model_rows(report: reports_api.CostReport) -> list[ModelRow]:
    return [
        ModelRow(
            name=group.name,
            provider=group.key.split("/", 1)[0],
            turns=group.turns,
            input_tokens=f"{group.input_tokens:,}",
            output_tokens=f"{group.output_tokens:,}",
            cache=f"{group.cache_read_tokens:,} / {group.cache_write_tokens:,}",
            cost=total_cost(group.cost_usd, group.unknown_cost_turns),
            today=total_cost(group.current_cost_usd, group.current_unknown_cost_turns),
        )
        for group in report.groups
    ]


def token_data(report: reports_api.CostReport) -> list[dict[str, str | int]]:
    """A bar per model: its input and output tokens, stacked."""
    return [
        {"model": group.name, "input": group.input_tokens, "output": group.output_tokens} for group in report.groups
    ]


def outcome_class(outcome: str) -> str:
    return WORDS.get(outcome, (outcome, "gray"))[1]


def latency_chart(tests: list[reports_api.ConnectionTest]) -> LatencyChart:
    """Each test as a point in time with its latency, coloured by its class of outcome; the newest listed first."""
    line: list[dict[str, float]] = []
    classes = {
        name: OutcomeClass(words, colour(paint), f"latency-{name}") for name, (words, paint) in OUTCOME_CLASSES.items()
    }
    for test in tests:
        point = {"t": datetime.fromisoformat(test.tested_at).timestamp() * 1000, "ms": round(test.latency_ms, 1)}
        line.append(point)
        classes[outcome_class(test.outcome)].points.append(point)
    rows = [
        TestRow(
            shown_time(test.tested_at), test.outcome, f"{test.latency_ms:.0f} ms", str(test.http_status or "–"),
            f"{test.model_count:,}", test.message,
        )
        for test in reversed(tests)
    ]
    span = line[-1]["t"] - line[0]["t"] if line else 0
    scale = next((scale for longest, scale in TIME_SCALES if span < longest), "days")
    return LatencyChart(line, [one for one in classes.values() if one.points], rows, scale)


def _choice(value: str, choices: tuple[str, ...], fallback: str) -> str:
    return value if value in choices else fallback


def address(period: str, split: str, instance_id: str) -> str:
    """The page's address for these choices: what a reload or a shared link shows again."""
    chosen = {"days": period, "by": split} | ({"instance": instance_id} if instance_id else {})
    return f"{ROUTE}?{urlencode(chosen)}"


class ReportsState(rx.State):
    """The figures of the chosen period; nothing is cleared while newer figures load, so the page keeps its place."""

    period: str = DEFAULT_PERIOD
    split: str = DEFAULT_SPLIT
    instance_id: str = ""
    loaded: bool = False
    error: str = ""
    totals: Totals = Totals()
    spend_data: list[dict[str, str | float]] = []
    spend_series: list[Series] = []
    spend_rows: list[SpendRow] = []
    spend_total: SpendRow = SpendRow("Total", [], "$0.00", 0)
    token_data: list[dict[str, str | int]] = []
    model_rows: list[ModelRow] = []
    instances: list[InstanceChoice] = []
    latency_line: list[dict[str, float]] = []
    latency_classes: list[OutcomeClass] = []
    latency_scale: str = "seconds"
    test_rows: list[TestRow] = []  # the page of the table shown
    tests_first: int = 0  # how many newer tests come before that page
    tests_total: int = 0
    _tests: list[TestRow] = []  # every test of the period, newest first

    @rx.var
    def period_hrefs(self) -> dict[str, str]:
        return {period: address(period, self.split, self.instance_id) for period in PERIODS}

    @rx.var
    def split_hrefs(self) -> dict[str, str]:
        return {split: address(self.period, split, self.instance_id) for split in SPLITS}

    @rx.var
    def period_words(self) -> str:
        return f"the last {self.period} days"

    @rx.var
    def tests_range(self) -> str:
        return page_range(self.tests_first, len(self.test_rows), self.tests_total)

    @rx.var
    def more_tests(self) -> bool:
        return self.tests_first + TESTS_PAGE < self.tests_total

    @rx.event
    def newer_tests(self) -> None:
        self._show_tests(self.tests_first - TESTS_PAGE)

    @rx.event
    def older_tests(self) -> None:
        self._show_tests(self.tests_first + TESTS_PAGE)

    def _show_tests(self, first: int) -> None:
        """The page of the tests table starting at `first`, kept within the tests there are."""
        self.tests_first = max(0, min(first, (len(self._tests) - 1) // TESTS_PAGE * TESTS_PAGE))
        self.test_rows = self._tests[self.tests_first : self.tests_first + TESTS_PAGE]

    @rx.var
    def instance_name(self) -> str:
        return next((one.name for one in self.instances if one.id == self.instance_id), "")

    @rx.event
    async def load(self) -> None:
        """Open the page on the period, split and instance the address names, then load the figures."""
        params = self.router.url.query_parameters
        self.period = _choice(params.get("days", ""), PERIODS, DEFAULT_PERIOD)
        self.split = _choice(params.get("by", ""), SPLITS, DEFAULT_SPLIT)
        self.instance_id = params.get("instance", "")
        await self._refresh(keep_page=False)

    @rx.event
    async def changed(self) -> None:
        """Something the figures count was logged: load them again while the page is open."""
        if self.router.url.path.rstrip("/") == ROUTE:
            await self._refresh(keep_page=True)

    async def _refresh(self, keep_page: bool) -> None:
        """Load every figure of the period; `keep_page`: the tests table stays on its page (a live reload)."""
        client = client_for(self)
        days = period_days(int(self.period), datetime.now(UTC).date())
        since = start_of(days[0])
        try:
            by_day, by_model, instances = await asyncio.gather(
                reports_api.cost_report(client, "day", since, self.split),
                reports_api.cost_report(client, "model", since),
                instances_api.list_instances(client),
            )
            choices = [
                InstanceChoice(one.id, one.name, address(self.period, self.split, one.id))
                for one in sorted(instances, key=lambda one: one.name.lower())
            ]
            if choices and self.instance_id not in {one.id for one in choices}:
                self.instance_id = choices[0].id
            tests = await reports_api.connection_tests(client, self.instance_id, since) if choices else []
        except REQUEST_FAILURES as failure:
            self.error = describe_failure(failure)
            return
        spend, latency = spend_chart(by_day, days), latency_chart(tests)
        self.totals = totals(by_day.total)
        self.spend_data, self.spend_series, self.spend_rows, self.spend_total = (
            spend.data, spend.series, spend.rows, spend.total
        )
        self.token_data, self.model_rows = token_data(by_model), model_rows(by_model)
        self.instances = choices
        self.latency_line, self.latency_classes, self.latency_scale = latency.line, latency.classes, latency.scale
        self._tests, self.tests_total = latency.rows, len(latency.rows)
        self._show_tests(self.tests_first if keep_page else 0)
        self.loaded, self.error = True, ""


react_to(CHANGES, ReportsState.changed)
