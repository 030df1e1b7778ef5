"""The rules a provider must meet, each broken rule reported with the field it concerns."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import msgspec

from backend.catalog.limits import MAX_MODELS, model_size_problems, provider_size_problems
from backend.catalog.schema import PROVIDER_TYPES, SDK_ENDPOINT_TYPES, Model, ProviderDraft
from backend.errors import FieldError

MAX_PRICE = 1000.0
PROVIDER_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
PLACEHOLDER = re.compile(r"^\$(?:[A-Za-z_][A-Za-z0-9_]*|\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\})$")
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie"}
)
PRICE_FIELDS = (
    "cost_per_1m_in",
    "cost_per_1m_out",
    "cost_per_1m_cache_write",
    "cost_per_1m_cache_read",
)


def provider_problems(provider_id: str, draft: ProviderDraft, prefix: str = "") -> list[FieldError]:
    """Every rule the provider breaks; empty when it is valid. `prefix` starts each field path."""
    return [
        FieldError(field=prefix + field, message=message)
        for field, message in _provider_rules(provider_id, draft)
    ]


def check_provider_id(provider_id: str) -> Iterator[tuple[str, str]]:
    if not PROVIDER_ID.match(provider_id):
        yield "id", (
            "must be 1-64 characters: lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )


def _provider_rules(provider_id: str, draft: ProviderDraft) -> Iterator[tuple[str, str]]:
    yield from check_provider_id(provider_id)
    yield from provider_size_problems(draft)
    if not draft.name.strip():
        yield "name", "must not be empty"
    if draft.type not in PROVIDER_TYPES:
        yield "type", f"unknown type {draft.type!r}; expected one of {', '.join(PROVIDER_TYPES)}"
    yield from _endpoint_rules(draft)
    yield from _api_key_rules(draft.api_key)
    yield from _header_rules(draft.default_headers)
    yield from _models_rules(draft)


def _endpoint_rules(draft: ProviderDraft) -> Iterator[tuple[str, str]]:
    endpoint = draft.api_endpoint
    if endpoint == "" and draft.type in SDK_ENDPOINT_TYPES:
        return
    if PLACEHOLDER.match(endpoint):
        return
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        yield "api_endpoint", (
            "must be an http:// or https:// URL (or an environment placeholder like $MY_ENDPOINT)"
        )


def _api_key_rules(api_key: str | None) -> Iterator[tuple[str, str]]:
    if api_key and not PLACEHOLDER.match(api_key):
        yield "api_key", (
            "must name an environment variable, like $MY_API_KEY, or be empty; "
            "the key itself belongs in an instance's credential"
        )


def _header_rules(headers: dict[str, str]) -> Iterator[tuple[str, str]]:
    for name in headers:
        if not HEADER_NAME.match(name):
            yield f"default_headers.{name}", "is not a valid HTTP header name"
        elif name.lower() in CREDENTIAL_HEADERS:
            yield f"default_headers.{name}", (
                "carries a credential; keys belong in an instance's credential, not the catalog"
            )


def _models_rules(draft: ProviderDraft) -> Iterator[tuple[str, str]]:
    if not draft.models:
        yield "models", "must list at least one model"
        return
    if len(draft.models) > MAX_MODELS:
        return  # said by provider_size_problems; one message, not one per model
    first_index: dict[str, int] = {}
    for index, model in enumerate(draft.models):
        at = f"models[{index}]"
        if model.id in first_index:
            yield f"{at}.id", f"duplicate model id {model.id!r} (also models[{first_index[model.id]}])"
        first_index.setdefault(model.id, index)
        yield from ((f"{at}.{field}", message) for field, message in model_problems(model))
    for field in ("default_large_model_id", "default_small_model_id"):
        wanted = getattr(draft, field)
        if wanted not in first_index:
            yield field, f"{wanted!r} is not among the models"


def model_problems(model: Model) -> Iterator[tuple[str, str]]:
    """Rules for one model, as (field, message) pairs relative to the model."""
    yield from model_size_problems(model)
    if not model.id.strip():
        yield "id", "must not be empty"
    if not model.name.strip():
        yield "name", "must not be empty"
    for field in PRICE_FIELDS:
        yield from _price_rules(field, getattr(model, field))
    if model.context_window <= 0:
        yield "context_window", "must be greater than 0"
    if model.default_max_tokens <= 0:
        yield "default_max_tokens", "must be greater than 0"
    yield from _price_status_rules(model)
    effort = model.default_reasoning_effort
    if effort is not None and model.reasoning_levels and effort not in model.reasoning_levels:
        yield "default_reasoning_effort", f"{effort!r} is not among reasoning_levels"


def _price_rules(field: str, price: float) -> Iterator[tuple[str, str]]:
    if not math.isfinite(price):
        yield field, "must be a finite number"
    elif price < 0:
        yield field, "must not be negative"
    elif price > MAX_PRICE:
        yield field, f"{price:g} is above ${MAX_PRICE:,.0f} per 1M tokens"


def _price_status_rules(model: Model) -> Iterator[tuple[str, str]]:
    charged = model.cost_per_1m_in or model.cost_per_1m_out
    if model.price_status == "free" and any(getattr(model, field) for field in PRICE_FIELDS):
        yield "price_status", "a free model must have every price 0"
    if model.price_status == "unknown" and charged:
        yield "price_status", "an unknown price must have input and output prices 0"


def settle_price_status(draft: ProviderDraft) -> ProviderDraft:
    """A model priced 0 for input and output is 'unknown', never '$0', unless marked free."""
    models = [
        msgspec.structs.replace(model, price_status="unknown")
        if model.price_status == "known" and not (model.cost_per_1m_in or model.cost_per_1m_out)
        else model
        for model in draft.models
    ]
    return msgspec.structs.replace(draft, models=models)
