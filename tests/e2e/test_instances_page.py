"""The Instances page against a local OpenAI-compatible upstream: add, test, wrong key, rotate with verify, delete,
edit, the way to an instance's history, models, and the environment import page."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import ENV_IMPORT_KEY, ConsoleErrors, RunningApp
from tests.upstreams import Scenario, UpstreamServer

RIGHT_KEY = "sk-e2e-right-key-7777"
WRONG_KEY = "sk-e2e-wrong-key-3333"
PROVIDER_SEARCH = "deepseek"  # an openai-compat provider of the shipped catalog
PROVIDER_NAME = "DeepSeek"
WAIT_MS = 15_000


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamServer]:
    with UpstreamServer(Scenario(key=RIGHT_KEY)) as server:
        yield server


@pytest.fixture(scope="module")
def elsewhere() -> Iterator[UpstreamServer]:
    """A second upstream on another origin (another port)."""
    with UpstreamServer(Scenario(key=RIGHT_KEY)) as server:
        yield server


def unique_name(what: str) -> str:
    return f"{what} {uuid.uuid4().hex[:8]}"


def open_instances(page: Page, running_app: RunningApp) -> None:
    page.goto(f"{running_app.base_url}/instances")
    expect(page.get_by_role("heading", name="Instances")).to_be_visible(timeout=WAIT_MS)


def card_of(page: Page, name: str) -> Locator:
    return page.locator(".instance-card", has=page.locator(".instance-name", has_text=name))


def add_instance(
    page: Page, name: str, endpoint: str | None, key: str | None, provider: str = PROVIDER_SEARCH
) -> Locator:
    """Fill the Add instance dialog: pick the provider, then name, endpoint and key.

    With `key` None the provider is keyless, and the dialog must not ask for a key.
    """
    page.get_by_role("button", name="Add instance").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_placeholder("Search providers").fill(provider)
    choices = dialog.locator(".provider-choice")
    expect(choices.first).to_contain_text(PROVIDER_NAME if provider == PROVIDER_SEARCH else provider, timeout=WAIT_MS)
    choices.first.click()
    dialog.get_by_label("Name", exact=True).fill(name)
    if endpoint is not None:
        dialog.get_by_label("Endpoint", exact=True).fill(endpoint)
    if key is None:
        expect(dialog.get_by_label("API key", exact=True)).to_have_count(0)
    else:
        dialog.get_by_label("API key", exact=True).fill(key)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden(timeout=WAIT_MS)
    card = card_of(page, name)
    expect(card).to_be_visible(timeout=WAIT_MS)
    return card


def expect_code(badge: Locator, code: str, timeout: int = WAIT_MS) -> None:
    """A badge shown through code_badge: words on it, the code in its data attribute (and its tooltip)."""
    expect(badge).to_have_attribute("data-code", code, timeout=timeout)


def run_test(card: Locator, status: str, outcome: str) -> None:
    card.get_by_role("button", name="Test").click()
    expect_code(card.locator(".instance-status"), status)
    expect_code(card.locator(".instance-outcome"), outcome)


def test_add_an_instance_then_test_it_connected(
    page: Page, running_app: RunningApp, upstream: UpstreamServer, console_errors: ConsoleErrors
) -> None:
    open_instances(page, running_app)
    name = unique_name("Upstream")
    card = add_instance(page, name, upstream.urls.openai, RIGHT_KEY)
    expect_code(card.locator(".instance-status"), "untested")
    expect(card.locator(".instance-status")).to_have_text("Untested")
    expect(card.locator(".instance-key")).to_have_text("•••• 7777")

    run_test(card, "connected", "ok")
    expect(card.locator(".instance-model-count")).to_have_text(str(len(upstream.scenario.models)))
    expect(card.locator(".instance-latency")).to_have_text(re.compile(r"^\d+ ms$"))
    expect(card.locator(".instance-tested-at")).to_contain_text("UTC")
    assert upstream.scenario.requests_to("/models")[-1].headers["authorization"] == f"Bearer {RIGHT_KEY}"
    assert console_errors == []


def test_a_wrong_key_shows_auth_failed(
    page: Page, running_app: RunningApp, upstream: UpstreamServer, console_errors: ConsoleErrors
) -> None:
    open_instances(page, running_app)
    card = add_instance(page, unique_name("Wrong key"), upstream.urls.openai, WRONG_KEY)
    run_test(card, "error", "auth_failed")
    expect(card.locator(".instance-message")).to_be_visible()
    assert console_errors == []


def test_rotating_to_a_key_that_fails_verification_keeps_the_old_key(
    page: Page, running_app: RunningApp, upstream: UpstreamServer, console_errors: ConsoleErrors
) -> None:
    open_instances(page, running_app)
    name = unique_name("Rotate")
    card = add_instance(page, name, upstream.urls.openai, RIGHT_KEY)

    card.get_by_role("button", name="Rotate key").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("checkbox")).to_be_checked()
    dialog.get_by_label("New API key", exact=True).fill(WRONG_KEY)
    dialog.get_by_role("button", name="Save key").click()
    expect(dialog.locator(".field-error")).to_contain_text("auth_failed", timeout=WAIT_MS)
    expect(dialog.locator(".field-error")).to_contain_text("previous key stays active")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()

    expect(card.locator(".instance-key")).to_have_text("•••• 7777")
    run_test(card, "connected", "ok")
    assert console_errors == []


def test_delete_an_instance_after_confirming(
    page: Page, running_app: RunningApp, upstream: UpstreamServer, console_errors: ConsoleErrors
) -> None:
    open_instances(page, running_app)
    name = unique_name("Doomed")
    card = add_instance(page, name, upstream.urls.openai, RIGHT_KEY)
    instance_id = card.get_attribute("data-instance-id")

    card.get_by_role("button", name="Delete").click()
    confirm = page.get_by_role("alertdialog")
    expect(confirm).to_contain_text(name)
    confirm.get_by_role("button", name="Delete").click()
    expect(card).to_have_count(0, timeout=WAIT_MS)
    assert httpx.get(f"{running_app.base_url}/api/v1/instances/{instance_id}").status_code == 404
    assert console_errors == []


def test_refused_fields_are_shown_next_to_them(
    page: Page, running_app: RunningApp, console_errors: ConsoleErrors
) -> None:
    open_instances(page, running_app)
    page.get_by_role("button", name="Add instance").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_placeholder("Search providers").fill(PROVIDER_SEARCH)
    dialog.locator(".provider-choice").first.click()
    dialog.get_by_label("Endpoint", exact=True).fill("ftp://example.invalid")
    dialog.get_by_label("API key", exact=True).fill("short")
    dialog.get_by_role("button", name="Save").click()
    errors = dialog.locator(".field-error")
    expect(errors).to_have_count(2, timeout=WAIT_MS)
    expect(errors.nth(0)).to_contain_text("http://")
    expect(errors.nth(1)).to_contain_text("characters")
    assert console_errors == []


def test_an_instance_created_elsewhere_appears_live(
    page: Page, running_app: RunningApp, upstream: UpstreamServer, console_errors: ConsoleErrors
) -> None:
    open_instances(page, running_app)  # created at once: also while the page's live feed is still catching up
    name = unique_name("From the API")
    body = {"name": name, "provider_id": PROVIDER_SEARCH, "endpoint": upstream.urls.openai, "api_key": RIGHT_KEY}
    created = httpx.post(f"{running_app.base_url}/api/v1/instances", json=body)
    assert created.status_code == 201, created.text
    card = card_of(page, name)
    expect(card).to_be_visible(timeout=WAIT_MS)

    httpx.post(f"{running_app.base_url}/api/v1/instances/{created.json()['id']}/test", timeout=30)
    expect_code(card.locator(".instance-status"), "connected")
    assert console_errors == []


def test_edit_renames_an_instance(
    page: Page, running_app: RunningApp, upstream: UpstreamServer, console_errors: ConsoleErrors
) -> None:
    open_instances(page, running_app)
    name, renamed = unique_name("Before"), unique_name("After")
    card = add_instance(page, name, upstream.urls.openai, RIGHT_KEY)
    instance_id = card.get_attribute("data-instance-id")

    card.get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Name", exact=True)).to_have_value(name)
    expect(dialog.get_by_label("API key", exact=True)).to_have_count(0)
    dialog.get_by_label("Name", exact=True).fill(renamed)
    dialog.get_by_label("Timeout (ms)", exact=True).fill("5000")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden(timeout=WAIT_MS)

    expect(card_of(page, renamed)).to_be_visible(timeout=WAIT_MS)
    expect(card_of(page, name)).to_have_count(0)
    shown = httpx.get(f"{running_app.base_url}/api/v1/instances/{instance_id}").json()
    assert (shown["name"], shown["timeout_ms"], shown["version"]) == (renamed, 5000, 3)
    assert console_errors == []


def test_history_and_models_of_a_tested_instance(
    page: Page, running_app: RunningApp, upstream: UpstreamServer, console_errors: ConsoleErrors
) -> None:
    open_instances(page, running_app)
    card = add_instance(page, unique_name("Looked at"), upstream.urls.openai, RIGHT_KEY)
    run_test(card, "connected", "ok")

    instance_id = card.get_attribute("data-instance-id")
    card.get_by_role("link", name="History").click()  # the instance's page holds its history
    expect(page).to_have_url(f"{running_app.base_url}/instances/view?id={instance_id}", timeout=WAIT_MS)
    types = page.locator(".timeline-entry .entry-type")
    expect(types).to_have_text(["ConnectionTested", "CredentialSet", "InstanceCreated"], timeout=WAIT_MS)
    assert RIGHT_KEY not in page.content()
    page.go_back()

    card.get_by_role("button", name="Models").click()
    dialog = page.get_by_role("dialog")
    listed = dialog.locator(".model-row", has_text="local-small")
    expect(listed.locator(".model-availability")).to_have_text("Not in the catalog", timeout=WAIT_MS)
    listed.get_by_role("button", name="Add to catalog").click()
    expect(listed.locator(".model-availability")).to_have_text("Available", timeout=WAIT_MS)
    expect(listed.get_by_role("button", name="Add to catalog")).to_have_count(0)
    assert console_errors == []


def test_environment_import_previews_then_creates_the_instance(
    page: Page, running_app: RunningApp, console_errors: ConsoleErrors
) -> None:
    page.goto(f"{running_app.base_url}/instances/import")
    row = page.locator(".env-candidate", has_text="NEBIUS_API_KEY")
    expect(row).to_contain_text(f"•••• {ENV_IMPORT_KEY[-4:]}", timeout=WAIT_MS)
    expect_code(row.locator(".env-action"), "create")
    expect(row.locator(".env-action")).to_have_text("Will be created")
    expect(row.locator(".env-sends-to")).to_have_text("https://api.tokenfactory.nebius.com")
    expect(row.locator(".env-endpoint")).to_have_text(re.compile(r"^provider default: https://api\.tokenfactory"))
    assert ENV_IMPORT_KEY not in page.content()

    page.get_by_role("button", name="Import 1 instance", exact=True).click()
    expect(page.locator("#import-result")).to_have_text("Created 1 instance; 0 already present.", timeout=WAIT_MS)
    expect_code(row.locator(".env-action"), "exists")

    page.get_by_role("button", name="Back to instances").click()
    card = card_of(page, "Nebius Token Factory (environment)")
    expect(card.locator(".instance-key")).to_have_text(f"•••• {ENV_IMPORT_KEY[-4:]}", timeout=WAIT_MS)
    assert console_errors == []


def test_a_running_test_shows_testing_and_leaves_the_page_usable(
    page: Page, running_app: RunningApp, upstream: UpstreamServer, console_errors: ConsoleErrors
) -> None:
    open_instances(page, running_app)
    name = unique_name("Slow")
    card = add_instance(page, name, upstream.urls.openai, RIGHT_KEY)
    upstream.scenario.script = ["slow"]
    upstream.scenario.delay_s = 4.0
    try:
        card.get_by_role("button", name="Test").click()
        expect_code(card.locator(".instance-status"), "testing", timeout=1_500)
        card.get_by_role("button", name="Edit").click()  # the page stays usable while the test runs
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_label("Name", exact=True)).to_have_value(name, timeout=2_500)
        expect_code(card.locator(".instance-status"), "testing")
        dialog.get_by_role("button", name="Cancel").click()
        expect_code(card.locator(".instance-status"), "connected")
    finally:
        upstream.scenario.reset()
        upstream.scenario.key = RIGHT_KEY
    assert console_errors == []


def test_editing_a_stale_version_says_it_changed_elsewhere(
    page: Page, running_app: RunningApp, upstream: UpstreamServer, console_errors: ConsoleErrors
) -> None:
    open_instances(page, running_app)
    name = unique_name("Stale")
    card = add_instance(page, name, upstream.urls.openai, RIGHT_KEY)
    instance_id = card.get_attribute("data-instance-id")
    card.get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Name", exact=True)).to_have_value(name)

    moved = httpx.patch(f"{running_app.base_url}/api/v1/instances/{instance_id}", json={"timeout_ms": 1234})
    assert moved.status_code == 200, moved.text
    dialog.get_by_label("Name", exact=True).fill(unique_name("Too late"))
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator(".form-error")).to_contain_text("changed elsewhere", timeout=WAIT_MS)
    expect(card_of(page, name)).to_be_visible()
    assert console_errors == []


def test_a_local_server_needs_no_key(
    page: Page, running_app: RunningApp, upstream: UpstreamServer, console_errors: ConsoleErrors
) -> None:
    provider_id = f"laptop-{uuid.uuid4().hex[:6]}"
    templates = httpx.get(f"{running_app.base_url}/api/v1/catalog/templates").json()["templates"]
    draft = next(t["provider"] for t in templates if t["id"] == "ollama")
    draft.update(name=f"Ollama {provider_id}", api_endpoint=upstream.urls.ollama)
    put = httpx.put(f"{running_app.base_url}/api/v1/catalog/custom/{provider_id}", json=draft)
    assert put.status_code == 201, put.text

    open_instances(page, running_app)
    card = add_instance(page, unique_name("Laptop"), None, None, provider=provider_id)
    run_test(card, "connected", "ok")
    expect(card.locator(".instance-model-count")).to_have_text(str(len(upstream.scenario.models)))
    assert console_errors == []


def test_a_moved_provider_default_asks_to_confirm_the_endpoint(
    page: Page, running_app: RunningApp, upstream: UpstreamServer, elsewhere: UpstreamServer,
    console_errors: ConsoleErrors,
) -> None:
    provider_id = f"gw-{uuid.uuid4().hex[:6]}"
    templates = httpx.get(f"{running_app.base_url}/api/v1/catalog/templates").json()["templates"]
    draft = next(t["provider"] for t in templates if t["id"] == "openai-compatible-gateway")
    draft.update(name=f"Gateway {provider_id}", api_endpoint=upstream.urls.openai)
    provider_url = f"{running_app.base_url}/api/v1/catalog/custom/{provider_id}"
    assert httpx.put(provider_url, json=draft).status_code == 201

    open_instances(page, running_app)
    card = add_instance(page, unique_name("Gateway"), None, RIGHT_KEY, provider=provider_id)
    expect(card.locator(".instance-sends-to")).to_have_text(upstream.urls.origin)
    moved = httpx.put(provider_url, json={**draft, "api_endpoint": elsewhere.urls.openai})
    assert moved.status_code == 200, moved.text

    notice = card.locator(".endpoint-changed")
    expect(notice).to_contain_text("Endpoint changed — confirm", timeout=WAIT_MS)
    expect(notice).to_contain_text(elsewhere.urls.origin)
    notice.get_by_role("button", name="Confirm").click()
    expect(notice).to_have_count(0, timeout=WAIT_MS)
    run_test(card, "connected", "ok")
    assert elsewhere.scenario.requests_to("/models")[-1].headers["authorization"] == f"Bearer {RIGHT_KEY}"
    assert console_errors == []


def test_moving_the_endpoint_to_another_host_asks_for_the_key_again(
    page: Page, running_app: RunningApp, upstream: UpstreamServer, elsewhere: UpstreamServer,
    console_errors: ConsoleErrors,
) -> None:
    open_instances(page, running_app)
    card = add_instance(page, unique_name("Moving"), upstream.urls.openai, RIGHT_KEY)
    instance_id = card.get_attribute("data-instance-id")
    card.get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.locator(".key-again")).to_have_count(0)
    dialog.get_by_label("Endpoint", exact=True).fill(elsewhere.urls.openai)
    expect(dialog.locator(".key-again")).to_be_visible(timeout=WAIT_MS)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator(".field-error")).to_contain_text("keep_credential", timeout=WAIT_MS)

    keep = dialog.get_by_label("Keep the key for the new endpoint")
    keep.click()
    expect(keep).to_be_checked(timeout=WAIT_MS)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden(timeout=WAIT_MS)
    shown = httpx.get(f"{running_app.base_url}/api/v1/instances/{instance_id}").json()
    assert (shown["endpoint"], shown["credential"]["origin"]) == (elsewhere.urls.openai, elsewhere.urls.origin)
    assert console_errors == []


def rotate_to(page: Page, card: Locator, key: str, verify: bool) -> None:
    card.locator(".set-key").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("New API key", exact=True).fill(key)
    checkbox = dialog.get_by_role("checkbox")
    if checkbox.is_checked() != verify:
        checkbox.click()
    dialog.get_by_role("button", name="Save key").click()
    expect(dialog).to_be_hidden(timeout=WAIT_MS)


def test_a_key_change_resets_the_status_and_says_the_key_changed(
    page: Page, running_app: RunningApp, upstream: UpstreamServer, console_errors: ConsoleErrors
) -> None:
    open_instances(page, running_app)
    card = add_instance(page, unique_name("Rekeyed"), upstream.urls.openai, WRONG_KEY)
    run_test(card, "error", "auth_failed")
    expect(card.locator(".instance-outcome")).to_have_text("Key refused")
    card.locator(".instance-outcome").hover()
    expect(page.get_by_role("tooltip")).to_have_text("auth_failed", timeout=WAIT_MS)

    rotate_to(page, card, RIGHT_KEY, verify=True)
    expect_code(card.locator(".instance-status"), "connected")
    tested_at = card.locator(".instance-tested-at")
    expect(tested_at).to_have_text(re.compile(r"^Key changed .* UTC, verified with the provider$"))
    expect(card.locator(".instance-message")).to_have_count(0)
    expect(card.locator(".instance-key")).to_have_text("•••• 7777")

    rotate_to(page, card, WRONG_KEY, verify=False)
    expect_code(card.locator(".instance-status"), "untested")
    expect(card.locator(".instance-tested-at")).to_have_text(re.compile(r"^Key changed .* UTC, not tested yet$"))
    expect(card.locator(".instance-outcome")).to_have_text("–")
    assert console_errors == []


def test_an_instance_without_its_needed_key_says_so_and_offers_set_key(
    page: Page, running_app: RunningApp, upstream: UpstreamServer, console_errors: ConsoleErrors
) -> None:
    open_instances(page, running_app)
    card = add_instance(page, unique_name("Keyless"), upstream.urls.openai, "")
    notice = card.locator(".no-key")
    expect(notice).to_contain_text("No key — tests will fail")
    notice.get_by_role("button", name="Set key").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading")).to_contain_text("Set key")
    buttons = dialog.get_by_role("button")
    expect(buttons).to_have_text(["Cancel", "Save key"])
    cancel, save = (button.bounding_box() for button in buttons.all())
    box = dialog.bounding_box()
    assert cancel and save and box and cancel["x"] < save["x"]
    assert box["x"] + box["width"] - (save["x"] + save["width"]) < 40  # right-aligned
    dialog.get_by_label("New API key", exact=True).fill(RIGHT_KEY)
    dialog.get_by_role("button", name="Save key").click()
    expect(dialog).to_be_hidden(timeout=WAIT_MS)
    expect(notice).to_have_count(0, timeout=WAIT_MS)
    expect(card.locator(".instance-key")).to_have_text("•••• 7777")
    assert console_errors == []


def test_the_provider_default_endpoint_is_named_with_its_url(
    page: Page, running_app: RunningApp, console_errors: ConsoleErrors
) -> None:
    open_instances(page, running_app)
    card = add_instance(page, unique_name("Default"), None, RIGHT_KEY)
    default = re.compile(r"^provider default: https://api\.deepseek\.com")
    expect(card.locator(".instance-endpoint")).to_have_text(default)
    card.get_by_role("button", name="Edit").click()
    endpoint = page.get_by_role("dialog").get_by_label("Endpoint", exact=True)
    expect(endpoint).to_have_attribute("placeholder", default)
    assert console_errors == []


def test_provider_choices_count_models_in_words(
    page: Page, running_app: RunningApp, console_errors: ConsoleErrors
) -> None:
    open_instances(page, running_app)
    page.get_by_role("button", name="Add instance").click()
    choices = page.get_by_role("dialog").locator(".provider-choice")
    expect(choices.first).to_contain_text(re.compile(r"\d+ models?$"), timeout=WAIT_MS)
    assert not any(re.search(r"\b1 models\b", text) for text in choices.all_inner_texts())
    assert console_errors == []


def test_the_server_log_has_no_form_deprecation_warning(running_app: RunningApp) -> None:
    log = (running_app.data_dir.parent / "switchboard.log").read_text()
    assert "by its `id`" not in log and "rotate-verify" not in log


def several_instances(running_app: RunningApp, upstream: UpstreamServer) -> None:
    """Instances in different states: connected, refused key, no key, untested."""
    base = f"{running_app.base_url}/api/v1/instances"
    for what, key, tested in (("Good", RIGHT_KEY, True), ("Refused", WRONG_KEY, True), ("No key", None, False)):
        body = {"name": unique_name(what), "provider_id": PROVIDER_SEARCH, "endpoint": upstream.urls.openai}
        created = httpx.post(base, json={**body, **({"api_key": key} if key else {})})
        assert created.status_code == 201, created.text
        if tested:
            httpx.post(f"{base}/{created.json()['id']}/test", timeout=30)


def button_rows(actions: Locator) -> list[int]:
    """How many buttons sit on each line of a card's action row."""
    tops = [round(box["y"]) for box in (b.bounding_box() for b in actions.get_by_role("button").all()) if box]
    return [tops.count(top) for top in sorted(set(tops))]


