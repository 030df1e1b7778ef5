"""The Reports page: the period's totals, then spend per day (stacked by instance or model), tokens per model and an
instance's connection-test latency over time, each chart with a table of the same figures under it."""

from __future__ import annotations

import reflex as rx
from reflex_components_core.react_router.dom import ReactRouterLink

from frontend.forms import error_callout
from frontend.layout import page_frame, page_intro, pager
from frontend.pages.reports_state import (
    PERIODS,
    InstanceChoice,
    ModelRow,
    OutcomeClass,
    ReportsState,
    Series,
    SpendRow,
    TestRow,
)
from frontend.words import code_badge

CHART_HEIGHT = 300
# recharts calls these in the browser: a cost as frontend.money.usd writes it, a count in short, a time in UTC
MONEY_JS = (  # cents from a dollar up, else two significant digits: ticks $0.011 and $0.017 stay apart
    "(v) => '$' + (v >= 1 || v <= 0 ? v.toLocaleString('en-US', {minimumFractionDigits: 2, "
    "maximumFractionDigits: 2}) : v.toLocaleString('en-US', {maximumSignificantDigits: 2}))"
)
COUNT_JS = "(v) => v.toLocaleString('en-US', {notation: 'compact'})"
TIME_JS = "(v) => new Date(v).toISOString().slice(0, 19).replace('T', ' ')"
TIME_TICKS_JS = {  # by how long the tests span: 14:05:09, Dec 2 14:05, Dec 2 (UTC)
    "seconds": "(v) => new Date(v).toISOString().slice(11, 19)",
    "minutes": "(v) => new Date(v).toLocaleString('en-US', {timeZone: 'UTC', month: 'short', day: 'numeric', "
    "hour: '2-digit', minute: '2-digit', hourCycle: 'h23'})",
    "days": "(v) => new Date(v).toLocaleDateString('en-US', {timeZone: 'UTC', month: 'short', day: 'numeric'})",
}
TICKS = {"fill": "var(--gray-11)", "fontSize": 12}
AXIS = {"stroke": "var(--gray-7)", "tick": TICKS}


def _choice_link(label: str, href: rx.Var[str], chosen: rx.Var[bool]) -> rx.Component:
    """One of a few choices, as a link to the page's address with it: the page stays where it was scrolled."""
    return rx.button(
        rx.link(
            label, href=href, replace=True, prevent_scroll_reset=True, underline="none",
            aria_current=rx.cond(chosen, "page", "false"),
        ),
        as_child=True,
        size="2",
        variant=rx.cond(chosen, "solid", "soft"),
        color_scheme=rx.cond(chosen, "indigo", "gray"),
    )


def _choices(choices: list[tuple[str, str]], chosen: rx.Var[str], hrefs: rx.Var[dict[str, str]], choice_id: str,
             label: str) -> rx.Component:
    return rx.flex(
        *(_choice_link(words, hrefs[value], chosen == value) for value, words in choices),
        spacing="1",
        role="group",
        aria_label=label,
        id=choice_id,
    )


def _period_choice() -> rx.Component:
    periods = [(days, f"{days} days") for days in PERIODS]
    return _choices(periods, ReportsState.period, ReportsState.period_hrefs, "report-period", "Period")


def _total(label: str, value: rx.Var[str], total_id: str) -> rx.Component:
    return rx.card(
        rx.text(label, size="1", color_scheme="gray", weight="medium"),
        rx.text(value, size="5", weight="bold", id=total_id, as_="div"),
    )


def _totals() -> rx.Component:
    figures = ReportsState.totals
    return rx.grid(
        _total("Turns", figures.turns, "total-turns"),
        _total("Input tokens", figures.input_tokens, "total-input"),
        _total("Output tokens", figures.output_tokens, "total-output"),
        _total("Cost", figures.cost, "total-cost"),
        _total("Turns at unknown price", figures.unpriced, "total-unpriced"),
        _total("At today's prices", figures.today, "total-today"),
        columns=rx.breakpoints(initial="2", sm="3", lg="6"),
        spacing="3",
        margin_bottom="var(--space-5)",
        id="report-totals",
    )


