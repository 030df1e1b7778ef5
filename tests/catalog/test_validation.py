"""Provider rules: every broken rule is reported at once, with the field it concerns."""

from __future__ import annotations

import msgspec
import pytest

from backend.catalog.schema import Model, ProviderDraft
from backend.catalog.validation import provider_problems, settle_price_status


def model(model_id: str = "m1", **fields: object) -> Model:
    base: dict[str, object] = {
        "id": model_id,
        "name": model_id.upper(),
        "cost_per_1m_in": 1.0,
        "cost_per_1m_out": 2.0,
        "context_window": 8000,
        "default_max_tokens": 1000,
    }
    return msgspec.convert({**base, **fields}, Model)


def draft(*models: Model, **fields: object) -> ProviderDraft:
    chosen = models or (model(),)
    base: dict[str, object] = {
        "name": "Gateway",
        "type": "openai-compat",
        "api_endpoint": "https://gw.example/v1",
        "api_key": "$GW_API_KEY",
        "default_large_model_id": chosen[0].id,
        "default_small_model_id": chosen[-1].id,
    }
    return msgspec.convert({**base, **fields, "models": [msgspec.to_builtins(m) for m in chosen]}, ProviderDraft)


def fields_of(provider_id: str, provider: ProviderDraft) -> list[str]:
    return [problem.field for problem in provider_problems(provider_id, provider)]


def test_a_valid_provider_has_no_problems() -> None:
    assert provider_problems("gw", draft()) == []


def test_every_problem_is_listed_at_once() -> None:
    bad = draft(
        model("a", cost_per_1m_in=-1, cost_per_1m_out=1500, context_window=0, default_max_tokens=-5),
        model("a", cost_per_1m_cache_read=-0.1),
        type="carrier-pigeon",
        api_endpoint="ftp://gw.example",
        default_large_model_id="nope",
        default_small_model_id="nada",
    )
    assert fields_of("gw", bad) == [
        "type",
        "api_endpoint",
        "models[0].cost_per_1m_in",
        "models[0].cost_per_1m_out",
        "models[0].context_window",
        "models[0].default_max_tokens",
        "models[1].id",
        "models[1].cost_per_1m_cache_read",
        "default_large_model_id",
        "default_small_model_id",
    ]


def test_no_models_is_a_problem() -> None:
    empty = msgspec.structs.replace(draft(), models=[])
    assert fields_of("gw", empty) == ["models"]


@pytest.mark.parametrize(
    ("provider_id", "ok"),
    [("gw", True), ("my.gw_2-x", True), ("", False), ("Caps", False), ("a/b", False), ("x" * 65, False)],
)
def test_provider_ids(provider_id: str, ok: bool) -> None:
    assert (fields_of(provider_id, draft()) == []) is ok


@pytest.mark.parametrize(
    ("type_", "endpoint", "ok"),
    [
        ("openai-compat", "http://localhost:11434", True),
        ("openai-compat", "$GATEWAY_BASE_URL", True),
        ("openai-compat", "${GATEWAY_BASE_URL:-https://x.example}", True),
        ("openai-compat", "", False),
        ("openai-compat", "localhost:8080", False),
        ("openai-compat", "https://", False),
        ("bedrock", "", True),
        ("google-vertex", "", True),
        ("azure", "", False),
    ],
)
def test_endpoints_must_be_http_urls_or_placeholders(type_: str, endpoint: str, ok: bool) -> None:
    assert (fields_of("gw", draft(type=type_, api_endpoint=endpoint)) == []) is ok


@pytest.mark.parametrize(
    ("api_key", "ok"), [(None, True), ("", True), ("$OPENAI_API_KEY", True), ("sk-live-123", False)]
)
def test_api_key_names_a_variable_never_holds_a_key(api_key: str | None, ok: bool) -> None:
    assert (fields_of("gw", draft(api_key=api_key)) == []) is ok


def test_credential_headers_are_refused() -> None:
    headers = {"Authorization": "Bearer sk-1", "X-Title": "ok", "bad header": "x"}
    assert fields_of("gw", draft(default_headers=headers)) == [
        "default_headers.Authorization",
        "default_headers.bad header",
    ]


def test_price_status_must_agree_with_prices() -> None:
    free_but_priced = model("a", price_status="free", cost_per_1m_in=0, cost_per_1m_out=0, cost_per_1m_cache_read=1)
    unknown_but_priced = model("b", price_status="unknown")
    assert fields_of("gw", draft(free_but_priced, unknown_but_priced)) == [
        "models[0].price_status",
        "models[1].price_status",
    ]


def test_default_reasoning_effort_must_be_a_listed_level() -> None:
    listed = model("a", reasoning_levels=["low", "high"], default_reasoning_effort="medium")
    unlisted = model("b", default_reasoning_effort="medium")
    assert fields_of("gw", draft(listed, unlisted)) == ["models[0].default_reasoning_effort"]


def test_zero_prices_settle_as_unknown_unless_free() -> None:
    settled = settle_price_status(
        draft(
            model("a", cost_per_1m_in=0, cost_per_1m_out=0),
            model("b", cost_per_1m_in=0, cost_per_1m_out=0, price_status="free"),
            model("c"),
        )
    )
    assert [m.price_status for m in settled.models] == ["unknown", "free", "known"]