@pytest.mark.parametrize("width", [800, 1280, 1440])  # two and three cards a row, each at its narrowest
def test_cards_in_a_row_share_their_height_and_actions_wrap_as_groups(
    page: Page, running_app: RunningApp, upstream: UpstreamServer, console_errors: ConsoleErrors, width: int
) -> None:
    several_instances(running_app, upstream)
    page.set_viewport_size({"width": width, "height": 900})
    open_instances(page, running_app)
    cards = page.locator(".instance-card")
    expect(cards.nth(2)).to_be_visible(timeout=WAIT_MS)
    boxes = [box for box in (card.bounding_box() for card in cards.all()) if box]
    first_row = [box for box in boxes if round(box["y"]) == round(boxes[0]["y"])]
    assert len(first_row) > 1 and len({round(box["height"]) for box in first_row}) == 1, first_row
    for actions in page.locator(".instance-actions").all():
        assert all(count > 1 for count in button_rows(actions)), button_rows(actions)
    assert console_errors == []


def no_horizontal_overflow(page: Page) -> None:
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width
    spilling = page.evaluate(
        "[...document.querySelectorAll('button')].filter(b => b.offsetParent && b.scrollWidth > b.clientWidth + 1)"
        ".map(b => b.innerText)"
    )
    assert spilling == []


