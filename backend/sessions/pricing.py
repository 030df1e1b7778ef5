"""The prices in force for a model (catalog, custom overrides included) and the cost of a turn's tokens."""

from __future__ import annotations

from typing import NamedTuple

from backend.catalog.schema import Model, PriceStatus
from backend.catalog.service import CatalogService
from backend.sessions.events import Prices

UNKNOWN = Prices(input=None, output=None, cache_read=None, cache_write=None)


class PriceInForce(NamedTuple):
    prices: Prices
    status: PriceStatus


class Tokens(NamedTuple):
    input: int
    output: int
    cache_read: int
    cache_write: int


def catalog_model(catalog: CatalogService, provider_id: str, model_id: str) -> Model | None:
    provider = catalog.provider(provider_id)
    if provider is None:
        return None
    return next((model for model in provider.models if model.id == model_id), None)


def price_in_force(catalog: CatalogService, provider_id: str, model_id: str) -> PriceInForce:
    """The catalog's four prices for the model now; a model the catalog lacks has an unknown price."""
    model = catalog_model(catalog, provider_id, model_id)
    if model is None or model.price_status == "unknown":
        return PriceInForce(UNKNOWN, "unknown")
    prices = Prices(
        input=model.cost_per_1m_in,
        output=model.cost_per_1m_out,
        cache_read=model.cost_per_1m_cache_read,
        cache_write=model.cost_per_1m_cache_write,
    )
    return PriceInForce(prices, model.price_status)


def cost_of(tokens: Tokens, price: PriceInForce) -> float | None:
    """USD for the tokens at these prices: None when the price is unknown (never 0), 0 when free."""
    prices = price.prices
    if price.status == "unknown":
        return None
    if price.status == "free":
        return 0.0
    parts = (
        (tokens.input, prices.input),
        (tokens.output, prices.output),
        (tokens.cache_read, prices.cache_read),
        (tokens.cache_write, prices.cache_write),
    )
    return round(sum(count * (per_million or 0.0) for count, per_million in parts) / 1_000_000, 10)
