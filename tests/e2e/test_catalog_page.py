"""The Catalog in a browser: search and filter, compare, a custom provider from a template, export and import."""

from __future__ import annotations

import math
import re
import uuid

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ConsoleErrors, RunningApp

ALL = re.compile(r"^1,5\d\d models match$")  # 1,534 shipped, plus custom providers earlier tests add


def _matches(page: Page) -> int:
    text = page.locator("#match-count").inner_text()
    return int(text.split()[0].replace(",", ""))


def test_search_and_filter(page: Page, running_app: RunningApp, console_errors: ConsoleErrors) -> None:
    page.goto(f"{running_app.base_url}/catalog")
    expect(page.locator("#match-count")).to_contain_text(ALL, timeout=15_000)
    page.locator("#model-search").fill("claude sonnet")
    expect(page.locator("#match-count")).not_to_contain_text("1,534")
    rows = page.locator("#model-results tr")
    expect(rows.first).to_contain_text(re.compile("sonnet", re.IGNORECASE))
    sonnets = _matches(page)
    assert 0 < sonnets < 1534
    page.locator("#filter-max_price_in").fill("2")
    expect(page.locator("#match-count")).not_to_contain_text(f"{sonnets:,} models")
    assert _matches(page) < sonnets
    page.locator("#filter-max_price_in").fill("")
    page.locator("#model-search").fill("")
    page.locator("#filter-attachments").click()
    expect(page.locator("#match-count")).not_to_contain_text(ALL)
    page.locator("#sort-context").click()
    page.locator("#sort-context").click()
    expect(page.locator("#sort-context")).to_contain_text("↓")
    first_context = rows.first.locator("td").nth(5).inner_text()
    assert first_context.endswith("M"), first_context
    assert console_errors == []


def test_a_page_past_the_end_shows_the_last_page(
    page: Page, running_app: RunningApp, console_errors: ConsoleErrors
) -> None:
    page.goto(f"{running_app.base_url}/catalog?page=99")
    expect(page.locator("#match-count")).to_contain_text(ALL, timeout=15_000)
    total = _matches(page)
    last = math.ceil(total / 50)
    first = (last - 1) * 50 + 1
    expect(page.locator("#page-range")).to_have_text(f"{first:,}-{total:,} of {total:,}")
    expect(page.locator("#model-results tr")).to_have_count(total - first + 1)
    expect(page).to_have_url(re.compile(f"/catalog\\?page={last}$"))
    expect(page.locator("#page-next")).to_be_disabled()
    assert console_errors == []


def test_compare_three_models(page: Page, running_app: RunningApp, console_errors: ConsoleErrors) -> None:
    page.goto(f"{running_app.base_url}/catalog")
    expect(page.locator("#match-count")).to_contain_text(ALL, timeout=15_000)
    page.locator("#model-search").fill("gpt")
    expect(page.locator("#match-count")).not_to_contain_text("1,534")
    rows = page.locator("#model-results tr")
    expect(rows.first).to_contain_text(re.compile("gpt", re.IGNORECASE))
    table = page.locator("#compare-table")
    names = []
    for index in range(3):
        rows.nth(index).get_by_role("checkbox").click()
        names.append(rows.nth(index).locator(".model-name").inner_text())
        expect(table.locator("thead th")).to_have_count(index + 2)
    for name in names:
        expect(table.locator("thead")).to_contain_text(name)
    for label in ("Cache read $/1M", "Cache write $/1M", "Context window", "Default max tokens", "Reasoning levels"):
        expect(table).to_contain_text(label)
    assert console_errors == []