def _section(title: str, section_id: str, *children: rx.Component, tools: rx.Component | None = None) -> rx.Component:
    return rx.box(
        rx.flex(
            rx.heading(title, size="4"),
            rx.spacer(),
            *([tools] if tools is not None else []),
            align="center",
            spacing="3",
            wrap="wrap",
            margin_bottom="var(--space-3)",
        ),
        *children,
        margin_bottom="var(--space-6)",
        id=section_id,
    )


def _chart_box(chart: rx.Component, box_id: str) -> rx.Component:
    """The chart at the container's width and a fixed height, so new figures never move what is below it; the
    legend's words in the text colour (recharts paints them in their series' colour, pale ones unreadable)."""
    return rx.box(
        chart, height=f"{CHART_HEIGHT}px", width="100%", min_width="0", id=box_id,
        style={"& .recharts-legend-item-text": {"color": "var(--gray-12) !important"}},
    )


def _tooltip(**formatters: str) -> rx.Component:
    return rx.recharts.graphing_tooltip(
        is_animation_active=False, custom_attrs={name: rx.Var(js) for name, js in formatters.items()}
    )


def _legend() -> rx.Component:
    """The series in the order they are drawn (recharts sorts them by name unless told)."""
    return rx.recharts.legend(wrapper_style={"fontSize": "12px"}, custom_attrs={"itemSorter": "dataKey"})


def _grid(vertical: bool = False) -> rx.Component:
    """Dashed lines along the value axis only."""
    return rx.recharts.cartesian_grid(
        stroke_dasharray="3 3", stroke="var(--gray-5)", vertical=vertical, horizontal=not vertical
    )


def _swatch(paint: rx.Var[str]) -> rx.Component:
    return rx.box(width="10px", height="10px", border_radius="2px", background=paint, flex_shrink="0")


def _column(label: str | rx.Component, figures: bool = False) -> rx.Component:
    """A column's header; a column of figures is aligned to the right, like its cells."""
    return rx.table.column_header_cell(label, white_space="nowrap", justify="end" if figures else "start")


def _table(columns: list[rx.Component], *rows: rx.Component, table_id: str) -> rx.Component:
    return rx.table.root(
        rx.table.header(rx.table.row(*columns)), rx.table.body(*rows), size="1", width="100%", id=table_id
    )


def _number(value: rx.Var[str] | rx.Var[int] | str, **props: object) -> rx.Component:
    return rx.table.cell(value, justify="end", white_space="nowrap", **props)


def _split_choice() -> rx.Component:
    splits = [("instance", "By instance"), ("model", "By model")]
    return _choices(splits, ReportsState.split, ReportsState.split_hrefs, "split-by", "Stack the spend")


def _spend_bar(series: Series) -> rx.Component:
    return rx.recharts.bar(
        data_key=series.key, name=series.name, fill=series.colour, stack_id="spend", is_animation_active=False,
        max_bar_size=48, class_name="spend-bar",
    )


def _spend_chart() -> rx.Component:
    return rx.recharts.bar_chart(
        _grid(),
        rx.recharts.x_axis(data_key="day", min_tick_gap=12, **AXIS),
        rx.recharts.y_axis(tick_formatter=MONEY_JS, width=64, **AXIS),
        _tooltip(formatter=MONEY_JS),
        _legend(),
        rx.foreach(ReportsState.spend_series, _spend_bar),
        data=ReportsState.spend_data,
        margin={"top": 8, "right": 16, "left": 0, "bottom": 0},
    )


def _series_header(series: Series) -> rx.Component:
    return _column(
        rx.flex(_swatch(series.colour), rx.text(series.name), align="center", spacing="2", justify="end"), True
    )


def _spend_row(row: SpendRow, **props: object) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(row.day, white_space="nowrap"),
        rx.foreach(row.cells, lambda cost: _number(cost)),
        _number(row.total, class_name="spend-day-total"),
        _number(row.turns),
        **props,
    )


def _spend_table() -> rx.Component:
    return _table(
        [_column("Day (UTC)"), rx.foreach(ReportsState.spend_series, _series_header), _column("Total", True),
         _column("Turns", True)],
        rx.foreach(ReportsState.spend_rows, lambda row: _spend_row(row, class_name="spend-row")),
        _spend_row(ReportsState.spend_total, font_weight="bold", id="spend-total"),
        table_id="spend-table",
    )


