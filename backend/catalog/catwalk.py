"""Catwalk-format JSON in and out: field mapping, cache-price reading, price status, default repair.

Catwalk documents `cost_per_1m_in_cached` as the cache-write price and `cost_per_1m_out_cached`
as the cache-read price, but several generators put the cache-read price in the first field.
`read_cache_prices` decides which is which; see catalog_seed/README.md for the rule.
"""

from __future__ import annotations

import re

import msgspec
from msgspec import UNSET, UnsetType

from backend.catalog.schema import Model, ModelOptions, PriceStatus, Provider, ProviderDraft
from backend.wording import plural

FREE_WORD = re.compile(r"\bfree\b", re.IGNORECASE)


class CatwalkModel(msgspec.Struct, frozen=True, kw_only=True):
    """A model as Catwalk writes it; missing numbers and flags read as 0 and false.

    `price_status` is not Catwalk's: Switchboard adds it on export (Catwalk ignores it), and
    its presence marks data whose cached prices already follow the documented meaning.
    """

    id: str
    name: str
    cost_per_1m_in: float = 0.0
    cost_per_1m_out: float = 0.0
    cost_per_1m_in_cached: float = 0.0
    cost_per_1m_out_cached: float = 0.0
    context_window: int = 0
    default_max_tokens: int = 0
    can_reason: bool = False
    reasoning_levels: list[str] | UnsetType = UNSET
    default_reasoning_effort: str | UnsetType = UNSET
    supports_attachments: bool = False
    options: ModelOptions | UnsetType = UNSET
    price_status: PriceStatus | UnsetType = UNSET


class CatwalkProvider(msgspec.Struct, frozen=True, kw_only=True):
    """A provider as Catwalk writes it (one file, or one item of `/v2/providers`)."""

    id: str
    name: str
    type: str = ""
    api_key: str | UnsetType = UNSET
    api_endpoint: str = ""
    default_large_model_id: str = ""
    default_small_model_id: str = ""
    default_headers: dict[str, str] | UnsetType = UNSET
    models: list[CatwalkModel] = []


CatwalkInput = CatwalkProvider | list[CatwalkProvider]


class CachePrices(msgspec.Struct, frozen=True):
    """Cache write and read prices, and whether they were moved from where upstream put them."""

    write: float
    read: float
    moved: bool


def read_cache_prices(price_in: float, in_cached: float, out_cached: float) -> CachePrices:
    """Decide which upstream cached price is the write and which the read price.

    A cache read always costs less than a cache write and less than uncached input, so:
    two different values: the larger is the write price, the smaller the read price;
    one value (or the same value twice) in `cost_per_1m_in_cached` below the input price:
    it is a read price and the write price is unknown (0); otherwise: as documented.
    """
    documented = CachePrices(write=in_cached, read=out_cached, moved=False)
    if in_cached > 0 and out_cached > 0 and in_cached != out_cached:
        write, read = max(in_cached, out_cached), min(in_cached, out_cached)
        return CachePrices(write=write, read=read, moved=write != in_cached)
    if in_cached > 0 and out_cached in (0, in_cached) and price_in > 0 and in_cached < price_in:
        return CachePrices(write=0.0, read=in_cached, moved=True)
    return documented


def read_price_status(model: CatwalkModel) -> PriceStatus:
    """Both prices 0 means unknown, unless the id or name says the model is free."""
    if model.price_status is not UNSET:
        return model.price_status
    if model.cost_per_1m_in or model.cost_per_1m_out:
        return "known"
    return "free" if FREE_WORD.search(f"{model.id} {model.name}") else "unknown"


def model_from_catwalk(model: CatwalkModel) -> tuple[Model, bool]:
    """Our model from a Catwalk model, and whether its cached prices were moved."""
    if model.price_status is UNSET:
        cache = read_cache_prices(
            model.cost_per_1m_in, model.cost_per_1m_in_cached, model.cost_per_1m_out_cached
        )
    else:
        cache = CachePrices(model.cost_per_1m_in_cached, model.cost_per_1m_out_cached, False)
    converted = Model(
        id=model.id,
        name=model.name,
        cost_per_1m_in=model.cost_per_1m_in,
        cost_per_1m_out=model.cost_per_1m_out,
        cost_per_1m_cache_write=cache.write,
        cost_per_1m_cache_read=cache.read,
        price_status=read_price_status(model),
        context_window=model.context_window,
        default_max_tokens=model.default_max_tokens,
        can_reason=model.can_reason,
        reasoning_levels=model.reasoning_levels or [],
        default_reasoning_effort=model.default_reasoning_effort or None,
        supports_attachments=model.supports_attachments,
        options=model.options or None,
    )
    return converted, cache.moved