def test_custom_provider_from_template_then_export_and_import(
    page: Page, running_app: RunningApp, console_errors: ConsoleErrors
) -> None:
    provider_id = f"local-{uuid.uuid4().hex[:6]}"
    page.goto(f"{running_app.base_url}/catalog/edit")
    page.locator("#template-picker").click()
    page.get_by_role("option", name="Ollama (local server)").click()
    expect(page.locator("#field-endpoint, #field-api_endpoint").first).to_have_value(re.compile("localhost"))
    page.locator("#field-id").fill(provider_id)
    page.locator("#field-name").fill("My laptop")
    page.locator("#model-context_window-0").fill("0")
    page.locator("#save-provider").click()
    error = page.locator("#model-editor .field-error")
    expect(error).to_be_visible(timeout=10_000)
    expect(page).to_have_url(re.compile("/catalog/edit"))

    page.locator("#model-context_window-0").fill("32768")
    page.locator("#save-provider").click()
    expect(page).to_have_url(re.compile(f"/catalog/provider\\?id={provider_id}"), timeout=10_000)
    expect(page.locator("#provider-name")).to_have_text("My laptop")

    page.goto(f"{running_app.base_url}/catalog")
    card = page.locator(f".provider-card[data-provider='{provider_id}']")
    expect(card).to_contain_text("My laptop", timeout=15_000)
    expect(card).to_contain_text("custom")

    page.goto(f"{running_app.base_url}/catalog/provider?id={provider_id}")
    expect(page.locator("#provider-name")).to_have_text("My laptop", timeout=15_000)
    with page.expect_download() as download:
        page.locator("#export-provider").click()
    exported = download.value.path().read_text()
    assert '"models"' in exported and provider_id in exported

    copy_id = f"{provider_id}-copy"
    page.goto(f"{running_app.base_url}/catalog/edit")
    page.locator("#import-json").fill(exported)
    page.locator("#import-as-id").fill(copy_id)
    page.locator("#import-button").click()
    expect(page).to_have_url(re.compile(f"/catalog/provider\\?id={copy_id}"), timeout=10_000)
    expect(page.locator("#provider-name")).to_have_text("My laptop")
    expect(page.locator("#provider-models")).to_contain_text("llama3.2")
    assert console_errors == []


def test_changes_made_through_the_api_appear_live(
    page: Page, running_app: RunningApp, console_errors: ConsoleErrors
) -> None:
    page.goto(f"{running_app.base_url}/catalog")
    expect(page.locator("#provider-cards")).to_contain_text("OpenAI", timeout=15_000)
    provider_id = f"gateway-{uuid.uuid4().hex[:6]}"
    templates = httpx.get(f"{running_app.base_url}/api/v1/catalog/templates").json()["templates"]
    draft = next(t["provider"] for t in templates if t["id"] == "openai-compatible-gateway")
    draft["name"] = "Company gateway"
    answer = httpx.put(f"{running_app.base_url}/api/v1/catalog/custom/{provider_id}", json=draft)
    assert answer.status_code == 201, answer.text
    card = page.locator(f".provider-card[data-provider='{provider_id}']")
    expect(card).to_contain_text("Company gateway", timeout=5_000)
    assert console_errors == []


# Issue 9: lists that end, words, compare, not-found, editor, phone layout


def _open_catalog(page: Page, running_app: RunningApp, query: str = "") -> None:
    page.goto(f"{running_app.base_url}/catalog{query}")
    expect(page.locator("#page-range, #no-match").first).to_be_visible(timeout=15_000)


def test_the_catalog_pages_through_every_model_and_keeps_the_view_in_the_address(
    page: Page, running_app: RunningApp, console_errors: ConsoleErrors
) -> None:
    _open_catalog(page, running_app)
    expect(page.locator("#page-range")).to_have_text(re.compile(r"^1-50 of 1,5\d\d$"))
    expect(page.locator("#page-prev")).to_be_disabled()
    first = page.locator("#model-results .model-name").first.inner_text()
    page.locator("#page-next").click()
    expect(page.locator("#page-range")).to_have_text(re.compile(r"^51-100 of 1,5\d\d$"))
    expect(page.locator("#model-results .model-name").first).not_to_have_text(first)
    expect(page).to_have_url(re.compile(r"page=2"))
    page.locator("#page-prev").click()
    expect(page.locator("#page-range")).to_have_text(re.compile(r"^1-50 of "))

    page.locator("#model-search").fill("gpt")
    expect(page.locator("#match-count")).not_to_contain_text(ALL)
    page.locator("#sort-context").click()
    expect(page.locator("#sort-context")).to_contain_text("↑")
    page.locator("#page-next").click()
    expect(page.locator("#page-range")).to_contain_text("51-")
    expect(page).to_have_url(re.compile(r"q=gpt.*sort=context.*page=2"))
    count, shown = page.locator("#match-count").inner_text(), page.locator("#page-range").inner_text()
    first_on_page_2 = page.locator("#model-results .model-name").first.inner_text()

    shared = page.url
    page.reload()
    expect(page.locator("#page-range")).to_have_text(shown, timeout=15_000)
    expect(page.locator("#model-search")).to_have_value("gpt")
    expect(page.locator("#sort-context")).to_contain_text("↑")

    fresh = page.context.browser.new_context().new_page() if page.context.browser else page
    fresh.goto(shared)
    expect(fresh.locator("#page-range")).to_have_text(shown, timeout=15_000)
    expect(fresh.locator("#match-count")).to_have_text(count)
    expect(fresh.locator("#model-results .model-name").first).to_have_text(first_on_page_2)
    fresh.context.close()
    assert console_errors == []