def _spend() -> rx.Component:
    return _section(
        "Spend per day",
        "spend",
        _chart_box(_spend_chart(), "spend-chart"),
        rx.text(
            "Cost at the prices recorded with each turn; days without turns are left out of the table.",
            size="1", color_scheme="gray", as_="p", margin_y="var(--space-2)",
        ),
        _spend_table(),
        tools=_split_choice(),
    )


def _tokens_chart() -> rx.Component:
    """A bar per model, lying down: long model names read on the axis, even on a phone."""
    return rx.recharts.bar_chart(
        _grid(vertical=True),
        rx.recharts.x_axis(type_="number", tick_formatter=COUNT_JS, **AXIS),
        rx.recharts.y_axis(data_key="model", type_="category", width=136, interval=0, **AXIS),
        _tooltip(),
        _legend(),
        rx.recharts.bar(
            data_key="input", name="Input tokens", fill="var(--indigo-9)", stack_id="tokens",
            is_animation_active=False, max_bar_size=32, class_name="tokens-input",
        ),
        rx.recharts.bar(
            data_key="output", name="Output tokens", fill="var(--teal-9)", stack_id="tokens",
            is_animation_active=False, max_bar_size=32, class_name="tokens-output",
        ),
        data=ReportsState.token_data,
        layout="vertical",
        margin={"top": 8, "right": 16, "left": 0, "bottom": 0},
    )


def _model_row(row: ModelRow) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(
            rx.text(row.name, weight="medium", white_space="nowrap"),
            rx.text(row.provider, size="1", color_scheme="gray", as_="div"),
        ),
        _number(row.turns),
        _number(row.input_tokens, class_name="model-input"),
        _number(row.output_tokens, class_name="model-output"),
        _number(row.cache),
        _number(row.cost, class_name="model-cost"),
        _number(row.today),
        class_name="model-row",
    )


def _tokens() -> rx.Component:
    return _section(
        "Tokens per model",
        "tokens",
        _chart_box(_tokens_chart(), "tokens-chart"),
        rx.box(
            _table(
                [_column("Model"), *(_column(label, True) for label in (
                    "Turns", "Input", "Output", "Cache read / write", "Cost", "At today's prices"))],
                rx.foreach(ReportsState.model_rows, _model_row),
                table_id="tokens-table",
            ),
            margin_top="var(--space-3)",
        ),
    )


def _no_turns() -> rx.Component:
    return rx.callout(
        rx.text(
            "No turns in ", ReportsState.period_words, " — start a session on the ",
            rx.link("Sessions page", href="/sessions"), ".",
        ),
        icon="info",
        margin_bottom="var(--space-6)",
        id="no-turns",
    )


def _instance_item(choice: InstanceChoice) -> rx.Component:
    """The menu item is the link itself (the router's own, which takes the item's props), so Enter follows it too."""
    return rx.dropdown_menu.item(
        ReactRouterLink.create(choice.name, to=choice.href, replace=True, prevent_scroll_reset=True),
        as_child=True,
        class_name="instance-choice",
    )


def _instance_choice() -> rx.Component:
    """A menu of the instances, each a link to the page showing its tests."""
    return rx.dropdown_menu.root(
        rx.dropdown_menu.trigger(
            rx.button(
                rx.text(ReportsState.instance_name, truncate=True), rx.icon("chevron-down", size=16),
                variant="surface", color_scheme="gray", max_width="min(320px, 80vw)", id="latency-instance",
            ),
        ),
        rx.dropdown_menu.content(rx.foreach(ReportsState.instances, _instance_item)),
    )


def _outcome_points(outcomes: OutcomeClass) -> rx.Component:
    return rx.recharts.scatter(
        data=outcomes.points, name=outcomes.name, fill=outcomes.colour, class_name=outcomes.class_name,
        is_animation_active=False,
    )


def _time_axis(tick_formatter: str) -> rx.Component:
    return rx.recharts.x_axis(
        data_key="t", type_="number", scale="time", domain=["dataMin", "dataMax"], tick_formatter=tick_formatter,
        min_tick_gap=24, **AXIS,
    )


