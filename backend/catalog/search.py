"""Flat model search over the whole catalog: words in id or name, filters, a sort, one page."""

from __future__ import annotations

import msgspec

from backend.catalog.views import CatalogIndex, IndexedModel, ModelHit, SortKey


class ModelQuery(msgspec.Struct, frozen=True, kw_only=True):
    """What to look for. Price limits leave out models whose price is unknown."""

    q: str = ""
    providers: frozenset[str] = frozenset()
    can_reason: bool | None = None
    supports_attachments: bool | None = None
    min_context: int | None = None
    max_price_in: float | None = None
    max_price_out: float | None = None
    sort: SortKey = "name"
    limit: int = 50
    offset: int = 0


class ModelPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of matches; `total` counts every match."""

    total: int
    limit: int
    offset: int
    items: list[ModelHit]


def _narrow(rows: list[IndexedModel], query: ModelQuery) -> list[IndexedModel]:
    """Apply each filter as its own pass, so every pass is a tight comprehension."""
    for word in query.q.casefold().split():
        rows = [row for row in rows if word in row.key]
    if query.providers:
        providers = query.providers
        rows = [row for row in rows if row.provider_id in providers]
    if query.can_reason is not None:
        can_reason = query.can_reason
        rows = [row for row in rows if row.can_reason is can_reason]
    if query.supports_attachments is not None:
        attachments = query.supports_attachments
        rows = [row for row in rows if row.supports_attachments is attachments]
    if query.min_context is not None:
        minimum = query.min_context
        rows = [row for row in rows if row.context >= minimum]
    if query.max_price_in is not None:
        max_in = query.max_price_in
        rows = [row for row in rows if row.price_in is not None and row.price_in <= max_in]
    if query.max_price_out is not None:
        max_out = query.max_price_out
        rows = [row for row in rows if row.price_out is not None and row.price_out <= max_out]
    return rows


def search_models(index: CatalogIndex, query: ModelQuery) -> ModelPage:
    matches = _narrow(index.sorted_models[query.sort], query)
    page = matches[query.offset : query.offset + query.limit]
    return ModelPage(
        total=len(matches),
        limit=query.limit,
        offset=query.offset,
        items=[row.hit for row in page],
    )