def test_no_match_says_so_and_clears_and_a_bad_price_filter_is_marked_not_applied(
    page: Page, running_app: RunningApp, console_errors: ConsoleErrors
) -> None:
    _open_catalog(page, running_app)
    page.locator("#model-search").fill("no-such-model-anywhere")
    expect(page.locator("#match-count")).to_have_text("0 models match")
    expect(page.locator("#no-match")).to_contain_text("No model matches")
    expect(page.locator("#model-results")).to_have_count(0)
    page.locator("#clear-filters").click()
    expect(page.locator("#match-count")).to_have_text(ALL)
    expect(page.locator("#model-search")).to_have_value("")

    price = page.locator("#filter-max_price_in")
    price.fill("abc")
    expect(page.locator("#filter-max_price_in-error")).to_contain_text("not a number")
    expect(price).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#match-count")).to_have_text(ALL)
    price.fill("2")
    expect(page.locator("#filter-max_price_in-error")).to_have_count(0)
    expect(page.locator("#match-count")).not_to_have_text(ALL)
    assert console_errors == []


def test_ticking_a_model_keeps_its_row_in_place_and_a_fifth_pick_says_the_limit(
    page: Page, running_app: RunningApp, console_errors: ConsoleErrors
) -> None:
    _open_catalog(page, running_app)
    rows = page.locator("#model-results tr")
    box = rows.nth(0).bounding_box()
    rows.nth(0).get_by_role("checkbox").click()
    expect(page.locator("#compare-table thead th")).to_have_count(2)
    assert rows.nth(0).bounding_box() == box
    for index in range(1, 4):
        rows.nth(index).get_by_role("checkbox").click()
    expect(page.locator("#compare-table thead th")).to_have_count(5)
    rows.nth(4).get_by_role("checkbox").click()
    expect(page.locator("#compare-limit")).to_contain_text("compare up to 4")
    expect(page.locator("#compare-table thead th")).to_have_count(5)
    assert rows.nth(0).bounding_box() == box
    assert console_errors == []


def test_sortable_headers_read_as_headers(page: Page, running_app: RunningApp) -> None:
    _open_catalog(page, running_app)
    looks = page.evaluate(
        """() => {
            const style = (el) => getComputedStyle(el);
            const sort = document.querySelector('#sort-name');
            const plain = [...document.querySelectorAll('thead th')].find((th) => th.innerText.trim() === 'Provider');
            return {
                weight: style(sort).fontWeight, header: style(plain).fontWeight,
                background: style(sort).backgroundColor, border: style(sort).borderTopWidth,
                colour: style(sort).color, headerColour: style(plain).color,
            };
        }"""
    )
    assert looks["weight"] == looks["header"], looks
    assert looks["colour"] == looks["headerColour"], looks
    assert looks["background"] in ("rgba(0, 0, 0, 0)", "transparent") and looks["border"] == "0px", looks
    expect(page.locator("#sort-name")).to_contain_text("↑")
    expect(page.locator("#sort-context")).to_contain_text("↕")


def _expect_not_found_only(page: Page) -> None:
    expect(page.locator("#provider-not-found")).to_contain_text("no-such-provider", timeout=15_000)
    for gone in ("#provider-models", "#export-provider", "#edit-provider", "#provider-name"):
        expect(page.locator(gone)).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text("Claude")


def test_an_unknown_provider_shows_only_not_found_in_the_same_tab_and_in_a_fresh_one(
    page: Page, running_app: RunningApp
) -> None:
    page.goto(f"{running_app.base_url}/catalog/provider?id=anthropic")
    expect(page.locator("#provider-models")).to_contain_text("Claude", timeout=15_000)
    page.goto(f"{running_app.base_url}/catalog/provider?id=no-such-provider")
    _expect_not_found_only(page)
    fresh = page.context.new_page()
    fresh.goto(f"{running_app.base_url}/catalog/provider?id=no-such-provider")
    _expect_not_found_only(fresh)