def _latency_chart() -> rx.Component:
    return rx.recharts.composed_chart(
        _grid(),
        rx.match(ReportsState.latency_scale, *((scale, _time_axis(js)) for scale, js in TIME_TICKS_JS.items()),
                 _time_axis(TIME_TICKS_JS["days"])),
        rx.recharts.y_axis(data_key="ms", tick_formatter="(v) => v + ' ms'", width=64, **AXIS),
        _tooltip(labelFormatter=f"(v) => ({TIME_JS})(v) + ' UTC'"),
        _legend(),
        rx.recharts.line(
            data_key="ms", name="Latency", stroke="var(--gray-8)", dot=False, legend_type="none",
            is_animation_active=False,
        ),
        rx.foreach(ReportsState.latency_classes, _outcome_points),
        data=ReportsState.latency_line,
        margin={"top": 8, "right": 16, "left": 0, "bottom": 0},
    )


def _test_row(row: TestRow) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(row.time, white_space="nowrap"),
        rx.table.cell(code_badge(row.outcome, class_name="test-outcome")),
        _number(row.latency, class_name="test-latency"),
        _number(row.status),
        _number(row.models),
        rx.table.cell(row.message, min_width="12rem"),
        class_name="test-row",
    )


def _test_item(row: TestRow) -> rx.Component:
    """A test as stacked lines, for a phone: outcome and latency first, then when, then what it said."""
    return rx.flex(
        rx.flex(
            code_badge(row.outcome, class_name="test-outcome"),
            rx.text(row.latency, size="2", weight="medium", class_name="test-latency"),
            rx.spacer(),
            rx.text(row.time, size="1", color_scheme="gray"),
            align="center",
            spacing="2",
            wrap="wrap",
        ),
        rx.text("HTTP ", row.status, " · ", row.message, size="1", color_scheme="gray", overflow_wrap="anywhere"),
        direction="column",
        spacing="1",
        padding_y="var(--space-2)",
        border_bottom="1px solid var(--gray-4)",
        class_name="test-item",
    )


def _tests_table() -> rx.Component:
    return rx.fragment(
        rx.tablet_and_desktop(
            _table(
                [_column("Time"), _column("Outcome"), _column("Latency", True), _column("HTTP", True),
                 _column("Models", True), _column("Message")],
                rx.foreach(ReportsState.test_rows, _test_row),
                table_id="tests-table",
            ),
        ),
        rx.mobile_only(rx.foreach(ReportsState.test_rows, _test_item), id="test-items"),
        pager(
            ReportsState.tests_range, ReportsState.tests_first > 0, ReportsState.more_tests,
            ReportsState.newer_tests, ReportsState.older_tests, margin_top="var(--space-3)",
        ),
    )


def _latency_body() -> rx.Component:
    return rx.cond(
        ReportsState.test_rows.length() > 0,
        rx.fragment(
            _chart_box(_latency_chart(), "latency-chart"),
            rx.box(_tests_table(), margin_top="var(--space-3)"),
        ),
        rx.callout(
            rx.text(
                "No connection tests of ", ReportsState.instance_name, " in ", ReportsState.period_words,
                " — test it on the ", rx.link("Instances page", href="/instances"), ".",
            ),
            icon="info",
            id="no-tests",
        ),
    )


def _latency() -> rx.Component:
    return _section(
        "Connection tests",
        "latency",
        rx.cond(
            ReportsState.instances.length() > 0,
            _latency_body(),
            rx.callout(
                rx.text("No instances yet — add one on the ", rx.link("Instances page", href="/instances"), "."),
                icon="info",
                id="no-instances",
            ),
        ),
        tools=rx.cond(ReportsState.instances.length() > 0, _instance_choice()),
    )


def reports_page() -> rx.Component:
    return page_frame(
        "Reports",
        page_intro("What the turns cost and how the connections answered, by UTC day.", _period_choice()),
        error_callout(ReportsState.error),
        rx.cond(
            ReportsState.loaded,
            rx.fragment(
                _totals(),
                rx.cond(ReportsState.totals.turns == "0", _no_turns(), rx.fragment(_spend(), _tokens())),
                _latency(),
            ),
        ),
    )
