"""The Instances page's dialogs: add or edit, rotate key, delete and models."""

from __future__ import annotations

import reflex as rx

from frontend.auth import for_admins
from frontend.forms import error_callout, text_field
from frontend.pages.instance_dialog_states import (
    DeleteState,
    DialogState,
    InstanceFormState,
    ModelRow,
    ModelsState,
    ProviderChoice,
    RotateState,
)
from frontend.words import code_badge


def dialog(
    state: type[DialogState],
    title: rx.Var[str] | str,
    description: rx.Var[str] | str,
    *body: rx.Component,
    width: str = "480px",
) -> rx.Component:
    """A dialog opened and closed through `state.is_open`, with its refusal shown under the description."""
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(title),
            rx.dialog.description(description, size="2", color_scheme="gray"),
            error_callout(state.general_error),
            *body,
            width="100%",
            max_width=f"min({width}, calc(100vw - 2 * var(--space-4)))",  # never wider than a phone's screen
        ),
        open=state.is_open,
        on_open_change=state.show,
    )


def dialog_buttons(*confirm: rx.Component, close_label: str = "Cancel") -> rx.Component:
    return rx.flex(
        rx.dialog.close(rx.button(close_label, variant="soft", color_scheme="gray", type="button")),
        *confirm,
        spacing="3",
        justify="end",
        margin_top="var(--space-4)",
    )


def _provider_choice(provider: ProviderChoice) -> rx.Component:
    return rx.button(
        rx.flex(
            rx.text(provider.name, weight="medium"),
            rx.text(provider.type, " · ", provider.models, size="1", color_scheme="gray"),
            direction="column",
            align="start",
            width="100%",
        ),
        on_click=InstanceFormState.choose(provider.id),
        variant="surface",
        color_scheme="gray",
        height="auto",
        padding="var(--space-2)",
        justify="start",
        class_name="provider-choice",
        type="button",
    )


def _provider_step() -> rx.Component:
    return rx.flex(
        rx.input(
            placeholder="Search providers",
            value=InstanceFormState.query,
            on_change=InstanceFormState.search,
            id="provider-search",
            custom_attrs={"aria-label": "Search providers"},
        ),
        rx.scroll_area(
            rx.grid(
                rx.foreach(InstanceFormState.shown_providers, _provider_choice),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="2",
            ),
            max_height="360px",
            type="auto",
        ),
        dialog_buttons(),
        direction="column",
        spacing="3",
        margin_top="var(--space-3)",
    )


def _key_again() -> rx.Component:
    """The endpoint now points at another host: give the key again, or keep the stored key for it."""
    return rx.flex(
        rx.text(
            "The new endpoint sends requests to another host than the key was confirmed for (",
            rx.code(InstanceFormState.key_origin),
            "). Give the key again, or keep the stored key for the new endpoint.",
            size="2",
        ),
        text_field(
            "API key for the new endpoint", "instance-key-again", "api_key", InstanceFormState.errors["api_key"],
            type="password", auto_complete="off",
        ),
        rx.el.label(
            rx.flex(
                rx.checkbox(name="keep_credential", id="instance-keep-credential"),
                rx.text("Keep the key for the new endpoint", size="2"),
                spacing="2",
                align="center",
            ),
        ),
        direction="column",
        spacing="2",
        class_name="key-again",
    )


def _settings_step() -> rx.Component:
    errors = InstanceFormState.errors
    key_field = text_field(
        "API key", "instance-key", "api_key", errors["api_key"], type="password", auto_complete="off"
    )
    return rx.form(
        rx.flex(
            rx.cond(
                InstanceFormState.editing_id == "",
                rx.text("Provider: ", rx.text.strong(InstanceFormState.provider_name), size="2"),
            ),
            text_field("Name", "instance-name", "name", errors["name"], default_value=InstanceFormState.name),
            text_field(
                "Endpoint", "instance-endpoint", "endpoint", errors["endpoint"],
                default_value=InstanceFormState.endpoint, placeholder=InstanceFormState.endpoint_placeholder,
                on_change=InstanceFormState.type_endpoint,
            ),
            text_field(
                "Timeout (ms)", "instance-timeout", "timeout_ms", errors["timeout_ms"],
                default_value=InstanceFormState.timeout_ms, input_mode="numeric",
            ),
            rx.cond(InstanceFormState.asks_key, key_field),
            rx.cond(InstanceFormState.asks_key_again, _key_again()),
            rx.flex(
                rx.cond(
                    InstanceFormState.editing_id == "",
                    rx.button("Back", variant="ghost", type="button", on_click=InstanceFormState.back),
                ),
                dialog_buttons(rx.button("Save", type="submit", loading=InstanceFormState.saving)),
                justify="between",
                align="end",
            ),
            direction="column",
            spacing="3",
            margin_top="var(--space-3)",
        ),
        on_submit=InstanceFormState.save,
    )


