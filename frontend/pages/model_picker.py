"""Choosing an instance and one of the models it offers, with prices, context window and badges: used by the
New session, Add agent and Change model dialogs."""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx

from frontend import catalog_api, instances_api
from frontend.api import Client
from frontend.auth import client_for
from frontend.catalog_api import ModelInfo
from frontend.forms import REQUEST_FAILURES, describe_failure, text_field
from frontend.money import price, tokens, usd
from frontend.pages.instance_dialog_states import DialogState
from frontend.pages.instance_dialogs import dialog, dialog_buttons
from frontend.pages.instances import status_dot
from frontend.words import code_badge, code_words, plural

HINT_INPUT, HINT_OUTPUT = 1_000, 500
PER = 1_000_000


@dataclass
class InstanceOption:
    id: str
    name: str
    provider_id: str
    status: str
    model_count: str


@dataclass
class ModelOption:
    id: str
    name: str
    availability: str
    price_in: str
    price_out: str
    context: str
    reasoning: bool
    attachments: bool
    cost_hint: str


def cost_hint(model: ModelInfo | None) -> str:
    """What 1,000 input + 500 output tokens cost at the model's prices, or that its price is unknown."""
    if model is None or model.price_status == "unknown":
        return "price unknown"
    cost = (HINT_INPUT * model.cost_per_1m_in + HINT_OUTPUT * model.cost_per_1m_out) / PER
    return f"1,000 input + 500 output tokens: {usd(cost)}"


def model_option(listed: instances_api.InstanceModel, known: ModelInfo | None) -> ModelOption:
    return ModelOption(
        id=listed.id,
        name=listed.name,
        availability=listed.availability,
        price_in=price(known, known.cost_per_1m_in) if known else "price unknown",
        price_out=price(known, known.cost_per_1m_out) if known else "price unknown",
        context=tokens(known.context_window) if known and known.context_window else "–",
        reasoning=bool(known and known.can_reason),
        attachments=bool(known and known.supports_attachments),
        cost_hint=cost_hint(known),
    )


async def models_of(client: Client, instance_id: str) -> list[ModelOption]:
    """The models the instance offers, priced from its provider's catalog entry (custom overrides included)."""
    listed = await instances_api.instance_models(client, instance_id)
    catalog = {model.id: model for model in (await catalog_api.provider(client, listed.provider_id)).models}
    return [model_option(model, catalog.get(model.id)) for model in listed.models]


class ModelPicker(DialogState, rx.State, mixin=True):
    """An instance, then one of its models; each dialog that picks a model gets its own copy."""

    instances: list[InstanceOption] = []
    models: list[ModelOption] = []
    instance_id: str = ""
    model_id: str = ""

    async def _open_picker(self, client: Client, instance_id: str, model_id: str) -> None:
        self._clear()
        self.is_open = True
        self.instance_id, self.model_id, self.models = instance_id, model_id, []
        try:
            self.instances = [
                InstanceOption(i.id, i.name, i.provider_id, i.status, plural(i.model_count or 0, "model"))
                for i in await instances_api.list_instances(client)
            ]
            if instance_id:
                self.models = await models_of(client, instance_id)
        except REQUEST_FAILURES as failure:
            self.general_error = describe_failure(failure)

    @rx.event
    async def choose_instance(self, instance_id: str) -> None:
        self.instance_id, self.model_id, self.models = instance_id, "", []
        try:
            self.models = await models_of(client_for(self), instance_id)
        except REQUEST_FAILURES as failure:
            self.general_error = describe_failure(failure)

    @rx.event
    def choose_model(self, model_id: str) -> None:
        self.model_id = model_id

    @rx.var
    def chosen_hint(self) -> str:
        chosen = [model.cost_hint for model in self.models if model.id == self.model_id]
        return chosen[0] if chosen else ""


def _instance_choice(state: type[ModelPicker], option: InstanceOption) -> rx.Component:
    return rx.button(
        rx.tooltip(status_dot(option.status), content=code_words(option.status)),
        rx.text(option.name, weight="medium", class_name="instance-choice-name"),
        rx.spacer(),
        rx.text(option.model_count, size="1", color_scheme="gray", white_space="nowrap"),
        on_click=state.choose_instance(option.id),
        variant=rx.cond(state.instance_id == option.id, "solid", "surface"),
        color_scheme="gray",
        justify="start",
        width="100%",
        type="button",
        class_name="instance-choice",
        custom_attrs={"data-instance-id": option.id},
    )


def _badge(shown: rx.Var[bool], label: str, color: str) -> rx.Component:
    return rx.cond(shown, rx.badge(label, color_scheme=color, size="1", variant="soft"))


def _model_choice(state: type[ModelPicker], option: ModelOption) -> rx.Component:
    return rx.button(
        rx.flex(
            rx.flex(
                rx.text(option.name, weight="medium", class_name="model-choice-name"),
                code_badge(option.availability, size="1", class_name="model-availability"),
                _badge(option.reasoning, "reasoning", "violet"),
                _badge(option.attachments, "attachments", "blue"),
                spacing="2",
                align="center",
                wrap="wrap",
            ),
            rx.text(
                "in ",
                option.price_in,
                " · out ",
                option.price_out,
                " per 1M · context ",
                option.context,
                size="1",
                color_scheme="gray",
            ),
            direction="column",
            align="start",
            spacing="1",
            width="100%",
        ),
        on_click=state.choose_model(option.id),
        variant=rx.cond(state.model_id == option.id, "solid", "surface"),
        color_scheme="gray",
        height="auto",
        padding="var(--space-2)",
        width="100%",
        type="button",
        class_name="model-choice",
        custom_attrs={"data-model-id": option.id},
    )


def model_picker(state: type[ModelPicker]) -> rx.Component:
    """The instance list, then the chosen instance's models, then the cost hint of the chosen model."""
    return rx.flex(
        rx.text("Instance", size="2", weight="medium"),
        rx.scroll_area(
            rx.flex(
                rx.foreach(state.instances, lambda option: _instance_choice(state, option)),
                direction="column",
                spacing="1",
            ),
            max_height="180px",
            type="auto",
        ),
        rx.cond(
            state.instance_id,
            rx.flex(
                rx.text("Model", size="2", weight="medium"),
                rx.scroll_area(
                    rx.flex(
                        rx.foreach(state.models, lambda option: _model_choice(state, option)),
                        direction="column",
                        spacing="1",
                    ),
                    max_height="260px",
                    type="auto",
                ),
                direction="column",
                spacing="1",
            ),
        ),
        rx.cond(
            state.chosen_hint,
            rx.text(state.chosen_hint, size="2", class_name="cost-hint"),
        ),
        direction="column",
        spacing="2",
        width="100%",
    )


@dataclass(frozen=True)
class NamedChoice:
    """The words and ids of a dialog that names something and picks its instance and model."""

    title: str
    description: str
    name_id: str
    submit_label: str
    submit_id: str


def named_model_dialog(state: type[ModelPicker], choice: NamedChoice, on_submit: rx.EventHandler) -> rx.Component:
    """A name, the model picker and a submit button: the New session and Add agent dialogs."""
    return dialog(
        state,
        choice.title,
        choice.description,
        rx.form(
            rx.flex(
                text_field("Name", choice.name_id, "name", state.errors.get("name", ""), required=True),
                model_picker(state),
                dialog_buttons(rx.button(choice.submit_label, type="submit", id=choice.submit_id)),
                direction="column",
                spacing="3",
                margin_top="var(--space-3)",
            ),
            on_submit=on_submit,
        ),
        width="560px",
    )
