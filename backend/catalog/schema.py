"""The catalog's own data shapes: providers and models as the seed, the events and the API hold them."""

from __future__ import annotations

from typing import Literal

import msgspec

PriceStatus = Literal["known", "unknown", "free"]

PROVIDER_TYPES: tuple[str, ...] = (
    "openai",
    "openai-compat",
    "openrouter",
    "vercel",
    "anthropic",
    "google",
    "google-vertex",
    "azure",
    "bedrock",
    "ollama",
)
"""Wire protocols a provider may speak: Catwalk's types plus Ollama's native API."""

SDK_ENDPOINT_TYPES = frozenset({"bedrock", "google-vertex"})
"""Types whose SDK builds the endpoint from region or project, so it may be empty."""


class ModelOptions(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Default request parameters for a model; `provider_options` is passed through untouched."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    provider_options: dict[str, object] | None = None


class Model(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One model a provider offers, with prices in USD per 1M tokens.

    `price_status` says what the two main prices mean: "known", "unknown" (both are 0
    because nobody knows them) or "free" (both are 0 because it costs nothing).
    """

    id: str
    name: str
    cost_per_1m_in: float
    cost_per_1m_out: float
    cost_per_1m_cache_write: float = 0.0
    cost_per_1m_cache_read: float = 0.0
    price_status: PriceStatus = "known"
    context_window: int
    default_max_tokens: int
    can_reason: bool = False
    reasoning_levels: list[str] = []
    default_reasoning_effort: str | None = None
    supports_attachments: bool = False
    options: ModelOptions | None = None


class ProviderDraft(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A provider definition as a user writes it: everything but its id and provenance.

    `api_key` names where the key comes from (`$OPENAI_API_KEY`), never the key itself.
    """

    name: str
    type: str
    api_endpoint: str = ""
    api_key: str | None = None
    default_large_model_id: str
    default_small_model_id: str
    default_headers: dict[str, str] = {}
    models: list[Model]


class Provider(ProviderDraft, frozen=True, kw_only=True):
    """A provider with its id and where its data came from (`source`, as of `as_of`, a date)."""

    id: str
    source: str
    as_of: str
    notes: list[str] = []


DRAFT_FIELDS: tuple[str, ...] = tuple(
    field.name for field in msgspec.structs.fields(ProviderDraft)
)


def as_draft(provider: Provider) -> ProviderDraft:
    """The user-editable part of a provider."""
    return ProviderDraft(**{name: getattr(provider, name) for name in DRAFT_FIELDS})


def with_identity(
    draft: ProviderDraft, provider_id: str, source: str, as_of: str, notes: list[str] | None = None
) -> Provider:
    """A draft given an id and provenance."""
    return Provider(
        id=provider_id, source=source, as_of=as_of, notes=notes or [], **msgspec.structs.asdict(draft)
    )
