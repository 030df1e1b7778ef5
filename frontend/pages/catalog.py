"""The Catalog page: provider cards, a search with filters over every model, and a side-by-side compare."""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlencode

import reflex as rx

from frontend import catalog_api
from frontend.api import Problem, Query
from frontend.auth import client_for, for_admins
from frontend.forms import REQUEST_FAILURES, RequestFailure, describe_failure
from frontend.layout import page_frame, page_range, pager
from frontend.live import react_to
from frontend.money import dollars, price, price_range, tokens
from frontend.words import plural

ROUTE = "/catalog"
PAGE_SIZE = 50
COMPARE_MAX = 4
SORT_KEYS = ("name", "price_in", "price_out", "context")


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
    models = plural(card.model_count, "model")
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


NUMBER_FILTERS = (("min_context", "min context"), ("max_price_in", "max $ in /1M"), ("max_price_out", "max $ out /1M"))
TEXT_FILTERS = ("q", "provider", *(name for name, _ in NUMBER_FILTERS))
FLAG_FILTERS = ("can_reason", "attachments")


def _number(text: str) -> float | None:
    """A filter's number; None when the field is empty or holds no non-negative number."""
    try:
        value = float(text) if text.strip() else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) and value >= 0 else None


def _is_bad_number(text: str) -> bool:
    return bool(text.strip()) and _number(text) is None


def last_page(total: int) -> int:
    """The number of the last page of `total` models; 1 when there are none."""
    return max(1, math.ceil(total / PAGE_SIZE))


def _whole(text: str, fallback: int) -> int:
    """A positive whole number typed in the address, else `fallback` ("²" is a digit but no number)."""
    return int(text) if text.isdecimal() and int(text) > 0 else fallback


def _search_failure(failure: RequestFailure) -> str:
    """A refused search names the filters the API refused; anything else as other pages say it."""
    if isinstance(failure, Problem):
        return "; ".join(f"{field}: {message}" for field, message in failure.fields.items()) or failure.message
    return describe_failure(failure)


