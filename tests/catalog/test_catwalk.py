"""Catwalk-format conversion: cached prices read by price, price status, default repair, export."""

from __future__ import annotations

import msgspec
import pytest

from backend.catalog.catwalk import (
    CatwalkModel,
    CatwalkProvider,
    draft_from_catwalk,
    encode_catwalk,
    read_cache_prices,
    repair_defaults,
    to_catwalk,
    upstream_provider,
)
from backend.catalog.schema import with_identity


@pytest.mark.parametrize(
    ("price_in", "in_cached", "out_cached", "write", "read", "moved"),
    [
        (3.0, 3.75, 0.3, 3.75, 0.3, False),  # as documented (Anthropic)
        (0.14, 0.0028, 0.0, 0.0, 0.0028, True),  # read price in the write field (DeepSeek)
        (0.75, 0.075, 3.75, 3.75, 0.075, True),  # swapped (Gemini)
        (0.6, 0.12, 0.375, 0.375, 0.12, True),  # swapped, write below input (MiniMax)
        (1.25, 0.25, 0.25, 0.0, 0.25, True),  # the same read price twice (Azure)
        (0.4, 0.25, 0.04, 0.25, 0.04, False),  # both below input, documented order
        (1.0, 0.0, 0.1, 0.0, 0.1, False),  # only a read price
        (30.0, 0.0, 30.0, 0.0, 30.0, False),  # a read price equal to input stays
        (0.0, 0.5, 0.0, 0.5, 0.0, False),  # no input price to compare with
        (2.0, 0.0, 0.0, 0.0, 0.0, False),
    ],
)
def test_cached_prices_are_read_by_price(
    price_in: float, in_cached: float, out_cached: float, write: float, read: float, moved: bool
) -> None:
    prices = read_cache_prices(price_in, in_cached, out_cached)
    assert (prices.write, prices.read, prices.moved) == (write, read, moved)


def catwalk_model(**fields: object) -> CatwalkModel:
    base: dict[str, object] = {"id": "m", "name": "M", "context_window": 1000, "default_max_tokens": 100}
    return msgspec.json.decode(msgspec.json.encode({**base, **fields}), type=CatwalkModel)


def catwalk_provider(*models: CatwalkModel, **fields: object) -> CatwalkProvider:
    ids = [model.id for model in models]
    base: dict[str, object] = {
        "id": "p",
        "name": "P",
        "type": "openai-compat",
        "api_key": "$P_KEY",
        "api_endpoint": "https://p.example/v1",
        "default_large_model_id": ids[0],
        "default_small_model_id": ids[-1],
    }
    body = msgspec.json.encode({**base, **fields, "models": list(models)})
    return msgspec.json.decode(body, type=CatwalkProvider)


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"cost_per_1m_in": 1, "cost_per_1m_out": 2}, "known"),
        ({"cost_per_1m_in": 0, "cost_per_1m_out": 2}, "known"),
        ({}, "unknown"),
        ({"id": "gpt-4o", "name": "GPT 4o (free)"}, "free"),
        ({"id": "z-ai/glm-5.2:free", "name": "GLM"}, "free"),
        ({"id": "freedom-1", "name": "Freedom"}, "unknown"),
        ({"price_status": "free"}, "free"),
    ],
)
def test_zero_prices_are_unknown_unless_marked_free(fields: dict[str, object], status: str) -> None:
    draft, _ = draft_from_catwalk(catwalk_provider(catwalk_model(**fields)))
    assert draft.models[0].price_status == status


def test_switchboard_export_is_taken_as_documented_on_import() -> None:
    lone_write = catwalk_model(cost_per_1m_in=1.0, cost_per_1m_out=2.0, cost_per_1m_in_cached=0.5)
    inferred, _ = draft_from_catwalk(catwalk_provider(lone_write))
    marked = msgspec.structs.replace(lone_write, price_status="known")
    documented, _ = draft_from_catwalk(catwalk_provider(marked))
    assert inferred.models[0].cost_per_1m_cache_read == 0.5
    assert documented.models[0].cost_per_1m_cache_write == 0.5
    assert documented.models[0].cost_per_1m_cache_read == 0.0


def test_conversion_notes_the_models_whose_cached_prices_moved() -> None:
    moved = catwalk_model(id="a", cost_per_1m_in=1.0, cost_per_1m_out=2.0, cost_per_1m_in_cached=0.1)
    kept = catwalk_model(id="b", cost_per_1m_in=1.0, cost_per_1m_out=2.0, cost_per_1m_in_cached=1.25)
    provider = upstream_provider(catwalk_provider(moved, kept), "test", "2026-01-01")
    assert len(provider.notes) == 1
    assert "for 1 model (a)" in provider.notes[0]


def test_missing_defaults_are_replaced_by_close_or_cheap_models() -> None:
    models = [
        catwalk_model(id="claude-opus-5", cost_per_1m_in=5, cost_per_1m_out=25),
        catwalk_model(id="tiny", cost_per_1m_in=0.01, cost_per_1m_out=0.01),
        catwalk_model(id="mid", cost_per_1m_in=1, cost_per_1m_out=1),
    ]
    provider = catwalk_provider(
        *models, default_large_model_id="claude-opus-4-6", default_small_model_id="Qwen/Qwen3.5-9B"
    )
    draft, _ = draft_from_catwalk(provider)
    repaired, notes = repair_defaults(draft)
    assert repaired.default_large_model_id == "claude-opus-5"
    assert repaired.default_small_model_id == "tiny"
    assert len(notes) == 2 and "'claude-opus-4-6' is not among the models" in notes[0]


def test_export_writes_documented_fields_and_leaves_out_absent_ones() -> None:
    model = catwalk_model(cost_per_1m_in=1.0, cost_per_1m_out=2.0, cost_per_1m_in_cached=0.1)
    without_key = msgspec.structs.replace(catwalk_provider(model), api_key=msgspec.UNSET)
    draft, _ = draft_from_catwalk(without_key)
    exported = msgspec.json.decode(encode_catwalk(with_identity(draft, "p", "custom", "2026-01-01")))
    out = exported["models"][0]
    assert out["cost_per_1m_in_cached"] == 0.0 and out["cost_per_1m_out_cached"] == 0.1
    assert out["price_status"] == "known"
    assert "reasoning_levels" not in out and "options" not in out
    assert "api_key" not in exported and "default_headers" not in exported


def test_catwalk_round_trip_keeps_every_model_field() -> None:
    model = catwalk_model(
        cost_per_1m_in=3.0,
        cost_per_1m_out=15.0,
        cost_per_1m_in_cached=3.75,
        cost_per_1m_out_cached=0.3,
        can_reason=True,
        reasoning_levels=["low", "high"],
        default_reasoning_effort="high",
        supports_attachments=True,
        options={"temperature": 0.7, "provider_options": {"x": [1, {"y": None}]}},
    )
    draft, _ = draft_from_catwalk(catwalk_provider(model, default_headers={"X-Title": "t"}, api_key=""))
    provider = with_identity(draft, "p", "custom", "2026-01-01")
    again, _ = draft_from_catwalk(msgspec.json.decode(encode_catwalk(provider), type=CatwalkProvider))
    assert again == draft
    assert to_catwalk(provider).api_key == ""


def test_keys_outside_the_schema_are_dropped() -> None:
    raw = b'{"id": "m", "name": "M", "context_window": 1, "default_max_tokens": 1, "has_reasoning_efforts": true, "reasoning_effort": "", "temperature": 1}'
    model = msgspec.json.decode(raw, type=CatwalkModel)
    assert model.id == "m"