def test_a_provider_page_names_its_default_endpoint_with_the_resolved_url(page: Page, running_app: RunningApp) -> None:
    page.goto(f"{running_app.base_url}/catalog/provider?id=anthropic")
    endpoint = page.locator("#provider-endpoint")
    expect(endpoint).to_have_text("provider default: https://api.anthropic.com", timeout=15_000)
    expect(page.locator("body")).not_to_contain_text("$ANTHROPIC_API_ENDPOINT")


def test_the_editor_says_an_empty_id_is_required_and_shows_its_template(
    page: Page, running_app: RunningApp, console_errors: ConsoleErrors
) -> None:
    page.goto(f"{running_app.base_url}/catalog/edit?template=lm-studio")
    expect(page.locator("#template-picker")).to_contain_text("LM Studio", timeout=15_000)
    page.locator("#template-picker").click()
    page.get_by_role("option", name="Ollama (local server)").click()
    expect(page.locator("#template-picker")).to_contain_text("Ollama (local server)")
    page.locator("#field-id").fill("")
    page.locator("#save-provider").click()
    expect(page.locator(".field-error[data-field='id']")).to_have_text("Provider id is required")
    expect(page.locator("body")).not_to_contain_text("Not Found")
    expect(page).to_have_url(re.compile("/catalog/edit"))
    assert console_errors == []


def test_a_custom_model_priced_0_is_free_and_counted_in_the_singular(
    page: Page, running_app: RunningApp, console_errors: ConsoleErrors
) -> None:
    provider_id = f"gw-{uuid.uuid4().hex[:6]}"
    page.goto(f"{running_app.base_url}/catalog/edit?template=openai-compatible-gateway")
    expect(page.locator("#model-price_unknown-0")).to_be_visible(timeout=15_000)
    page.locator("#field-id").fill(provider_id)
    page.locator("#model-price_unknown-0").click()
    expect(page.locator("#model-price_unknown-0")).not_to_be_checked()
    page.locator("#model-cost_in-0").fill("0")
    page.locator("#model-cost_out-0").fill("0")
    page.locator("#save-provider").click()
    expect(page).to_have_url(re.compile(f"/catalog/provider\\?id={provider_id}"), timeout=10_000)
    expect(page.locator("#provider-models td").nth(1)).to_have_text("free")
    expect(page.locator("body")).to_contain_text("1 model")
    page.goto(f"{running_app.base_url}/catalog")
    card = page.locator(f".provider-card[data-provider='{provider_id}']")
    expect(card).to_contain_text("1 model", timeout=15_000)
    expect(card).not_to_contain_text("1 models")
    assert console_errors == []


def test_overriding_a_shipped_provider_asks_first_naming_its_instances(
    page: Page, running_app: RunningApp, console_errors: ConsoleErrors
) -> None:
    base = running_app.base_url
    made = httpx.post(f"{base}/api/v1/instances", json={"name": "Groq for the team", "provider_id": "groq"})
    assert made.status_code == 201, made.text
    try:
        page.goto(f"{base}/catalog/edit?template=openai-compatible-gateway")
        expect(page.locator("#field-id")).not_to_have_value("", timeout=15_000)
        page.locator("#field-id").fill("groq")
        expect(page.locator("#override-warning")).to_contain_text("overrides the shipped provider Groq")
        page.locator("#save-provider").click()
        dialog = page.locator("#override-dialog")
        expect(dialog).to_contain_text("Groq for the team")
        buttons = dialog.get_by_role("button")
        expect(buttons.first).to_have_text("Cancel")
        expect(buttons.last).to_have_text("Override")
        dialog_box, action_box = dialog.bounding_box(), buttons.last.bounding_box()
        assert dialog_box and action_box
        assert dialog_box["x"] + dialog_box["width"] - (action_box["x"] + action_box["width"]) < 40  # right-aligned
        page.locator("#cancel-override").click()
        expect(dialog).to_have_count(0)
        assert httpx.get(f"{base}/api/v1/catalog/providers/groq").json()["custom"] is False

        page.locator("#save-provider").click()
        page.locator("#confirm-override").click()
        expect(page).to_have_url(re.compile("/catalog/provider\\?id=groq"), timeout=10_000)
        assert httpx.get(f"{base}/api/v1/catalog/providers/groq").json()["overridden"] is True
    finally:
        httpx.delete(f"{base}/api/v1/catalog/custom/groq")
        httpx.delete(f"{base}/api/v1/instances/{made.json()['id']}")
    assert console_errors == []


