"""The Catalog page: provider cards, a search with filters over every model, and a side-by-side compare."""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx

from frontend import catalog_api
from frontend.api import Problem, Query
from frontend.auth import client_for, for_admins
from frontend.layout import page_frame
from frontend.live import react_to
from frontend.money import dollars, price, price_range, tokens

PAGE_SIZE = 50
COMPARE_MAX = 4
SORTS = (("Name", "name"), ("Input $", "price_in"), ("Output $", "price_out"), ("Context", "context"))


@dataclass
class CardRow:
    id: str
    name: str
    type: str
    models: str
    prices: str
    badge: str


@dataclass
class ModelRow:
    key: str
    provider_id: str
    provider: str
    id: str
    name: str
    price_in: str
    price_out: str
    cache_read: str
    cache_write: str
    context: str
    max_tokens: str
    reasoning: str
    attachments: str


def _badge(card: catalog_api.ProviderCard) -> str:
    return "overridden" if card.overridden else "custom" if card.custom else ""


def card_row(card: catalog_api.ProviderCard) -> CardRow:
    models = f"{card.model_count} models"
    return CardRow(card.id, card.name, card.type, models, price_range(card), _badge(card))


def model_row(provider_id: str, provider_name: str, model: catalog_api.ModelInfo) -> ModelRow:
    reasoning = ", ".join(model.reasoning_levels) or ("on/off" if model.can_reason else "no")
    return ModelRow(
        key=f"{provider_id}/{model.id}",
        provider_id=provider_id,
        provider=provider_name,
        id=model.id,
        name=model.name,
        price_in=price(model, model.cost_per_1m_in),
        price_out=price(model, model.cost_per_1m_out),
        cache_read=dollars(model.cost_per_1m_cache_read) if model.cost_per_1m_cache_read else "—",
        cache_write=dollars(model.cost_per_1m_cache_write) if model.cost_per_1m_cache_write else "—",
        context=tokens(model.context_window),
        max_tokens=tokens(model.default_max_tokens),
        reasoning=reasoning,
        attachments="yes" if model.supports_attachments else "no",
    )


def _number(text: str) -> float | None:
    try:
        return float(text) if text.strip() else None
    except ValueError:
        return None


class CatalogState(rx.State):
    cards: list[CardRow] = []
    model_count: int = 0
    warnings: list[str] = []
    q: str = ""
    provider: str = ""
    min_context: str = ""
    max_price_in: str = ""
    max_price_out: str = ""
    can_reason: bool = False
    attachments: bool = False
    sort: str = "name"
    total: int = 0
    results: list[ModelRow] = []
    compare: list[ModelRow] = []
    error: str = ""

    def _query(self) -> Query:
        query: Query = {"limit": PAGE_SIZE, "sort": self.sort}
        if self.q.strip():
            query["q"] = self.q.strip()
        if self.provider:
            query["provider"] = self.provider
        if self.can_reason:
            query["can_reason"] = "true"
        if self.attachments:
            query["supports_attachments"] = "true"
        for name, text in (("min_context", self.min_context), ("max_price_in", self.max_price_in), ("max_price_out", self.max_price_out)):
            value = _number(text)
            if value is not None:
                query[name] = int(value) if name == "min_context" else value
        return query

    @rx.event
    async def load(self) -> None:
        try:
            listing = await catalog_api.providers(client_for(self))
        except (Problem, OSError) as exc:
            self.error = f"Could not load the catalog: {exc}"
            return
        self.cards = [card_row(card) for card in listing.providers]
        self.model_count = listing.model_count
        self.warnings = listing.warnings
        await self.search()

    @rx.event
    async def search(self) -> None:
        try:
            page = await catalog_api.search(client_for(self), self._query())
        except Problem as exc:
            self.error = "; ".join(f"{k}: {v}" for k, v in exc.fields.items()) or exc.message
            return
        self.error = ""
        self.total = page.total
        self.results = [model_row(h.provider_id, h.provider_name, h.model) for h in page.items]

    @rx.event
    async def set_text(self, name: str, value: str) -> None:
        setattr(self, name, value)
        await self.search()

    @rx.event
    async def set_flag(self, name: str, value: bool) -> None:
        setattr(self, name, value)
        await self.search()

    @rx.event
    async def sort_by(self, key: str) -> None:
        self.sort = f"-{key}" if self.sort == key else key
        await self.search()

    @rx.event
    def toggle_compare(self, key: str) -> None:
        if any(row.key == key for row in self.compare):
            self.compare = [row for row in self.compare if row.key != key]
            return
        row = next((r for r in self.results if r.key == key), None)
        if row is not None and len(self.compare) < COMPARE_MAX:
            self.compare = [*self.compare, row]

    @rx.var
    def compare_keys(self) -> list[str]:
        return [row.key for row in self.compare]


react_to(("Custom", "CatalogRefreshed"), CatalogState.load)


def _provider_card(card: CardRow) -> rx.Component:
    return rx.link(
        rx.card(
            rx.flex(
                rx.text(card.name, weight="bold"),
                rx.badge(card.type, variant="surface"),
                rx.cond(card.badge != "", rx.badge(card.badge, color_scheme="orange")),
                spacing="2",
                wrap="wrap",
            ),
            rx.text(card.models, size="2"),
            rx.text(card.prices, size="1", color_scheme="gray"),
            class_name="provider-card",
            data_provider=card.id,
        ),
        href="/catalog/provider?id=" + card.id,
        underline="none",
    )