class CatalogState(rx.State):
    cards: list[CardRow] = []
    summary: str = ""
    warnings: list[str] = []
    q: str = ""
    provider: str = ""
    min_context: str = ""
    max_price_in: str = ""
    max_price_out: str = ""
    can_reason: bool = False
    attachments: bool = False
    sort: str = "name"
    page: int = 1
    total: int = -1  # -1 until the first answer
    results: list[ModelRow] = []
    compare: list[ModelRow] = []
    compare_note: str = ""
    error: str = ""
    _addressed: list[str] = []  # address queries this page put in the address bar, whose page loads are still due

    def _query(self) -> Query:
        query: Query = {"limit": PAGE_SIZE, "offset": (self.page - 1) * PAGE_SIZE, "sort": self.sort}
        if self.q.strip():
            query["q"] = self.q.strip()
        if self.provider:
            query["provider"] = self.provider
        if self.can_reason:
            query["can_reason"] = "true"
        if self.attachments:
            query["supports_attachments"] = "true"
        for name, _ in NUMBER_FILTERS:
            value = _number(getattr(self, name))
            if name != "min_context" and value is not None:
                query[name] = value  # a price limit of 0 asks for the free models
            elif value:  # min_context: a context of at least 0 limits nothing, so it is left out
                query[name] = int(value)
        return query

    def _address_query(self) -> str:
        """This view as an address query: filters, sort and page, so it can be shared and survives reload."""
        params: dict[str, str] = {name: getattr(self, name) for name in TEXT_FILTERS if getattr(self, name).strip()}
        params |= {name: "1" for name in FLAG_FILTERS if getattr(self, name)}
        if self.sort != "name":
            params["sort"] = self.sort
        if self.page > 1:
            params["page"] = str(self.page)
        return urlencode(params)

    def _shown_in_address(self) -> rx.event.EventSpec:
        """Put this view in the address bar (replacing the entry); the page load it causes fetches nothing."""
        query = self._address_query()
        self._addressed = [*self._addressed, query]
        return rx.redirect(ROUTE + (f"?{query}" if query else ""), replace=True)

    @rx.event
    async def load(self) -> rx.event.EventSpec | None:
        """Open the page: the view the address names (filters, sort, page), then the data."""
        query = self.router.url.query
        if query in self._addressed:  # put there by this page, which already shows that view (or a later one)
            self._addressed = self._addressed[self._addressed.index(query) + 1:]
            return
        self._addressed = []
        params = self.router.url.query_parameters
        for name in TEXT_FILTERS:
            setattr(self, name, params.get(name, ""))
        for name in FLAG_FILTERS:
            setattr(self, name, params.get(name, "") in ("1", "true"))
        wanted = params.get("sort", "name")
        self.sort = wanted if wanted.lstrip("-") in SORT_KEYS else "name"
        self.page = _whole(params.get("page", ""), 1)
        self.compare, self.compare_note = [], ""
        return await self.refresh()

    @rx.event
    async def refresh(self) -> rx.event.EventSpec | None:
        """Fetch the provider cards and the current page of models again (the catalog changed); a page that
        no longer exists becomes the last one, in the address too while the catalog is open."""
        try:
            listing = await catalog_api.providers(client_for(self))
        except REQUEST_FAILURES as failure:
            self.error = describe_failure(failure)
            return None
        self.cards = [card_row(card) for card in listing.providers]
        self.summary = f"{plural(len(listing.providers), 'provider')} · {plural(listing.model_count, 'model')}"
        self.warnings = listing.warnings
        moved = await self._search()
        return self._shown_in_address() if moved and self.router.url.path.rstrip("/") == ROUTE else None

    async def _search(self) -> bool:
        """Show the current page of models; past the end (an address, or a catalog that shrank) the last page.
        True when the page number changed."""
        client = client_for(self)
        try:
            found = await catalog_api.search(client, self._query())
            moved = self.page > last_page(found.total)
            if moved:
                self.page = last_page(found.total)
                found = await catalog_api.search(client, self._query())
        except REQUEST_FAILURES as failure:
            self.error = _search_failure(failure)
            return False
        self.error = ""
        self.total = found.total
        self.results = [model_row(h.provider_id, h.provider_name, h.model) for h in found.items]
        return moved

    async def _search_from_first_page(self) -> rx.event.EventSpec:
        self.page = 1
        await self._search()
        return self._shown_in_address()

    @rx.event
    async def set_text(self, name: str, value: str) -> rx.event.EventSpec | None:
        """A text filter typed in; the browser names the field, so only the filters are taken."""
        if name not in TEXT_FILTERS:
            return None
        setattr(self, name, value)
        return await self._search_from_first_page()

    @rx.event
    async def set_flag(self, name: str, value: bool) -> rx.event.EventSpec | None:
        if name not in FLAG_FILTERS:
            return None
        setattr(self, name, value)
        return await self._search_from_first_page()

    @rx.event
    async def sort_by(self, key: str) -> rx.event.EventSpec:
        self.sort = f"-{key}" if self.sort == key else key
        return await self._search_from_first_page()

    @rx.event
    async def clear_filters(self) -> rx.event.EventSpec:
        for name in TEXT_FILTERS:
            setattr(self, name, "")
        for name in FLAG_FILTERS:
            setattr(self, name, False)
        return await self._search_from_first_page()

    @rx.event
    async def previous_page(self) -> rx.event.EventSpec:
        return await self._turn_page(-1)

    @rx.event
    async def next_page(self) -> rx.event.EventSpec:
        return await self._turn_page(1)

    async def _turn_page(self, step: int) -> rx.event.EventSpec:
        self.page = max(1, self.page + step)
        await self._search()
        return self._shown_in_address()

    @rx.event
    def toggle_compare(self, key: str) -> None:
        self.compare_note = ""
        if any(row.key == key for row in self.compare):
            self.compare = [row for row in self.compare if row.key != key]
            return
        row = next((r for r in self.results if r.key == key), None)
        if row is None:
            return
        if len(self.compare) >= COMPARE_MAX:
            self.compare_note = f"You can compare up to {COMPARE_MAX} models: untick one to pick another."
            return
        self.compare = [*self.compare, row]

    @rx.var
    def compare_keys(self) -> list[str]:
        return [row.key for row in self.compare]

    @rx.var
    def match_words(self) -> str:
        return f"{plural(self.total, 'model')} {'matches' if self.total == 1 else 'match'}" if self.total >= 0 else ""

    @rx.var
    def range_words(self) -> str:
        return page_range((self.page - 1) * PAGE_SIZE, len(self.results), max(self.total, 0))

    @rx.var
    def has_next(self) -> bool:
        return self.page * PAGE_SIZE < self.total

    @rx.var
    def bad_filters(self) -> list[str]:
        """Number filters holding something that is not a non-negative number; they are not applied."""
        typed = {
            "min_context": self.min_context, "max_price_in": self.max_price_in, "max_price_out": self.max_price_out,
        }
        return [name for name, text in typed.items() if _is_bad_number(text)]


