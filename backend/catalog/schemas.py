"""Request and response bodies of the catalog routes that are not domain views themselves."""

from __future__ import annotations

import msgspec

from backend.catalog.events import RefreshCounts
from backend.catalog.schema import DRAFT_FIELDS, ProviderDraft
from backend.catalog.service import SaveOutcome
from backend.catalog.templates import Template
from backend.catalog.views import ProviderSummary, ProviderView


class LastRefresh(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    etag: str | None
    counts: RefreshCounts


class ProviderList(msgspec.Struct, frozen=True, kw_only=True):
    """Every provider, by name; `warnings` names catalog files skipped at start-up."""

    providers: list[ProviderSummary]
    model_count: int
    warnings: list[str]
    last_refresh: LastRefresh | None


class TemplateList(msgspec.Struct, frozen=True, kw_only=True):
    templates: list[Template]


class DeleteResult(msgspec.Struct, frozen=True, kw_only=True):
    """The removed custom provider's id and the shipped provider showing again, if any."""

    deleted: str
    now_showing: ProviderView | None


class ImportResult(msgspec.Struct, frozen=True, kw_only=True):
    providers: list[SaveOutcome]


class RefreshRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Optional body of POST /refresh: the catalog service's base URL (else the configured one)."""

    url: str | None = None


class CustomProviderRequest(ProviderDraft, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Body of PUT /custom/{id}: the provider, and `override: true` to replace a shipped provider of that id."""

    override: bool = False

    def draft(self) -> ProviderDraft:
        return ProviderDraft(**{name: getattr(self, name) for name in DRAFT_FIELDS})
