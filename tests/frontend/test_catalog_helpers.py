"""The catalog pages' small helpers: plurals, the page range, bad filter numbers, a custom model's price status."""

from __future__ import annotations

import pytest

from frontend.catalog_api import ModelInfo
from frontend.layout import page_range
from frontend.pages.catalog import _is_bad_number
from frontend.pages.editor import ModelDraft, _model_of
from frontend.words import default_endpoint_words, plural


def test_plural() -> None:
    assert [plural(n, "model") for n in (0, 1, 2, 1534)] == ["0 models", "1 model", "2 models", "1,534 models"]


def test_page_range() -> None:
    assert page_range(0, 50, 1534) == "1-50 of 1,534"
    assert page_range(50, 50, 1534) == "51-100 of 1,534"
    assert page_range(1500, 34, 1534) == "1,501-1,534 of 1,534"
    assert page_range(0, 0, 0) == "0 of 0"
    assert page_range(4900, 0, 1534) == "0 of 1,534"  # a page past the end says it shows nothing


@pytest.mark.parametrize(
    ("text", "bad"), [("", False), ("2", False), ("0.5", False), ("abc", True), ("-1", True), ("nan", True)]
)
def test_bad_filter_numbers(text: str, bad: bool) -> None:
    assert _is_bad_number(text) is bad


def test_default_endpoint_words() -> None:
    assert default_endpoint_words("https://api.anthropic.com") == "provider default: https://api.anthropic.com"


@pytest.mark.parametrize(
    ("cost_in", "unknown", "status"), [("0", False, "free"), ("0", True, "unknown"), ("1.5", False, "known")]
)
def test_a_custom_model_priced_0_is_free_unless_marked_unknown(cost_in: str, unknown: bool, status: str) -> None:
    model = _model_of(ModelDraft(id="m", name="M", cost_in=cost_in, price_unknown=unknown), 0, {})
    assert isinstance(model, ModelInfo) and model.price_status == status
