"""The Reports page on data made through the app: two instances on a local OpenAI-compatible upstream, connection
tests (one refused), turns on two models. The charts draw a mark for each figure the API answers, the tables show
those figures, the split and the instance can be chosen (and kept in the address), and new turns and tests arrive
live without moving the page."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from frontend.money import usd
from tests.e2e.conftest import ConsoleErrors, RunningApp
from tests.upstreams import Scenario, UpstreamServer

KEY = "sk-e2e-reports-key-7272"
PROVIDER = "deepseek"  # a shipped openai-compat provider with known prices
FLASH, PRO = "deepseek-v4-flash", "deepseek-v4-pro"
WAIT_MS = 20_000
DAYS = 7


@dataclass
class Seeded:
    """What the module made: instance ids by name, and the session and agent to send more turns with."""

    main: str
    other: str
    untested: str
    names: dict[str, str]
    session: str
    agent: str


def unique(what: str) -> str:
    return f"{what} {uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamServer]:
    with UpstreamServer(Scenario(key=KEY, models=[FLASH, PRO], reply="A short answer of eight words here.")) as server:
        yield server


def api(running_app: RunningApp) -> httpx.Client:
    return httpx.Client(base_url=f"{running_app.base_url}/api/v1", timeout=30)


def send_turn(client: httpx.Client, session_id: str, agent_id: str, text: str) -> None:
    answer = client.post(f"/sessions/{session_id}/agents/{agent_id}/messages", json={"text": text})
    assert answer.status_code == 200 and '"outcome":"completed"' in answer.text.replace(" ", ""), answer.text


@pytest.fixture(scope="module")
def seeded(running_app: RunningApp, upstream: UpstreamServer) -> Seeded:
    """Main: tested ok, ok, refused key, ok; two turns on flash and one on pro. Other: tested once, one turn on
    flash. Untested: no test at all."""
    names = {"main": unique("Reports main"), "other": unique("Reports other"), "untested": unique("Reports idle")}
    with api(running_app) as client:
        ids = {}
        for role, name in names.items():
            body = {"name": name, "provider_id": PROVIDER, "endpoint": upstream.urls.openai, "api_key": KEY}
            created = client.post("/instances", json=body)
            assert created.status_code == 201, created.text
            ids[role] = created.json()["id"]
        for behaviour in ("ok", "ok", "unauthorized", "ok"):
            upstream.scenario.behaviour = behaviour
            assert client.post(f"/instances/{ids['main']}/test").status_code == 200
        upstream.scenario.behaviour = "ok"
        assert client.post(f"/instances/{ids['other']}/test").json()["status"] == "connected"
        body = {"name": unique("Reports"), "instance_id": ids["main"], "model_id": FLASH}
        session = client.post("/sessions", json=body)
        assert session.status_code == 201, session.text
        session_id, agent_id = session.json()["id"], session.json()["agents"][0]["id"]
        for text in ("one two three", "four five six seven"):
            send_turn(client, session_id, agent_id, text)
        for role, model in (("main", PRO), ("other", FLASH)):
            agent = client.post(f"/sessions/{session_id}/agents",
                                json={"name": unique("agent"), "instance_id": ids[role], "model_id": model})
            assert agent.status_code == 201, agent.text
            send_turn(client, session_id, agent.json()["agents"][-1]["id"], "eight nine")
    return Seeded(ids["main"], ids["other"], ids["untested"], {ids[role]: name for role, name in names.items()},
                  session_id, agent_id)


def since() -> str:
    first = datetime.now(UTC).date() - timedelta(days=DAYS - 1)
    return f"{first.isoformat()}T00:00:00Z"


def cost_report(running_app: RunningApp, group_by: str, split_by: str = "") -> dict[str, object]:
    params = {"group_by": group_by, "since": since()} | ({"split_by": split_by} if split_by else {})
    with api(running_app) as client:
        answer = client.get("/reports/cost", params=params)
    assert answer.status_code == 200, answer.text
    report: dict[str, object] = answer.json()
    return report


def groups(report: dict[str, object]) -> list[dict[str, object]]:
    listed = report["groups"]
    assert isinstance(listed, list)
    return listed


def connection_tests(running_app: RunningApp, instance_id: str) -> list[dict[str, object]]:
    with api(running_app) as client:
        tests = client.get(f"/instances/{instance_id}/tests", params={"since": since()}).json()["tests"]
    assert isinstance(tests, list)
    return tests


def open_reports(page: Page, running_app: RunningApp, query: str = f"days={DAYS}") -> None:
    page.goto(f"{running_app.base_url}/reports?{query}")
    expect(page.locator("#live-status")).to_have_text("live", timeout=WAIT_MS)
    expect(page.locator("#spend-chart .recharts-wrapper > svg")).to_be_visible(timeout=WAIT_MS)


def bars(chart: Locator) -> Locator:
    """The drawn bars of a chart: recharts draws no rectangle for a zero."""
    return chart.locator("path.recharts-rectangle")


def spent_parts(report: dict[str, object]) -> int:
    parts = [part for group in groups(report) for part in group["parts"]]  # type: ignore[attr-defined]
    return sum(1 for part in parts if part["cost_usd"] > 0)


def column_texts(table: Locator) -> list[str]:
    return [text.strip() for text in table.locator("thead th").all_inner_texts()]


def today_row(report: dict[str, object]) -> dict[str, object]:
    today = datetime.now(UTC).date().isoformat()
    return next(group for group in groups(report) if group["key"] == today)


def expect_spend_matches(page: Page, report: dict[str, object]) -> None:
    """The chart draws a bar for every part of every day that cost something; today's row shows each part's cost."""
    expect(bars(page.locator("#spend-chart"))).to_have_count(spent_parts(report), timeout=WAIT_MS)
    table = page.locator("#spend-table")
    columns = column_texts(table)
    day = today_row(report)
    row = table.locator("tr.spend-row", has=page.get_by_role("rowheader", name=str(day["key"]), exact=True))
    cells = [text.strip() for text in row.locator("th, td").all_inner_texts()]
    for part in day["parts"]:  # type: ignore[attr-defined]
        assert cells[columns.index(part["name"])] == usd(part["cost_usd"]), (part, columns, cells)
    assert cells[columns.index("Turns")] == str(day["turns"])


def test_the_charts_draw_the_figures_the_api_answers(
    page: Page, running_app: RunningApp, seeded: Seeded, console_errors: ConsoleErrors
) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    open_reports(page, running_app)
    by_instance = cost_report(running_app, "day", "instance")
    total = by_instance["total"]
    assert isinstance(total, dict)
    expect(page.locator("#total-turns")).to_have_text(f"{total['turns']:,}")
    expect(page.locator("#total-cost")).to_have_text(usd(total["cost_usd"]))
    expect(page.locator("#total-input")).to_have_text(f"{total['input_tokens']:,}")
    expect_spend_matches(page, by_instance)
    legend = page.locator("#spend-chart .recharts-legend-item-text")
    expect(legend.filter(has_text=seeded.names[seeded.main])).to_have_count(1)
    expect(legend.filter(has_text=seeded.names[seeded.other])).to_have_count(1)
    expect(page.locator("#spend-total td").last).to_have_text(f"{total['turns']:,}")

    by_model = cost_report(running_app, "model")
    models = groups(by_model)
    expect(bars(page.locator("#tokens-chart"))).to_have_count(
        sum((group["input_tokens"] > 0) + (group["output_tokens"] > 0) for group in models)  # type: ignore[operator]
    )
    rows = page.locator("#tokens-table tr.model-row")
    expect(rows).to_have_count(len(models))
    for group in models:
        row = rows.filter(has=page.get_by_text(str(group["name"]), exact=True))
        expect(row.locator(".model-input")).to_have_text(f"{group['input_tokens']:,}")
        expect(row.locator(".model-output")).to_have_text(f"{group['output_tokens']:,}")
    assert console_errors == []


def test_spend_splits_by_model_and_the_address_keeps_it(
    page: Page, running_app: RunningApp, seeded: Seeded, console_errors: ConsoleErrors
) -> None:
    page.set_viewport_size({"width": 1440, "height": 600})
    open_reports(page, running_app)
    page.evaluate("window.scrollTo(0, 200)")
    scrolled = page.evaluate("window.scrollY")
    assert scrolled == 200
    expect(page.locator("#split-by")).to_be_in_viewport()
    page.locator("#split-by").get_by_role("link", name="By model").click()
    expect(page).to_have_url(re.compile(rf"/reports\?days={DAYS}&by=model(&|$)"))
    by_model = cost_report(running_app, "day", "model")
    legend = page.locator("#spend-chart .recharts-legend-item-text")
    expect(legend.filter(has_text=FLASH)).to_have_count(1, timeout=WAIT_MS)
    expect(legend.filter(has_text=PRO)).to_have_count(1)
    expect_spend_matches(page, by_model)
    assert page.evaluate("window.scrollY") == scrolled  # the page stayed where it was
    page.reload()
    expect(page.locator("#split-by [aria-current=page]")).to_have_text("By model", timeout=WAIT_MS)
    expect(page.locator("#report-period [aria-current=page]")).to_have_text(f"{DAYS} days")
    expect_spend_matches(page, by_model)
    page.locator("#split-by").get_by_role("link", name="By instance").click()
    expect(legend.filter(has_text=seeded.names[seeded.main])).to_have_count(1, timeout=WAIT_MS)
    assert console_errors == []


def choose_instance(page: Page, name: str) -> None:
    page.locator("#latency-instance").click()
    page.get_by_role("menuitem", name=name, exact=True).click()
    expect(page.locator("#latency-instance")).to_have_text(name, timeout=WAIT_MS)


def test_latency_shows_each_test_of_the_chosen_instance_with_failures_apart(
    page: Page, running_app: RunningApp, seeded: Seeded, console_errors: ConsoleErrors
) -> None:
    open_reports(page, running_app)
    choose_instance(page, seeded.names[seeded.main])
    tests = connection_tests(running_app, seeded.main)
    assert [test["outcome"] for test in tests] == ["ok", "ok", "auth_failed", "ok"]
    chart = page.locator("#latency-chart")
    expect(chart.locator(".recharts-scatter-symbol")).to_have_count(4, timeout=WAIT_MS)
    expect(chart.locator(".latency-red .recharts-scatter-symbol")).to_have_count(1)
    expect(chart.locator(".latency-green .recharts-scatter-symbol")).to_have_count(3)
    rows = page.locator("#tests-table tr.test-row")
    expect(rows).to_have_count(4)
    expect(rows.nth(1).locator(".test-outcome")).to_have_text("Key refused")  # newest first
    expect(rows.nth(1).locator(".test-latency")).to_have_text(f"{tests[2]['latency_ms']:.0f} ms")
    assert f"instance={seeded.main}" in page.url

    choose_instance(page, seeded.names[seeded.other])
    expect(chart.locator(".recharts-scatter-symbol")).to_have_count(1, timeout=WAIT_MS)
    expect(rows).to_have_count(1)
    assert f"instance={seeded.other}" in page.url

    choose_instance(page, seeded.names[seeded.untested])
    expect(page.locator("#no-tests")).to_have_text(
        f"No connection tests of {seeded.names[seeded.untested]} in the last {DAYS} days — test it on the "
        "Instances page."
    )
    assert console_errors == []


def test_new_turns_and_tests_arrive_live_without_moving_the_page(
    page: Page, running_app: RunningApp, seeded: Seeded, console_errors: ConsoleErrors
) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    open_reports(page, running_app, f"days={DAYS}&instance={seeded.main}")
    symbols = page.locator("#latency-chart .recharts-scatter-symbol")
    expect(symbols).to_have_count(len(connection_tests(running_app, seeded.main)), timeout=WAIT_MS)
    page.locator("#latency").scroll_into_view_if_needed()
    scrolled = page.evaluate("window.scrollY")
    turns = cost_report(running_app, "day")["total"]["turns"]  # type: ignore[index]
    with api(running_app) as client:
        send_turn(client, seeded.session, seeded.agent, "ten eleven")
        assert client.post(f"/instances/{seeded.main}/test").status_code == 200
    expect(page.locator("#total-turns")).to_have_text(f"{turns + 1:,}", timeout=WAIT_MS)
    expect(symbols).to_have_count(len(connection_tests(running_app, seeded.main)), timeout=WAIT_MS)
    expect_spend_matches(page, cost_report(running_app, "day", "instance"))
    assert page.evaluate("window.scrollY") == scrolled
    assert console_errors == []


@pytest.mark.parametrize(("width", "height"), [(1440, 900), (390, 844)])
def test_the_page_fits_the_screen(
    page: Page, running_app: RunningApp, seeded: Seeded, width: int, height: int, console_errors: ConsoleErrors,
    tmp_path: Path,
) -> None:
    page.set_viewport_size({"width": width, "height": height})
    open_reports(page, running_app, f"days={DAYS}&instance={seeded.main}")
    expect(page.locator("#latency-chart .recharts-scatter-symbol").first).to_be_visible(timeout=WAIT_MS)
    for chart in ("#spend-chart", "#tokens-chart", "#latency-chart"):
        box = page.locator(f"{chart} .recharts-wrapper > svg").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (chart, box)
    page.screenshot(path=tmp_path / f"reports-{width}.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    assert console_errors == []
