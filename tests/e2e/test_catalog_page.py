"""The Catalog in a browser: search and filter, compare, a custom provider from a template, export and import."""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ConsoleErrors, RunningApp


def _matches(page: Page) -> int:
    text = page.locator("#match-count").inner_text()
    return int(text.split()[0])


def test_search_and_filter(page: Page, running_app: RunningApp, console_errors: ConsoleErrors) -> None:
    page.goto(f"{running_app.base_url}/catalog")
    expect(page.locator("#match-count")).to_contain_text("1534 models match", timeout=15_000)
    page.locator("#model-search").fill("claude sonnet")
    expect(page.locator("#match-count")).not_to_contain_text("1534")
    rows = page.locator("#model-results tr")
    expect(rows.first).to_contain_text(re.compile("sonnet", re.IGNORECASE))
    sonnets = _matches(page)
    assert 0 < sonnets < 1534
    page.locator("#filter-max_price_in").fill("2")
    expect(page.locator("#match-count")).not_to_contain_text(f"{sonnets} models")
    assert _matches(page) < sonnets
    page.locator("#filter-max_price_in").fill("")
    page.locator("#model-search").fill("")
    page.locator("#filter-attachments").click()
    expect(page.locator("#match-count")).not_to_contain_text("1534 models")
    page.locator("#sort-context").click()
    page.locator("#sort-context").click()
    expect(page.locator("#sort-context")).to_contain_text("↓")
    first_context = rows.first.locator("td").nth(5).inner_text()
    assert first_context.endswith("M"), first_context
    assert console_errors == []


def test_compare_three_models(page: Page, running_app: RunningApp, console_errors: ConsoleErrors) -> None:
    page.goto(f"{running_app.base_url}/catalog")
    expect(page.locator("#match-count")).to_contain_text("1534 models match", timeout=15_000)
    page.locator("#model-search").fill("gpt")
    expect(page.locator("#match-count")).not_to_contain_text("1534")
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
