"""Flat model search over the whole catalog: words in id or name, filters, a sort, one page."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from backend.catalog.views import CatalogIndex, IndexedModel, ModelHit, SortKey

Predicate = Callable[[IndexedModel], bool]


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


def _predicates(query: ModelQuery) -> list[Predicate]:
    checks: list[Predicate] = []
    words = query.q.casefold().split()
    if words:
        checks.append(lambda row: all(word in row.key for word in words))
    if query.providers:
        checks.append(lambda row: row.provider_id in query.providers)
    if query.can_reason is not None:
        checks.append(lambda row: row.can_reason is query.can_reason)
    if query.supports_attachments is not None:
        checks.append(lambda row: row.supports_attachments is query.supports_attachments)
    if query.min_context is not None:
        minimum = query.min_context
        checks.append(lambda row: row.context >= minimum)
    if query.max_price_in is not None:
        max_in = query.max_price_in
        checks.append(lambda row: row.price_in is not None and row.price_in <= max_in)
    if query.max_price_out is not None:
        max_out = query.max_price_out
        checks.append(lambda row: row.price_out is not None and row.price_out <= max_out)
    return checks


def search_models(index: CatalogIndex, query: ModelQuery) -> ModelPage:
    checks = _predicates(query)
    rows = index.sorted_models[query.sort]
    matches = [row for row in rows if all(check(row) for check in checks)] if checks else rows
    page = matches[query.offset : query.offset + query.limit]
    return ModelPage(
        total=len(matches),
        limit=query.limit,
        offset=query.offset,
        items=[row.hit for row in page],
    )