def test_instances_and_env_import_fit_a_phone(
    page: Page, running_app: RunningApp, upstream: UpstreamServer, console_errors: ConsoleErrors
) -> None:
    several_instances(running_app, upstream)
    page.set_viewport_size({"width": 390, "height": 844})
    open_instances(page, running_app)
    cards = page.locator(".instance-card")
    expect(cards.nth(2)).to_be_visible(timeout=WAIT_MS)
    no_horizontal_overflow(page)
    assert len({round(box["x"]) for box in (card.bounding_box() for card in cards.all()) if box}) == 1
    for actions in page.locator(".instance-actions").all():
        assert all(count > 1 for count in button_rows(actions)), button_rows(actions)

    cards.first.get_by_role("button", name="Models").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.locator(".model-row").first).to_be_visible(timeout=WAIT_MS)
    no_horizontal_overflow(page)
    box = dialog.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390
    dialog.get_by_role("button", name="Close").click()

    cards.first.get_by_role("button", name="Edit").click()
    expect(dialog.get_by_label("Name", exact=True)).to_be_visible(timeout=WAIT_MS)
    no_horizontal_overflow(page)
    dialog.get_by_role("button", name="Cancel").click()

    page.goto(f"{running_app.base_url}/instances/import")
    expect(page.locator(".env-candidate").first).to_be_visible(timeout=WAIT_MS)
    no_horizontal_overflow(page)
    assert console_errors == []
