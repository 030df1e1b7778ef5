"""How prices and sizes read on screen: "$2.50", "price unknown", "free", "128K"."""

from __future__ import annotations

from frontend.catalog_api import ModelInfo, ProviderCard


def dollars(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


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
