"""Model search over the shipped catalog: words, filters, sorts (unknown prices last), pages."""

from __future__ import annotations

import pytest

from backend.catalog.search import ModelQuery, search_models
from backend.catalog.seed import load_seed
from backend.catalog.views import SORT_KEYS, CatalogIndex, CatalogState, ModelHit


@pytest.fixture(scope="module")
def index() -> CatalogIndex:
    return CatalogState(load_seed().providers).index


def everything(index: CatalogIndex, **fields: object) -> list[ModelHit]:
    return search_models(index, ModelQuery(limit=10_000, **fields)).items  # type: ignore[arg-type]


def test_no_query_returns_every_model_with_total(index: CatalogIndex) -> None:
    page = search_models(index, ModelQuery(limit=20, offset=40))
    assert page.total == 1534
    assert len(page.items) == 20
    assert page.items == everything(index)[40:60]


def test_words_must_all_occur_in_id_or_name_case_insensitively(index: CatalogIndex) -> None:
    hits = everything(index, q="Claude OPUS")
    assert hits
    for hit in hits:
        text = f"{hit.model.id} {hit.model.name}".lower()
        assert "claude" in text and "opus" in text
    assert everything(index, q="no-such-model-anywhere") == []


def test_filters_combine(index: CatalogIndex) -> None:
    hits = everything(
        index,
        providers=frozenset({"openrouter", "anthropic"}),
        can_reason=True,
        supports_attachments=True,
        min_context=200_000,
        max_price_in=3.0,
        max_price_out=15.0,
    )
    assert hits
    for hit in hits:
        model = hit.model
        assert hit.provider_id in ("openrouter", "anthropic")
        assert model.can_reason and model.supports_attachments
        assert model.context_window >= 200_000
        assert model.price_status != "unknown"
        assert model.cost_per_1m_in <= 3.0 and model.cost_per_1m_out <= 15.0


def test_false_flags_filter_too(index: CatalogIndex) -> None:
    hits = everything(index, can_reason=False)
    assert hits and not any(hit.model.can_reason for hit in hits)


def test_price_limits_leave_out_unknown_prices(index: CatalogIndex) -> None:
    hits = everything(index, max_price_in=0.0)
    assert hits and {hit.model.price_status for hit in hits} <= {"free", "known"}
    assert any(hit.model.price_status == "free" for hit in hits)


@pytest.mark.parametrize("sort", SORT_KEYS)
def test_sorts_order_results_and_put_unknown_prices_last(index: CatalogIndex, sort: str) -> None:
    hits = everything(index, sort=sort)
    assert len(hits) == 1534
    field = sort.lstrip("-")
    descending = sort.startswith("-")
    if field == "name":
        values = [hit.model.name.casefold() for hit in hits]
        assert values == sorted(values, reverse=descending)
        return
    if field == "context":
        numbers = [hit.model.context_window for hit in hits]
        assert numbers == sorted(numbers, reverse=descending)
        return
    attribute = "cost_per_1m_in" if field == "price_in" else "cost_per_1m_out"
    known = [hit for hit in hits if hit.model.price_status != "unknown"]
    assert hits[: len(known)] == known
    prices = [getattr(hit.model, attribute) for hit in known]
    assert prices == sorted(prices, reverse=descending)