react_to(("Custom", "CatalogRefreshed"), CatalogState.refresh)


def _provider_card(card: CardRow) -> rx.Component:
    return rx.link(
        rx.card(
            rx.flex(
                rx.text(card.name, weight="bold", class_name="card-title"),
                rx.badge(card.type, variant="surface"),
                rx.cond(card.badge != "", rx.badge(card.badge, color_scheme="orange")),
                spacing="2",
                wrap="wrap",
            ),
            rx.text(card.models, size="2"),
            rx.text(card.prices, size="1", color_scheme="gray"),
            class_name="provider-card",
            data_provider=card.id,
            height="100%",
        ),
        href="/catalog/provider?id=" + card.id,
        underline="none",
        display="block",
        height="100%",
    )


def _filters() -> rx.Component:
    def number(name: str, label: str) -> rx.Component:
        bad = CatalogState.bad_filters.contains(name)
        return rx.box(
            rx.input(
                placeholder=label, value=getattr(CatalogState, name), id=f"filter-{name}", width="9em",
                color_scheme=rx.cond(bad, "red", "gray"), aria_invalid=rx.cond(bad, "true", "false"),
                class_name=rx.cond(bad, "filter-invalid", ""),
                on_change=lambda v: CatalogState.set_text(name, v),
            ),
            rx.cond(
                bad,
                rx.text("not a number: ignored", color_scheme="red", size="1", id=f"filter-{name}-error"),
            ),
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
            placeholder="Search models by id or name", value=CatalogState.q, id="model-search",
            width=rx.breakpoints(initial="100%", sm="22em"),
            on_change=lambda v: CatalogState.set_text("q", v),
        ),
        *(number(name, label) for name, label in NUMBER_FILTERS),
        switch("can_reason", "reasoning", CatalogState.can_reason),
        switch("attachments", "attachments", CatalogState.attachments),
        spacing="3", wrap="wrap", align="start",
    )


def _sort_header(label: str, key: str) -> rx.Component:
    """A column title that sorts: it reads as a header, with an arrow for the order it sorts in."""
    arrow = rx.cond(CatalogState.sort == key, "↑", rx.cond(CatalogState.sort == "-" + key, "↓", "↕"))
    descending = rx.cond(CatalogState.sort == "-" + key, "descending", "none")
    order = rx.cond(CatalogState.sort == key, "ascending", descending)
    return rx.table.column_header_cell(
        rx.el.button(
            label,
            rx.el.span(arrow, color=rx.cond(CatalogState.sort.contains(key), "var(--accent-11)", "var(--gray-8)")),
            id=f"sort-{key}", class_name="sort-header", on_click=CatalogState.sort_by(key),
            background="none", border="none", padding="0", font="inherit", color="inherit", cursor="pointer",
            display="inline-flex", gap="4px", white_space="nowrap",
        ),
        aria_sort=order,
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
        rx.table.cell(
            rx.text(row.name, weight="medium", class_name="model-name"),
            rx.code(row.id, size="1", variant="ghost", white_space="nowrap"),
            min_width="12em",
        ),
        rx.table.cell(row.provider),
        rx.table.cell(row.price_in, white_space="nowrap"),
        rx.table.cell(row.price_out, white_space="nowrap"),
        rx.table.cell(row.context),
        rx.table.cell(row.reasoning),
        rx.table.cell(row.attachments),
        class_name="model-row",
    )


