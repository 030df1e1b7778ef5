"""The Instances page: one card per connection with its live status, and the actions on it."""

from __future__ import annotations

import reflex as rx

from frontend.auth import for_admins, for_operators
from frontend.forms import error_callout
from frontend.layout import page_frame
from frontend.pages.instance_dialog_states import (
    DeleteState,
    InstanceFormState,
    ModelsState,
    RotateState,
)
from frontend.pages.instance_dialogs import (
    delete_dialog,
    instance_form_dialog,
    models_dialog,
    rotate_dialog,
)
from frontend.pages.instances_state import InstanceCard, InstancesState
from frontend.words import code_badge, code_colour


def status_dot(status: rx.Var[str]) -> rx.Component:
    return rx.box(
        width="10px", height="10px", border_radius="50%", flex_shrink="0",
        background=f"var(--{code_colour(status)}-9)",
    )


def fact(label: str, value: rx.Var[str] | rx.Component, class_name: str) -> rx.Component:
    return rx.data_list.item(
        rx.data_list.label(label, min_width="88px"),
        rx.data_list.value(rx.text(value, class_name=class_name, overflow_wrap="anywhere")),
    )


def _header(card: InstanceCard) -> rx.Component:
    return rx.flex(
        status_dot(card.status),
        rx.heading(
            rx.link(card.name, href=card.href, color="inherit"),
            size="4", trim="both", class_name="instance-name", overflow_wrap="break-word", min_width="0",
        ),
        rx.spacer(),
        code_badge(card.status, class_name="instance-status", custom_attrs={"data-code": card.status}),
        align="center",
        spacing="2",
    )


def _outcome(card: InstanceCard) -> rx.Component:
    badge = code_badge(card.outcome, class_name="instance-outcome", custom_attrs={"data-code": card.outcome})
    return rx.data_list.item(
        rx.data_list.label("Outcome", min_width="88px"),
        rx.data_list.value(rx.cond(card.outcome, badge, rx.text("–", class_name="instance-outcome"))),
    )


def _facts(card: InstanceCard) -> rx.Component:
    return rx.data_list.root(
        fact("Provider", card.provider_id + " · " + card.provider_type, "instance-provider"),
        fact("Endpoint", card.shown_endpoint, "instance-endpoint"),
        fact("Last test", card.tested_at, "instance-tested-at"),
        _outcome(card),
        fact("Latency", card.latency, "instance-latency"),
        fact("Models", card.model_count, "instance-model-count"),
        fact("Key", card.key, "instance-key"),
        fact("Sends to", rx.cond(card.current_origin, card.current_origin, "–"), "instance-sends-to"),
        fact("Sessions", rx.cond(card.used_by, card.used_by, "none"), "instance-sessions"),
        size="1",
    )


def _set_key_button(card: InstanceCard, label: rx.Var[str] | str) -> rx.Component:
    return rx.button(
        label, size="1", variant="soft", class_name="set-key",
        on_click=RotateState.open_for(card.id, card.name, card.key_last4),
    )


def _no_key_notice(card: InstanceCard) -> rx.Component:
    """The provider needs a key and the instance has none: say so, and offer to set it."""
    return rx.cond(
        card.no_key,
        rx.callout(
            rx.flex(
                rx.text("No key — tests will fail.", size="1"),
                for_admins(_set_key_button(card, "Set key")),
                align="center", spacing="3", wrap="wrap",
            ),
            icon="key-round", color_scheme="amber", size="1", class_name="no-key",
        ),
    )


