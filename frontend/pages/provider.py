"""A provider's page: all its models, export, and for custom providers the way to edit or remove them."""

from __future__ import annotations

import reflex as rx

from frontend import catalog_api
from frontend.api import Problem
from frontend.auth import AuthState, client_for, for_admins
from frontend.layout import page_frame
from frontend.live import react_to
from frontend.pages.catalog import ModelRow, model_row
from frontend.words import default_endpoint_words, plural


class ProviderState(rx.State):
    provider_id: str = ""
    found: bool = False
    missing: str = ""  # what to say when there is no such provider
    name: str = ""
    type: str = ""
    endpoint: str = ""
    source: str = ""
    model_count: str = ""
    custom: bool = False
    overridden: bool = False
    shipped: bool = False
    models: list[ModelRow] = []
    error: str = ""

    @rx.event
    async def load(self) -> None:
        """Show the provider the address names; nothing of the one shown before survives a miss."""
        self.reset()
        self.provider_id = self.router.url.query_parameters.get("id", "")
        if not self.provider_id:
            self.missing = "No provider chosen: pick one in the Catalog."
            return
        try:
            provider = await catalog_api.provider(client_for(self), self.provider_id)
        except Problem as exc:
            missing = f"There is no provider “{self.provider_id}” in the catalog."
            self.missing = missing if exc.status == 404 else exc.message
            return
        self.found = True
        self.name, self.type = provider.name, provider.type
        self.endpoint = default_endpoint_words(provider.resolved_endpoint or f"not set ({provider.api_endpoint})")
        self.source = f"{provider.source} (as of {provider.as_of})" if provider.as_of else provider.source
        self.custom, self.overridden, self.shipped = provider.custom, provider.overridden, provider.shipped
        self.model_count = plural(len(provider.models), "model")
        self.models = [model_row(provider.id, provider.name, m) for m in provider.models]

    @rx.event
    def export(self) -> rx.event.EventSpec:
        return rx.download(url=catalog_api.export_url(self.provider_id), filename=f"{self.provider_id}.json")

    @rx.event
    async def remove(self) -> rx.event.EventSpec | None:
        try:
            await catalog_api.delete_custom(client_for(self), self.provider_id)
        except Problem as exc:
            self.error = exc.message
            return None
        if self.shipped:
            await self.load()
            return None
        return rx.redirect("/catalog")


react_to(("Custom", "CatalogRefreshed"), ProviderState.load)


MODEL_COLUMNS = (
    "Model", "Input $/1M", "Output $/1M", "Cache read", "Cache write", "Context", "Max tokens", "Reasoning", "Images",
)


def _model_line(row: ModelRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.text(row.name, weight="medium"), rx.code(row.id, size="1", variant="ghost", white_space="nowrap"),
            min_width="12em",
        ),
        rx.table.cell(row.price_in, white_space="nowrap"),
        rx.table.cell(row.price_out, white_space="nowrap"),
        rx.table.cell(row.cache_read),
        rx.table.cell(row.cache_write),
        rx.table.cell(row.context),
        rx.table.cell(row.max_tokens),
        rx.table.cell(row.reasoning),
        rx.table.cell(row.attachments),
    )


def _actions() -> rx.Component:
    remove_label = rx.cond(ProviderState.overridden, "Remove override", "Delete provider")
    return rx.flex(
        rx.button("Export JSON", variant="soft", id="export-provider", on_click=ProviderState.export),
        for_admins(
            rx.link(
                rx.button(rx.cond(ProviderState.custom, "Edit", "Override"), variant="soft", id="edit-provider"),
                href="/catalog/edit?id=" + ProviderState.provider_id,
            ),
        ),
        rx.cond(
            ProviderState.custom & AuthState.can_admin,
            rx.alert_dialog.root(
                rx.alert_dialog.trigger(rx.button(remove_label, color_scheme="red", variant="soft", id="remove-provider")),
                rx.alert_dialog.content(
                    rx.alert_dialog.title(remove_label),
                    rx.alert_dialog.description("This is recorded in the log; the shipped provider, if any, shows again."),
                    rx.flex(
                        rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                        rx.alert_dialog.action(rx.button("Confirm", color_scheme="red", on_click=ProviderState.remove, id="confirm-remove")),
                        spacing="3", justify="end",
                    ),
                ),
            ),
        ),
        spacing="3", wrap="wrap",
    )


def _not_found() -> rx.Component:
    return rx.box(
        rx.callout(ProviderState.missing, icon="search-x", color_scheme="amber", id="provider-not-found"),
        rx.link(
            "Back to the Catalog", href="/catalog", id="back-to-catalog", display="inline-block", margin_top="16px",
        ),
    )


def _provider() -> rx.Component:
    return rx.box(
        rx.flex(
            rx.heading(ProviderState.name, size="6", id="provider-name"),
            rx.badge(ProviderState.type, variant="surface"),
            rx.cond(ProviderState.overridden, rx.badge("overridden", color_scheme="orange")),
            rx.cond(ProviderState.custom & ~ProviderState.overridden, rx.badge("custom", color_scheme="orange")),
            spacing="3", align="center", wrap="wrap",
        ),
        rx.text(rx.code(ProviderState.provider_id), " · ", ProviderState.model_count, size="2", color_scheme="gray"),
        rx.text(
            ProviderState.endpoint, size="2", color_scheme="gray", id="provider-endpoint", overflow_wrap="anywhere",
        ),
        rx.text(ProviderState.source, size="2", color_scheme="gray", overflow_wrap="anywhere"),
        rx.cond(ProviderState.error != "", rx.callout(ProviderState.error, color_scheme="red", margin_top="8px")),
        rx.box(_actions(), margin_y="16px"),
        rx.box(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *(rx.table.column_header_cell(h) for h in MODEL_COLUMNS)
                    )
                ),
                rx.table.body(rx.foreach(ProviderState.models, _model_line), id="provider-models"),
                width="100%",
            ),
            overflow_x="auto", max_width="100%", class_name="table-scroll",
        ),
    )


def provider_page() -> rx.Component:
    return page_frame(
        "Provider",
        rx.cond(ProviderState.found, _provider(), rx.cond(ProviderState.missing != "", _not_found())),
    )
