"""Catalog events: custom providers on stream `catalog-<provider id>`, refreshes on stream `catalog`."""

from __future__ import annotations

import msgspec

from backend.catalog.schema import Model, Provider, ProviderDraft
from backend.wording import plural
from events import Event

REFRESH_STREAM = "catalog"
CUSTOM_STREAM_PREFIX = "catalog-"


def custom_stream(provider_id: str) -> str:
    return f"{CUSTOM_STREAM_PREFIX}{provider_id}"


class CustomProviderCreated(Event, frozen=True, kw_only=True):
    """A user defined a provider; with a shipped provider's id it overrides that provider."""

    provider_id: str
    provider: ProviderDraft

    def summary(self) -> str:
        return f"Custom provider {self.provider_id} created with {plural(len(self.provider.models), 'model')}"


class CustomProviderUpdated(Event, frozen=True, kw_only=True):
    """A user replaced a custom provider's definition (the whole definition is recorded)."""

    provider_id: str
    provider: ProviderDraft

    def summary(self) -> str:
        return f"Custom provider {self.provider_id} updated ({plural(len(self.provider.models), 'model')})"


class CustomModelAdded(Event, frozen=True, kw_only=True):
    """One model was added to a custom provider."""

    provider_id: str
    model: Model

    def summary(self) -> str:
        return f"Model {self.model.id} added to custom provider {self.provider_id}"


class CustomProviderDeleted(Event, frozen=True, kw_only=True):
    """A custom provider was removed; an overridden shipped provider shows again."""

    provider_id: str

    def summary(self) -> str:
        return f"Custom provider {self.provider_id} deleted"


class RefreshCounts(msgspec.Struct, frozen=True, kw_only=True):
    """What a refresh changed in the catalog it replaced."""

    providers_added: int = 0
    providers_changed: int = 0
    providers_removed: int = 0
    models_added: int = 0
    models_changed: int = 0
    models_removed: int = 0
    prices_changed: int = 0


class SkippedProvider(msgspec.Struct, frozen=True):
    """A provider the catalog service listed but that breaks the rules, and why."""

    provider_id: str
    reason: str


class CatalogRefreshed(Event, frozen=True, kw_only=True):
    """The catalog was refreshed from a catalog service.

    Holds the providers that were added or changed (in full) and the ids removed, so the
    catalog is rebuilt from the shipped seed and the log alone.
    """

    url: str
    etag: str | None
    counts: RefreshCounts
    upserted: list[Provider]
    removed: list[str]
    skipped: list[SkippedProvider] = []

    def summary(self) -> str:
        c = self.counts
        return (
            f"Catalog refreshed from {self.url}: providers +{c.providers_added} ~{c.providers_changed} "
            f"-{c.providers_removed}, models +{c.models_added} ~{c.models_changed} -{c.models_removed}, "
            f"{c.prices_changed} price changes"
        )


CustomProviderEvent = CustomProviderCreated | CustomProviderUpdated | CustomModelAdded | CustomProviderDeleted

EVENT_TYPES: tuple[type[Event], ...] = (
    CustomProviderCreated,
    CustomProviderUpdated,
    CustomModelAdded,
    CustomProviderDeleted,
    CatalogRefreshed,
)
