"""The Sessions pages against local OpenAI-compatible upstreams: a session made from the New session form, streamed
answers with their cost, a model switch, a second agent on another instance, stopping a slow turn, a second tab
following live, and the layout at desktop and phone widths."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, WebSocket, expect

from tests.e2e.conftest import ConsoleErrors, RunningApp
from tests.upstreams import Scenario, UpstreamServer

KEY = "sk-e2e-chat-key-5151"
PROVIDER = "deepseek"  # an openai-compat provider of the shipped catalog, with known prices
FLASH, PRO = "deepseek-v4-flash", "deepseek-v4-pro"
FIRST_REPLY = "Streaming answer from the first instance, word by word."
OTHER_REPLY = "Second opinion from the other instance."
WAIT_MS = 20_000
PHONE, DESKTOP = 390, 1440


def unique_name(what: str) -> str:
    return f"{what} {uuid.uuid4().hex[:6]}"


def _upstream(reply: str) -> Iterator[UpstreamServer]:
    with UpstreamServer(Scenario(key=KEY, models=[FLASH, PRO], reply=reply)) as server:
        yield server


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamServer]:
    yield from _upstream(FIRST_REPLY)


@pytest.fixture(scope="module")
def elsewhere() -> Iterator[UpstreamServer]:
    yield from _upstream(OTHER_REPLY)


def _connected_instance(running_app: RunningApp, server: UpstreamServer, what: str) -> str:
    """An instance on `server`, tested so that the models its endpoint lists are known; its name."""
    name = unique_name(what)
    body = {"name": name, "provider_id": PROVIDER, "endpoint": server.urls.openai, "api_key": KEY}
    created = httpx.post(f"{running_app.base_url}/api/v1/instances", json=body)
    assert created.status_code == 201, created.text
    tested = httpx.post(f"{running_app.base_url}/api/v1/instances/{created.json()['id']}/test", timeout=30)
    assert tested.json()["status"] == "connected", tested.text
    return name


@pytest.fixture(scope="module")
def first_instance(running_app: RunningApp, upstream: UpstreamServer) -> str:
    return _connected_instance(running_app, upstream, "Chat main")


@pytest.fixture(scope="module")
def other_instance(running_app: RunningApp, elsewhere: UpstreamServer) -> str:
    return _connected_instance(running_app, elsewhere, "Chat other")


@pytest.fixture(autouse=True)
def fresh_scenarios(upstream: UpstreamServer, elsewhere: UpstreamServer) -> None:
    for server in (upstream, elsewhere):
        server.scenario.behaviour = "ok"


def pick(dialog: Locator, instance: str, model: str) -> None:
    dialog.locator(".instance-choice", has_text=instance).click()
    dialog.locator(f'.model-choice[data-model-id="{model}"]').click()


def new_session(page: Page, running_app: RunningApp, instance: str, model: str = FLASH) -> str:
    """Create a session from the New session form; the chat view opens. Its name."""
    page.goto(f"{running_app.base_url}/sessions")
    page.get_by_role("button", name="New session").click()
    dialog = page.get_by_role("dialog")
    name = unique_name("Chat")
    dialog.get_by_label("Name", exact=True).fill(name)
    pick(dialog, instance, model)
    dialog.get_by_role("button", name="Create").click()
    expect(page.locator("#session-title")).to_have_text(name, timeout=WAIT_MS)
    return name


def send(page: Page, text: str) -> None:
    page.locator("#message-text").fill(text)
    page.get_by_role("button", name="Send").click()


def last_turn(page: Page) -> Locator:
    return page.locator(".turn").last


def test_the_new_session_form_shows_the_models_an_instance_offers_with_prices(
    page: Page, running_app: RunningApp, first_instance: str, console_errors: ConsoleErrors
) -> None:
    page.goto(f"{running_app.base_url}/sessions")
    page.get_by_role("button", name="New session").click()
    dialog = page.get_by_role("dialog")
    choice = dialog.locator(".instance-choice", has_text=first_instance)
    expect(choice).to_contain_text("2 models", timeout=WAIT_MS)
    choice.click()
    flash = dialog.locator(f'.model-choice[data-model-id="{FLASH}"]')
    expect(flash).to_contain_text("in $0.14 · out $0.28 per 1M · context 1M")
    expect(flash).to_contain_text("Available")  # the availability in words, its code in a tooltip
    expect(flash).to_contain_text("reasoning")
    flash.click()
    expect(dialog.locator(".cost-hint")).to_have_text("1,000 input + 500 output tokens: $0.00028")
    assert console_errors == []


def test_a_session_streams_answers_with_cost_and_follows_a_model_switch(
    page: Page, running_app: RunningApp, upstream: UpstreamServer, first_instance: str, console_errors: ConsoleErrors
) -> None:
    frames: list[str] = []

    def watch(socket: WebSocket) -> None:
        socket.on("framereceived", lambda payload: frames.append(str(payload)))

    page.on("websocket", watch)
    name = new_session(page, running_app, first_instance)
    send(page, "Say something")
    turn = last_turn(page)
    expect(turn.locator(".turn-text")).to_have_text(FIRST_REPLY, timeout=WAIT_MS)
    expect(turn.locator(".turn-model")).to_have_text(FLASH)
    expect(turn.locator(".turn-instance")).to_have_text(f"via {first_instance}")
    expect(turn.locator(".turn-cost")).to_have_text(re.compile(r"^\$\d"))
    expect(turn.locator(".turn-ttft")).to_have_text(re.compile(r"^first token \d+ ms$"))
    expect(page.locator("#session-totals")).to_contain_text("1 turn ·")
    partial = [f for f in frames if "streaming_text" in f and "Streaming answer" in f and "word." not in f]
    assert partial, "the answer reached the page only whole, not as it streamed"
    assert upstream.scenario.requests_to("/chat/completions")[-1].json()["model"] == FLASH

    page.get_by_role("button", name="Change model").click()
    dialog = page.get_by_role("dialog")
    pick(dialog, first_instance, PRO)
    dialog.get_by_role("button", name="Use this model").click()
    expect(dialog).to_be_hidden(timeout=WAIT_MS)
    expect(page.locator("#current-model")).to_contain_text(PRO)
    send(page, "And now?")
    expect(page.locator(".turn")).to_have_count(2, timeout=WAIT_MS)
    expect(last_turn(page).locator(".turn-model")).to_have_text(PRO, timeout=WAIT_MS)
    assert upstream.scenario.requests_to("/chat/completions")[-1].json()["model"] == PRO

    page.goto(f"{running_app.base_url}/sessions")
    card = page.locator(".session-card", has=page.locator(".session-name", has_text=name))
    expect(card.locator(".session-turns")).to_have_text("2", timeout=WAIT_MS)
    assert console_errors == []


def test_a_second_agent_on_another_instance_answers_in_its_own_thread(
    page: Page,
    running_app: RunningApp,
    elsewhere: UpstreamServer,
    first_instance: str,
    other_instance: str,
    console_errors: ConsoleErrors,
) -> None:
    name = new_session(page, running_app, first_instance)
    page.get_by_role("button", name="Add agent").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name", exact=True).fill("Reviewer")
    pick(dialog, other_instance, FLASH)
    dialog.get_by_role("button", name="Add", exact=True).click()
    expect(dialog).to_be_hidden(timeout=WAIT_MS)
    expect(page.locator(".agent-choice")).to_have_count(2)
    expect(page.locator("#current-model")).to_contain_text("Reviewer")

    asked = len(elsewhere.scenario.requests_to("/chat/completions"))
    send(page, "Your view?")
    turn = last_turn(page)
    expect(turn.locator(".turn-text")).to_have_text(OTHER_REPLY, timeout=WAIT_MS)
    expect(turn.locator(".turn-instance")).to_have_text(f"via {other_instance}")
    assert len(elsewhere.scenario.requests_to("/chat/completions")) == asked + 1

    page.locator(".agent-choice").first.click()  # the first agent's thread has no turns yet
    expect(page.locator(".turn")).to_have_count(0, timeout=WAIT_MS)

    page.goto(f"{running_app.base_url}/instances")  # the Instances page says which sessions use an instance
    card = page.locator(".instance-card", has=page.locator(".instance-name", has_text=other_instance))
    expect(card.locator(".instance-sessions")).to_have_text(name, timeout=WAIT_MS)
    assert console_errors == []


def test_stop_cancels_a_slow_turn(
    page: Page, running_app: RunningApp, upstream: UpstreamServer, first_instance: str, console_errors: ConsoleErrors
) -> None:
    new_session(page, running_app, first_instance)
    upstream.scenario.behaviour = "stall"
    upstream.scenario.delay_s = 60
    send(page, "Take your time")
    expect(page.locator("#streaming-turn")).to_be_visible(timeout=WAIT_MS)
    page.get_by_role("button", name="Stop").click(timeout=WAIT_MS)  # shown once the server has taken the turn
    expect(last_turn(page).locator(".turn-outcome")).to_have_text("Stopped", timeout=WAIT_MS)
    expect(page.locator("#streaming-turn")).to_have_count(0)
    assert console_errors == []


def test_a_failed_turn_shows_its_outcome_inline_and_retry_sends_the_message_again(
    page: Page, running_app: RunningApp, upstream: UpstreamServer, first_instance: str, console_errors: ConsoleErrors
) -> None:
    new_session(page, running_app, first_instance)
    upstream.scenario.behaviour = "unauthorized"
    send(page, "Will this work?")
    failed = last_turn(page)
    expect(failed.locator(".turn-outcome")).to_have_text("Failed", timeout=WAIT_MS)
    expect(failed.locator(".turn-failure .turn-error")).to_have_text("Key refused")  # the code is in its tooltip
    assert KEY not in page.content()

    upstream.scenario.behaviour = "ok"
    failed.get_by_role("button", name="Retry").click()
    expect(page.locator(".turn")).to_have_count(2, timeout=WAIT_MS)
    expect(last_turn(page).locator(".turn-text")).to_have_text(FIRST_REPLY, timeout=WAIT_MS)
    expect(page.locator(".user-message").last).to_have_text("Will this work?")
    assert console_errors == []


def test_a_second_tab_sees_the_turn_live(
    page: Page, browser: Browser, running_app: RunningApp, first_instance: str, console_errors: ConsoleErrors
) -> None:
    new_session(page, running_app, first_instance)
    other = browser.new_context().new_page()
    other.goto(page.url)
    expect(other.locator("#live-status")).to_have_text("live", timeout=WAIT_MS)
    expect(other.locator("#agents-panel .agent-choice")).to_have_count(1, timeout=WAIT_MS)
    send(page, "Anyone watching?")
    expect(other.locator(".turn .turn-text")).to_have_text(FIRST_REPLY, timeout=WAIT_MS)
    expect(other.locator(".user-message")).to_have_text("Anyone watching?")
    other.context.close()
    assert console_errors == []


def test_a_missing_session_shows_nothing_of_the_one_open_before(
    page: Page, running_app: RunningApp, first_instance: str, console_errors: ConsoleErrors
) -> None:
    new_session(page, running_app, first_instance)
    expect(page.locator(".agent-choice")).to_have_count(1, timeout=WAIT_MS)
    page.goto(f"{running_app.base_url}/sessions/view?id=0000000000000000")  # the same tab, so the same state
    expect(page.locator(".form-error")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#session-title")).to_have_text("")
    expect(page.locator(".agent-choice")).to_have_count(0)
    expect(page.locator("#message-text")).to_have_count(0)
    assert [error for error in console_errors if "status of 404" not in error] == []


@pytest.mark.parametrize("width", [DESKTOP, PHONE])
def test_the_pages_fit_the_screen(
    page: Page, running_app: RunningApp, first_instance: str, width: int, console_errors: ConsoleErrors,
    tmp_path: Path,
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    new_session(page, running_app, first_instance)
    send(page, "A long question " + "with many words " * 20)
    expect(last_turn(page).locator(".turn-cost")).to_be_visible(timeout=WAIT_MS)
    page.screenshot(path=tmp_path / f"webchat-chat-{width}.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.goto(f"{running_app.base_url}/sessions")
    expect(page.locator(".session-card").first).to_be_visible(timeout=WAIT_MS)
    page.screenshot(path=tmp_path / f"webchat-sessions-{width}.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.get_by_role("button", name="New session").click()
    page.get_by_role("dialog").locator(".instance-choice", has_text=first_instance).click()
    expect(page.get_by_role("dialog").locator(".model-choice").first).to_be_visible()
    page.screenshot(path=tmp_path / f"webchat-new-session-{width}.png")
    assert console_errors == []
