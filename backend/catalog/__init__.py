"""The catalog domain: shipped and custom providers and models, search, import/export and refresh.

The app registers `EVENT_TYPES`, opens a `CatalogService` in its lifespan (it needs no inline
views: its state is rebuilt from the seed and the log at open) and mounts `CatalogController`.
"""

from backend.catalog.controller import CatalogController
from backend.catalog.events import EVENT_TYPES
from backend.catalog.schema import Model, Provider, ProviderDraft
from backend.catalog.search import ModelPage, ModelQuery
from backend.catalog.service import CatalogService, RefreshOutcome, SaveOutcome
from backend.catalog.views import ModelHit, ProviderSummary, ProviderView
from events import InlineView

INLINE_VIEWS: tuple[InlineView, ...] = ()

__all__ = [
    "EVENT_TYPES",
    "INLINE_VIEWS",
    "CatalogController",
    "CatalogService",
    "Model",
    "ModelHit",
    "ModelPage",
    "ModelQuery",
    "Provider",
    "ProviderDraft",
    "ProviderSummary",
    "ProviderView",
    "RefreshOutcome",
    "SaveOutcome",
]