def draft_from_catwalk(provider: CatwalkProvider) -> tuple[ProviderDraft, list[str]]:
    """Our draft from a Catwalk provider, with notes on what the conversion changed."""
    converted = [model_from_catwalk(model) for model in provider.models]
    moved = [model.id for model, was_moved in converted if was_moved]
    notes = [cache_note(moved)] if moved else []
    draft = ProviderDraft(
        name=provider.name,
        type=provider.type,
        api_endpoint=provider.api_endpoint,
        api_key=None if provider.api_key is UNSET else provider.api_key,
        default_large_model_id=provider.default_large_model_id,
        default_small_model_id=provider.default_small_model_id,
        default_headers=provider.default_headers or {},
        models=[model for model, _ in converted],
    )
    return draft, notes


def cache_note(model_ids: list[str]) -> str:
    more = len(model_ids) - 5
    shown = ", ".join(model_ids[:5]) + (f" and {more} more" if more > 0 else "")
    return (
        f"upstream cost_per_1m_in_cached held a cache-read price for {plural(len(model_ids), 'model')} "
        f"({shown}); recorded as cost_per_1m_cache_read"
    )


def shared_prefix(a: str, b: str) -> int:
    length = 0
    for left, right in zip(a.lower(), b.lower()):
        if left != right:
            break
        length += 1
    return length


def stand_in_model(wanted: str, models: list[Model], large: bool) -> str:
    """A model to use for a missing default: the id sharing the longest prefix (3+ characters),
    else the priciest (large) or cheapest (small) model by input price."""
    best = max(models, key=lambda model: shared_prefix(wanted, model.id))
    if shared_prefix(wanted, best.id) >= 3:
        return best.id
    priced = [model for model in models if model.price_status != "unknown"] or models
    pick = max if large else min
    return pick(priced, key=lambda model: model.cost_per_1m_in).id


def repair_defaults(draft: ProviderDraft) -> tuple[ProviderDraft, list[str]]:
    """Upstream data only: replace a default model id that is not among the models, with a note."""
    if not draft.models:
        return draft, []
    ids = {model.id for model in draft.models}
    notes: list[str] = []
    chosen: dict[str, str] = {}
    for field, large in (("default_large_model_id", True), ("default_small_model_id", False)):
        wanted: str = getattr(draft, field)
        if wanted not in ids:
            chosen[field] = stand_in_model(wanted, draft.models, large)
            notes.append(
                f"upstream {field} {wanted!r} is not among the models; using {chosen[field]!r}"
            )
    return msgspec.structs.replace(draft, **chosen), notes


def upstream_provider(provider: CatwalkProvider, source: str, as_of: str) -> Provider:
    """A provider from upstream Catwalk data (seed build, refresh): converted and repaired."""
    draft, notes = draft_from_catwalk(provider)
    draft, repairs = repair_defaults(draft)
    return Provider(
        id=provider.id,
        source=source,
        as_of=as_of,
        notes=notes + repairs,
        **msgspec.structs.asdict(draft),
    )


def to_catwalk(provider: Provider) -> CatwalkProvider:
    """Catwalk-format data for a provider, prices in their documented fields, plus `price_status`."""
    return CatwalkProvider(
        id=provider.id,
        name=provider.name,
        type=provider.type,
        api_key=UNSET if provider.api_key is None else provider.api_key,
        api_endpoint=provider.api_endpoint,
        default_large_model_id=provider.default_large_model_id,
        default_small_model_id=provider.default_small_model_id,
        default_headers=provider.default_headers or UNSET,
        models=[model_to_catwalk(model) for model in provider.models],
    )


def model_to_catwalk(model: Model) -> CatwalkModel:
    return CatwalkModel(
        id=model.id,
        name=model.name,
        cost_per_1m_in=model.cost_per_1m_in,
        cost_per_1m_out=model.cost_per_1m_out,
        cost_per_1m_in_cached=model.cost_per_1m_cache_write,
        cost_per_1m_out_cached=model.cost_per_1m_cache_read,
        context_window=model.context_window,
        default_max_tokens=model.default_max_tokens,
        can_reason=model.can_reason,
        reasoning_levels=model.reasoning_levels or UNSET,
        default_reasoning_effort=model.default_reasoning_effort or UNSET,
        supports_attachments=model.supports_attachments,
        options=model.options or UNSET,
        price_status=model.price_status,
    )


def encode_catwalk(provider: Provider) -> bytes:
    """Pretty Catwalk JSON for one provider; absent optional fields are left out."""
    return msgspec.json.format(msgspec.json.encode(to_catwalk(provider)), indent=2) + b"\n"
