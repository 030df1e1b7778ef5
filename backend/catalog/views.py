"""The catalog as clients see it: shipped data overlaid by refreshes and custom providers, indexed.

`CatalogState` is rebuilt from the seed and the log; every change produces a new immutable
`CatalogIndex`, so a reader never sees a half-applied change.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

import msgspec

from backend.catalog.events import (
    CUSTOM_STREAM_PREFIX,
    REFRESH_STREAM,
    CatalogRefreshed,
    CustomModelAdded,
    CustomProviderCreated,
    CustomProviderDeleted,
    CustomProviderUpdated,
    custom_stream,
)
from backend.catalog.placeholders import default_endpoint, shown_url
from backend.catalog.schema import Model, Provider, with_identity
from events import Event, StoredEvent

CUSTOM_SOURCE = "custom"

SortKey = Literal[
    "name", "-name", "price_in", "-price_in", "price_out", "-price_out", "context", "-context"
]
SORT_KEYS: tuple[SortKey, ...] = (
    "name", "-name", "price_in", "-price_in", "price_out", "-price_out", "context", "-context"
)


class ProviderView(Provider, frozen=True, kw_only=True):
    """A provider as the catalog shows it.

    `custom`: defined by a user; `overridden`: a custom provider replacing a shipped one;
    `shipped`: a provider with this id comes with the catalog (seed or refresh);
    `shipped_endpoint`: its endpoint is the shipped provider's own (a shipped provider, or an override that
    kept that endpoint), so an unset endpoint placeholder falls back to the provider's public endpoint;
    `version`: the custom provider's stream version (0 when not custom), for If-Match.
    """

    custom: bool
    overridden: bool
    shipped: bool
    shipped_endpoint: bool
    version: int
    updated_at: datetime | None = None
    updated_by: str | None = None


class ProviderDetail(ProviderView, frozen=True, kw_only=True):
    """A provider with `resolved_endpoint`: its default endpoint as requests would use it now ("" when unset)."""

    resolved_endpoint: str


class ProviderSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One provider card: counts and price ranges over models with a known (or free) price."""

    id: str
    name: str
    type: str
    api_endpoint: str
    model_count: int
    unknown_price_count: int
    price_in_min: float | None
    price_in_max: float | None
    price_out_min: float | None
    price_out_max: float | None
    max_context_window: int
    custom: bool
    overridden: bool
    source: str
    as_of: str


class ModelHit(msgspec.Struct, frozen=True, kw_only=True):
    """One model in a search result, with the provider it belongs to."""

    provider_id: str
    provider_name: str
    provider_type: str
    custom: bool
    model: Model


class IndexedModel(msgspec.Struct, frozen=True):
    """A model with its pre-computed search key and filter values; prices are None when unknown."""

    key: str
    provider_id: str
    price_in: float | None
    price_out: float | None
    context: int
    can_reason: bool
    supports_attachments: bool
    hit: ModelHit


class CatalogIndex(msgspec.Struct, frozen=True):
    """An immutable snapshot: providers by id, summaries by name, models pre-sorted per sort key."""

    providers: dict[str, ProviderView]
    summaries: list[ProviderSummary]
    sorted_models: dict[str, list[IndexedModel]]

    @property
    def model_count(self) -> int:
        return len(self.sorted_models["name"])


class CustomEntry(msgspec.Struct, frozen=True):
    provider: Provider
    updated_at: datetime
    updated_by: str


class CatalogState:
    """The shipped providers as refreshed, the custom providers, and the stream versions seen."""

    def __init__(self, shipped: list[Provider]) -> None:
        self.shipped: dict[str, Provider] = {provider.id: provider for provider in shipped}
        self.custom: dict[str, CustomEntry] = {}
        self.versions: dict[str, int] = {}
        self.last_refresh: CatalogRefreshed | None = None
        self.index = build_index(self)

    def expects(self, stored: StoredEvent) -> Literal["apply", "seen", "gap"]:
        """Whether a stored event is the next one of its stream, already applied, or ahead of a gap."""
        known = self.versions.get(stored.stream_id, 0)
        if stored.version <= known:
            return "seen"
        return "apply" if stored.version == known + 1 else "gap"

    def apply(self, stored: StoredEvent, event: Event) -> None:
        """Apply the next event of a catalog stream (the caller checked `expects`)."""
        self.versions[stored.stream_id] = stored.version
        if isinstance(event, CatalogRefreshed):
            self._apply_refresh(event)
        elif isinstance(event, CustomProviderDeleted):
            self.custom.pop(event.provider_id, None)
        else:
            self._apply_custom(stored, event)

    def reindex(self) -> None:
        self.index = build_index(self)

    def _apply_refresh(self, event: CatalogRefreshed) -> None:
        for provider_id in event.removed:
            self.shipped.pop(provider_id, None)
        for provider in event.upserted:
            self.shipped[provider.id] = provider
        self.last_refresh = event

    def _apply_custom(self, stored: StoredEvent, event: Event) -> None:
        as_of = stored.recorded_at.date().isoformat()
        if isinstance(event, CustomProviderCreated | CustomProviderUpdated):
            provider = with_identity(event.provider, event.provider_id, CUSTOM_SOURCE, as_of)
        elif isinstance(event, CustomModelAdded) and event.provider_id in self.custom:
            current = self.custom[event.provider_id].provider
            provider = msgspec.structs.replace(
                current, as_of=as_of, models=[*current.models, event.model]
            )
        else:
            return
        self.custom[provider.id] = CustomEntry(provider, stored.recorded_at, stored.metadata.actor)