PHONE = {"width": 390, "height": 844}
OVERFLOW = "() => document.documentElement.scrollWidth <= window.innerWidth"
SPILLING_BUTTONS = """() => [...document.querySelectorAll('button')]
    .filter((b) => b.offsetParent !== null && b.scrollWidth > b.clientWidth + 1).map((b) => b.innerText)"""


BROKEN_WORDS = """titles => titles.flatMap((title) => {
    const text = title.firstChild; if (!text || text.nodeType !== Node.TEXT_NODE) return [];
    const words = []; const pattern = /\\S+/g; let match;
    while ((match = pattern.exec(text.data)) !== null) {
        const range = document.createRange();
        range.setStart(text, match.index); range.setEnd(text, match.index + match[0].length);
        if (range.getClientRects().length > 1) words.push(match[0]);
    }
    return words; })"""


def _fits_a_phone(page: Page, url: str, ready: str) -> None:
    page.goto(url)
    expect(page.locator(ready).first).to_be_visible(timeout=15_000)
    assert page.evaluate(OVERFLOW), (url, page.evaluate("document.documentElement.scrollWidth"))
    assert page.evaluate(SPILLING_BUTTONS) == [], url


def test_catalog_provider_and_editor_fit_a_phone(page: Page, running_app: RunningApp) -> None:
    page.set_viewport_size(PHONE)
    base = running_app.base_url
    _fits_a_phone(page, f"{base}/catalog", "#page-range")
    lefts = page.eval_on_selector_all(
        ".provider-card", "cards => cards.map((c) => Math.round(c.getBoundingClientRect().left))"
    )
    assert len(lefts) > 1 and len(set(lefts)) == 1, lefts
    broken = page.eval_on_selector_all(".card-title", BROKEN_WORDS)
    assert broken == [], broken
    scrolls = page.eval_on_selector_all(".table-scroll", "boxes => boxes.map((b) => getComputedStyle(b).overflowX)")
    assert scrolls and set(scrolls) == {"auto"}, scrolls
    _fits_a_phone(page, f"{base}/catalog/provider?id=anthropic", "#provider-models tr")
    split_ids = page.eval_on_selector_all(
        "#provider-models code",
        "ids => ids.filter((c) => c.getClientRects().length > 1 || c.offsetHeight > 24).map((c) => c.innerText)",
    )
    assert split_ids == [], split_ids
    _fits_a_phone(page, f"{base}/catalog/provider?id=no-such-provider", "#provider-not-found")
    _fits_a_phone(page, f"{base}/catalog/edit", "#model-editor tr")


def test_provider_cards_in_a_row_share_their_height(page: Page, running_app: RunningApp) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    _open_catalog(page, running_app)
    rows = page.eval_on_selector_all(
        ".provider-card",
        """cards => { const rows = {}; for (const c of cards) { const r = c.getBoundingClientRect();
            (rows[Math.round(r.top)] ??= new Set()).add(Math.round(r.height)); }
            return Object.values(rows).map((s) => s.size); }""",
    )
    assert rows and max(rows) == 1, rows


def test_importing_a_shipped_provider_asks_before_overriding_it(
    page: Page, running_app: RunningApp, console_errors: ConsoleErrors
) -> None:
    base = running_app.base_url
    exported = httpx.get(f"{base}/api/v1/catalog/export/xai").text
    try:
        page.goto(f"{base}/catalog/edit")
        expect(page.locator("#model-editor tr").first).to_be_visible(timeout=15_000)
        page.locator("#import-json").fill(exported)
        page.locator("#import-button").click()
        question = page.locator("#import-override")
        expect(question).to_contain_text("overrides the shipped provider xAI")
        assert httpx.get(f"{base}/api/v1/catalog/providers/xai").json()["custom"] is False
        page.locator("#confirm-import-override").click()
        expect(page).to_have_url(re.compile("/catalog/provider\\?id=xai"), timeout=10_000)
        assert httpx.get(f"{base}/api/v1/catalog/providers/xai").json()["overridden"] is True
    finally:
        httpx.delete(f"{base}/api/v1/catalog/custom/xai")
    assert console_errors == []
