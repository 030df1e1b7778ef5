"""A provider as the catalog showed it at a point in the log: the shipped seed, then the refreshes and the
provider's own custom stream up to that point, applied by the same rules as the live catalog."""

from __future__ import annotations

from backend.catalog.events import REFRESH_STREAM, custom_stream
from backend.catalog.service import CatalogService, apply_stored
from backend.catalog.views import CatalogState, ProviderDetail, provider_detail, provider_view
from backend.errors import NotFound
from backend.log_point import LogPoint
from events import EventStore, StoredEvent


async def provider_as_of(catalog: CatalogService, provider_id: str, point: LogPoint) -> ProviderDetail:
    """The provider at `point` (also one deleted since); 404 when the catalog had no such provider then.

    Only the refresh stream and the provider's custom stream bear on one provider, so only those are read.
    """
    store = catalog.store
    state = CatalogState(catalog.seed)
    for stored in await _streams_up_to(store, point, REFRESH_STREAM, custom_stream(provider_id)):
        apply_stored(state, store.registry, stored)
    view = provider_view(state, provider_id)
    if view is None:
        raise NotFound(f"no provider {provider_id!r} in the catalog at that point")
    return provider_detail(view)


async def _streams_up_to(store: EventStore, point: LogPoint, *streams: str) -> list[StoredEvent]:
    found = [stored for stream in streams for stored in await store.read_stream(stream) if point.includes(stored)]
    return sorted(found, key=lambda stored: stored.position)