def _filters() -> rx.Component:
    def number(name: str, label: str, value: rx.Var[str]) -> rx.Component:
        return rx.input(
            placeholder=label, value=value, id=f"filter-{name}", width="9em",
            on_change=lambda v: CatalogState.set_text(name, v),
        )

    def switch(name: str, label: str, value: rx.Var[bool]) -> rx.Component:
        return rx.text(
            rx.flex(
                rx.switch(checked=value, id=f"filter-{name}", on_change=lambda v: CatalogState.set_flag(name, v)),
                label, spacing="2",
            ),
            as_="label", size="2",
        )

    return rx.flex(
        rx.input(
            placeholder="Search models by id or name", value=CatalogState.q, id="model-search", width="22em",
            on_change=lambda v: CatalogState.set_text("q", v),
        ),
        number("min_context", "min context", CatalogState.min_context),
        number("max_price_in", "max $ in /1M", CatalogState.max_price_in),
        number("max_price_out", "max $ out /1M", CatalogState.max_price_out),
        switch("can_reason", "reasoning", CatalogState.can_reason),
        switch("attachments", "attachments", CatalogState.attachments),
        spacing="3", wrap="wrap", align="center",
    )


def _sort_header(label: str, key: str) -> rx.Component:
    arrow = rx.cond(CatalogState.sort == key, " ↑", rx.cond(CatalogState.sort == "-" + key, " ↓", ""))
    return rx.table.column_header_cell(
        rx.button(label, arrow, variant="ghost", size="1", id=f"sort-{key}", on_click=CatalogState.sort_by(key))
    )


def _result_row(row: ModelRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.checkbox(
                checked=CatalogState.compare_keys.contains(row.key),
                on_change=lambda _: CatalogState.toggle_compare(row.key),
                aria_label="compare " + row.key,
            )
        ),
        rx.table.cell(rx.text(row.name, weight="medium", class_name="model-name"), rx.code(row.id, size="1", variant="ghost")),
        rx.table.cell(row.provider),
        rx.table.cell(row.price_in),
        rx.table.cell(row.price_out),
        rx.table.cell(row.context),
        rx.table.cell(row.reasoning),
        rx.table.cell(row.attachments),
        class_name="model-row",
    )


def _results() -> rx.Component:
    return rx.box(
        rx.text(CatalogState.total, " models match", id="match-count", size="2", color_scheme="gray"),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Compare"),
                    _sort_header("Name", "name"),
                    rx.table.column_header_cell("Provider"),
                    _sort_header("Input $/1M", "price_in"),
                    _sort_header("Output $/1M", "price_out"),
                    _sort_header("Context", "context"),
                    rx.table.column_header_cell("Reasoning"),
                    rx.table.column_header_cell("Images"),
                )
            ),
            rx.table.body(rx.foreach(CatalogState.results, _result_row), id="model-results"),
            width="100%",
        ),
    )


COMPARED = (
    ("Provider", "provider"), ("Input $/1M", "price_in"), ("Output $/1M", "price_out"),
    ("Cache read $/1M", "cache_read"), ("Cache write $/1M", "cache_write"), ("Context window", "context"),
    ("Default max tokens", "max_tokens"), ("Reasoning levels", "reasoning"), ("Attachments", "attachments"),
)


def _compare() -> rx.Component:
    def line(label: str, field: str) -> rx.Component:
        return rx.table.row(
            rx.table.row_header_cell(label),
            rx.foreach(CatalogState.compare, lambda row: rx.table.cell(getattr(row, field))),
        )

    return rx.cond(
        CatalogState.compare.length() > 0,
        rx.card(
            rx.heading("Compare", size="4"),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell(""),
                        rx.foreach(
                            CatalogState.compare,
                            lambda row: rx.table.column_header_cell(
                                row.name,
                                rx.button("×", size="1", variant="ghost", on_click=CatalogState.toggle_compare(row.key)),
                            ),
                        ),
                    )
                ),
                rx.table.body(*(line(label, field) for label, field in COMPARED)),
                id="compare-table",
            ),
            margin_y="16px",
        ),
    )


def catalog_page() -> rx.Component:
    return page_frame(
        "Catalog",
        rx.flex(
            rx.text(CatalogState.cards.length(), " providers · ", CatalogState.model_count, " models", color_scheme="gray"),
            for_admins(rx.link(rx.button("New custom provider", id="new-provider"), href="/catalog/edit")),
            justify="between", align="center",
        ),
        rx.foreach(CatalogState.warnings, lambda w: rx.callout(w, color_scheme="amber", margin_top="8px")),
        rx.heading("Models", size="5", margin_top="16px", margin_bottom="8px"),
        _filters(),
        rx.cond(CatalogState.error != "", rx.callout(CatalogState.error, color_scheme="red", margin_top="8px")),
        _compare(),
        _results(),
        rx.heading("Providers", size="5", margin_top="32px", margin_bottom="8px"),
        rx.grid(rx.foreach(CatalogState.cards, _provider_card), columns="4", spacing="3", id="provider-cards"),
    )