def instance_form_dialog() -> rx.Component:
    adding = InstanceFormState.editing_id == ""
    title = rx.cond(adding, "Add instance", "Edit instance")
    description = rx.cond(
        adding,
        rx.cond(
            InstanceFormState.step == 1,
            "Step 1 of 2: pick a provider from the catalog.",
            "Step 2 of 2: name the connection and give its key.",
        ),
        "Change the connection's settings; its key is changed with Rotate key.",
    )
    body = rx.cond(InstanceFormState.step == 1, _provider_step(), _settings_step())
    return dialog(InstanceFormState, title, description, body, width="560px")


def rotate_dialog() -> rx.Component:
    form = rx.form(
        rx.flex(
            rx.text(
                "Current key ends in ", rx.code(rx.cond(RotateState.last4, RotateState.last4, "(none)")), size="2"
            ),
            text_field(
                "New API key", "rotate-key", "api_key", RotateState.errors["api_key"],
                type="password", auto_complete="off",
            ),
            rx.el.label(
                rx.flex(
                    rx.checkbox(name="verify", default_checked=True, id="rotate-verify"),
                    rx.text("Verify the new key with the provider first; keep the old key if it fails", size="2"),
                    spacing="2",
                    align="center",
                ),
            ),
            dialog_buttons(rx.button("Save key", type="submit", loading=RotateState.saving)),
            direction="column",
            spacing="3",
            margin_top="var(--space-3)",
        ),
        on_submit=RotateState.save,
    )
    setting = RotateState.last4 == ""
    title = rx.cond(setting, "Set key · ", "Rotate key · ") + RotateState.instance_name
    description = rx.cond(setting, "The key is stored encrypted; only its last four characters are shown.",
                          "The new key replaces the stored one.")
    return dialog(RotateState, title, description, form)


def delete_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete instance"),
            rx.alert_dialog.description(
                "Delete ", rx.text.strong(DeleteState.instance_name), " and destroy its stored key? ",
                "Its history stays in the log.",
            ),
            error_callout(DeleteState.general_error),
            rx.flex(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.button("Delete", color_scheme="red", on_click=DeleteState.confirm),
                spacing="3",
                justify="end",
                margin_top="var(--space-4)",
            ),
            max_width="min(440px, calc(100vw - 2 * var(--space-4)))",
        ),
        open=DeleteState.is_open,
        on_open_change=DeleteState.show,
    )


def scrolling_table(*children: rx.Component, table_id: str) -> rx.Component:
    """A table that scrolls inside its own box, both ways, so a narrow screen never scrolls the page."""
    table = rx.table.root(*children, size="1", width="100%", id=table_id)
    return rx.box(table, max_height="60vh", overflow="auto", margin_top="var(--space-3)", class_name="table-box")


def _model_row(row: ModelRow) -> rx.Component:
    add = rx.button("Add to catalog", size="1", variant="soft", on_click=ModelsState.add(row.id))
    return rx.table.row(
        rx.table.cell(rx.code(row.id, variant="ghost")),
        rx.table.cell(row.name),
        rx.table.cell(code_badge(row.availability, class_name="model-availability")),
        rx.table.cell(rx.cond(row.availability == "not_in_catalog", for_admins(add))),
        class_name="model-row",
    )


def models_dialog() -> rx.Component:
    note = rx.cond(
        ModelsState.tested,
        "The catalog's models compared with what the endpoint listed at its last successful test.",
        "Not tested yet: test the instance to see which models its endpoint offers.",
    )
    body = scrolling_table(
        rx.table.header(rx.table.row(*(rx.table.column_header_cell(c) for c in ("Model", "Name", "Availability", "")))),
        rx.table.body(rx.foreach(ModelsState.rows, _model_row), id="model-rows"),
        table_id="models-table",
    )
    title = "Models · " + ModelsState.instance_name
    return dialog(ModelsState, title, note, body, dialog_buttons(close_label="Close"), width="760px")