def _pager() -> rx.Component:
    return rx.box(
        pager(
            CatalogState.range_words, CatalogState.page > 1, CatalogState.has_next,
            CatalogState.previous_page, CatalogState.next_page,
        ),
        margin_top="12px",
    )


def _no_match() -> rx.Component:
    return rx.callout(
        rx.flex(
            rx.text("No model matches these filters."),
            rx.button(
                "Clear filters", size="1", variant="soft", id="clear-filters", on_click=CatalogState.clear_filters,
            ),
            spacing="3", align="center", wrap="wrap",
        ),
        icon="search-x", id="no-match", margin_top="8px",
    )


def _results() -> rx.Component:
    return rx.box(
        rx.flex(
            rx.text(CatalogState.match_words, id="match-count", size="2", color_scheme="gray"),
            _compare_status(),
            justify="between", gap="var(--space-3)", min_height="24px", margin_y="8px",
        ),
        rx.cond(CatalogState.total == 0, _no_match()),
        rx.cond(
            CatalogState.total > 0,
            rx.box(
                rx.box(
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
                    overflow_x="auto", max_width="100%", class_name="table-scroll",
                ),
                _pager(),
            ),
        ),
    )


COMPARED = (
    ("Provider", "provider"), ("Input $/1M", "price_in"), ("Output $/1M", "price_out"),
    ("Cache read $/1M", "cache_read"), ("Cache write $/1M", "cache_write"), ("Context window", "context"),
    ("Default max tokens", "max_tokens"), ("Reasoning levels", "reasoning"), ("Attachments", "attachments"),
)


def _compare() -> rx.Component:
    """The picked models side by side, below the results, so ticking a row never moves it."""
    def line(label: str, field: str) -> rx.Component:
        return rx.table.row(
            rx.table.row_header_cell(label),
            rx.foreach(CatalogState.compare, lambda row: rx.table.cell(getattr(row, field))),
        )

    return rx.cond(
        CatalogState.compare.length() > 0,
        rx.card(
            rx.heading("Compare", size="4"),
            rx.box(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell(""),
                            rx.foreach(
                                CatalogState.compare,
                                lambda row: rx.table.column_header_cell(
                                    row.name,
                                    rx.button("×", size="1", variant="ghost", aria_label="stop comparing " + row.key,
                                              on_click=CatalogState.toggle_compare(row.key)),
                                ),
                            ),
                        )
                    ),
                    rx.table.body(*(line(label, field) for label, field in COMPARED)),
                    id="compare-table",
                ),
                overflow_x="auto", max_width="100%", class_name="table-scroll",
            ),
            margin_y="16px", id="compare",
        ),
    )


def _compare_status() -> rx.Component:
    """Beside the match count (a line that is always there, so rows never move): how many are picked, or the limit."""
    return rx.cond(
        CatalogState.compare_note != "",
        rx.text(CatalogState.compare_note, color_scheme="amber", size="2", weight="medium", id="compare-limit"),
        rx.cond(
            CatalogState.compare.length() > 0,
            rx.link(
                "Comparing ", CatalogState.compare.length(), " of ", COMPARE_MAX, ": see below",
                href="#compare", size="2", id="compare-status",
            ),
        ),
    )


def catalog_page() -> rx.Component:
    return page_frame(
        "Catalog",
        rx.flex(
            rx.text(CatalogState.summary, color_scheme="gray"),
            for_admins(rx.link(rx.button("New custom provider", id="new-provider"), href="/catalog/edit")),
            justify="between", align="center", wrap="wrap", gap="var(--space-3)",
        ),
        rx.foreach(CatalogState.warnings, lambda w: rx.callout(w, color_scheme="amber", margin_top="8px")),
        rx.heading("Models", size="5", margin_top="16px", margin_bottom="8px"),
        _filters(),
        rx.cond(CatalogState.error != "", rx.callout(CatalogState.error, color_scheme="red", margin_top="8px")),
        _results(),
        _compare(),
        rx.heading("Providers", size="5", margin_top="32px", margin_bottom="8px"),
        rx.grid(
            rx.foreach(CatalogState.cards, _provider_card),
            columns=rx.breakpoints(initial="1", sm="2", md="3", lg="4"), spacing="3", id="provider-cards",
        ),
    )