def is_catalog_stream(stream_id: str) -> bool:
    return stream_id == REFRESH_STREAM or stream_id.startswith(CUSTOM_STREAM_PREFIX)


def provider_view(state: CatalogState, provider_id: str) -> ProviderView | None:
    entry = state.custom.get(provider_id)
    shipped = state.shipped.get(provider_id)
    provider = entry.provider if entry else shipped
    if provider is None:
        return None
    return ProviderView(
        **msgspec.structs.asdict(provider),
        custom=entry is not None,
        overridden=entry is not None and shipped is not None,
        shipped=shipped is not None,
        shipped_endpoint=shipped is not None and provider.api_endpoint == shipped.api_endpoint,
        version=state.versions.get(custom_stream(provider_id), 0) if entry else 0,
        updated_at=entry.updated_at if entry else None,
        updated_by=entry.updated_by if entry else None,
    )


def provider_endpoint(provider: Provider, environ: Mapping[str, str] = os.environ) -> str:
    """The provider's default endpoint with its placeholder resolved; "" when it resolves to nothing.

    Only a provider with the shipped endpoint (`shipped_endpoint`) falls back to the public endpoint.
    """
    fallback = isinstance(provider, ProviderView) and provider.shipped_endpoint
    return default_endpoint(provider.api_endpoint, fallback, environ)


def provider_detail(view: ProviderView) -> ProviderDetail:
    """The provider with its default endpoint resolved as requests would use it now (as `shown_url`)."""
    return ProviderDetail(**msgspec.structs.asdict(view), resolved_endpoint=shown_url(provider_endpoint(view)))


def summarize(view: ProviderView) -> ProviderSummary:
    priced = [model for model in view.models if model.price_status != "unknown"]
    ins = [model.cost_per_1m_in for model in priced]
    outs = [model.cost_per_1m_out for model in priced]
    return ProviderSummary(
        id=view.id,
        name=view.name,
        type=view.type,
        api_endpoint=view.api_endpoint,
        model_count=len(view.models),
        unknown_price_count=len(view.models) - len(priced),
        price_in_min=min(ins, default=None),
        price_in_max=max(ins, default=None),
        price_out_min=min(outs, default=None),
        price_out_max=max(outs, default=None),
        max_context_window=max((model.context_window for model in view.models), default=0),
        custom=view.custom,
        overridden=view.overridden,
        source=view.source,
        as_of=view.as_of,
    )


def indexed_models(view: ProviderView) -> list[IndexedModel]:
    rows = []
    for model in view.models:
        known = model.price_status != "unknown"
        hit = ModelHit(
            provider_id=view.id,
            provider_name=view.name,
            provider_type=view.type,
            custom=view.custom,
            model=model,
        )
        rows.append(
            IndexedModel(
                key=f"{model.id} {model.name}".casefold(),
                provider_id=view.id,
                price_in=model.cost_per_1m_in if known else None,
                price_out=model.cost_per_1m_out if known else None,
                context=model.context_window,
                can_reason=model.can_reason,
                supports_attachments=model.supports_attachments,
                hit=hit,
            )
        )
    return rows


def _name_key(row: IndexedModel) -> tuple[str, str, str]:
    return (row.hit.model.name.casefold(), row.provider_id, row.hit.model.id)


def _price_key(price: float | None, descending: bool) -> tuple[bool, float]:
    """Unknown prices sort last in either direction."""
    if price is None:
        return (True, 0.0)
    return (False, -price if descending else price)


def sort_models(rows: list[IndexedModel]) -> dict[str, list[IndexedModel]]:
    by_name = sorted(rows, key=_name_key)
    lists: dict[str, list[IndexedModel]] = {"name": by_name, "-name": by_name[::-1]}
    for field in ("price_in", "price_out"):
        for descending in (False, True):
            lists[f"{'-' if descending else ''}{field}"] = sorted(
                by_name, key=lambda row: _price_key(getattr(row, field), descending)
            )
    lists["context"] = sorted(by_name, key=lambda row: row.context)
    lists["-context"] = sorted(by_name, key=lambda row: -row.context)
    return lists


def build_index(state: CatalogState) -> CatalogIndex:
    ids = set(state.shipped) | set(state.custom)
    views = [view for view in (provider_view(state, pid) for pid in ids) if view is not None]
    views.sort(key=lambda view: (view.name.casefold(), view.id))
    rows = [row for view in views for row in indexed_models(view)]
    return CatalogIndex(
        providers={view.id: view for view in views},
        summaries=[summarize(view) for view in views],
        sorted_models=sort_models(rows),
    )
