"""How prices and sizes read on screen: "$2.50", "price unknown", "free", "128K"."""

from __future__ import annotations

import math

from frontend.catalog_api import ModelInfo, ProviderCard

COST_DIGITS = 2  # significant digits of a cost below a cent


def dollars(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def usd(value: float) -> str:
    """A cost: cents for a cent or more, else its first significant digits ($0.0000088), never rounded to $0."""
    if value >= 0.01 or value <= 0:
        return dollars(value)
    decimals = COST_DIGITS - 1 - math.floor(math.log10(value))
    return f"${value:.2f}" if round(value, decimals) >= 0.01 else f"${value:.{decimals}f}"


def price(model: ModelInfo, value: float) -> str:
    """A per-1M price, or what is known about it when the source gives none."""
    if model.price_status == "free":
        return "free"
    if model.price_status == "unknown":
        return "price unknown"
    return dollars(value)


def span(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "unknown"
    return dollars(low) if low == high else f"{dollars(low)}–{dollars(high)}"


def price_range(card: ProviderCard) -> str:
    return f"in {span(card.price_in_min, card.price_in_max)} · out {span(card.price_out_min, card.price_out_max)}"


def tokens(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1_000_000:.3g}M"
    if count >= 1_000:
        return f"{round(count / 1_000)}K"
    return str(count)