def _endpoint_notice(card: InstanceCard) -> rx.Component:
    """Endpoint changed — confirm (the key was confirmed for another origin), or endpoint unresolved."""
    changed = rx.callout(
        rx.flex(
            rx.text(
                "Endpoint changed — confirm: the key was confirmed for ", rx.code(card.key_origin),
                "; requests now go to ", rx.code(card.current_origin), ". Tests are refused until you confirm.",
                size="1",
            ),
            for_admins(
                rx.button(
                    "Confirm", size="1", color_scheme="amber", class_name="confirm-endpoint",
                    on_click=InstancesState.confirm_endpoint(card.id, card.version, card.current_origin),
                ),
            ),
            direction="column", spacing="2", align="start",
        ),
        icon="triangle_alert", color_scheme="amber", size="1", class_name="endpoint-changed",
    )
    unresolved = rx.callout(
        "Endpoint unresolved: it names an environment variable that is not set. Set an endpoint.",
        icon="triangle_alert", color_scheme="red", size="1", class_name="endpoint-unresolved",
    )
    return rx.match(card.endpoint_status, ("changed", changed), ("unresolved", unresolved), rx.fragment())


def _actions(card: InstanceCard) -> rx.Component:
    """Two groups of buttons: each wraps to its own line as a whole, never one button alone."""
    key_label = rx.cond(card.key_last4, "Rotate key", "Set key")
    key_button = rx.cond(card.no_key, rx.fragment(), _set_key_button(card, key_label))  # no key: the notice offers it
    use = rx.flex(
        for_operators(
            rx.button("Test", size="1", on_click=InstancesState.test(card.id), loading=card.status == "testing"),
        ),
        for_admins(
            rx.button(
                "Edit", size="1", variant="soft",
                on_click=InstanceFormState.open_edit(
                    card.id, card.name, card.endpoint, card.timeout_ms, card.version, card.key_origin,
                    card.current_origin, card.provider_default,
                ),
            ),
            key_button,
        ),
        spacing="2",
    )
    look = rx.flex(
        rx.button("Models", size="1", variant="soft", on_click=ModelsState.open_for(card.id, card.name)),
        rx.button(rx.link("History", href=card.href), as_child=True, size="1", variant="soft", class_name="history"),
        for_admins(
            rx.button(
                "Delete", size="1", variant="soft", color_scheme="red",
                on_click=DeleteState.open_for(card.id, card.name, card.version),
            ),
        ),
        spacing="2",
    )
    return rx.flex(use, look, spacing="2", wrap="wrap", margin_top="auto", class_name="instance-actions")


def instance_card(card: InstanceCard) -> rx.Component:
    message = rx.cond(
        card.message,
        rx.text(card.message, size="1", color_scheme="red", class_name="instance-message", overflow_wrap="anywhere"),
    )
    return rx.card(
        rx.flex(
            _header(card), _endpoint_notice(card), _no_key_notice(card), _facts(card), message, _actions(card),
            direction="column", spacing="3", height="100%",
        ),
        class_name="instance-card",
        height="100%",
        min_width="0",
        custom_attrs={"data-instance-id": card.id},
    )


def _toolbar() -> rx.Component:
    return rx.flex(
        rx.text("Connections to providers. Status changes made anywhere appear here live.", color_scheme="gray"),
        rx.spacer(),
        for_admins(
            rx.flex(
                rx.link(rx.button("Import from environment", variant="soft"), href="/instances/import"),
                rx.button(rx.icon("plus", size=16), "Add instance", on_click=InstanceFormState.open_add, id="add-instance"),
                spacing="3",
            ),
        ),
        align="center",
        spacing="3",
        wrap="wrap",
        margin_bottom="var(--space-4)",
    )


def _empty() -> rx.Component:
    return rx.cond(
        InstancesState.loaded & (InstancesState.cards.length() == 0),
        rx.callout("No instances yet. Add one, or import keys from the environment.", icon="info"),
    )


def instances_page() -> rx.Component:
    return page_frame(
        "Instances",
        _toolbar(),
        error_callout(InstancesState.error),
        _empty(),
        rx.grid(
            rx.foreach(InstancesState.cards, instance_card),
            columns=rx.breakpoints(initial="1", sm="2", lg="3"),
            spacing="4",
            id="instance-cards",
        ),
        instance_form_dialog(),
        rotate_dialog(),
        delete_dialog(),
        models_dialog(),
    )
