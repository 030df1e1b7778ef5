"""The chat view of one session: totals on top, the agents panel, the chosen agent's transcript with each turn's
model, instance, tokens, cost and time to first token, and the message box with Stop."""

from __future__ import annotations

import reflex as rx

from frontend.auth import for_operators
from frontend.forms import error_callout
from frontend.layout import page_frame
from frontend.pages.chat_state import (
    AddAgentState,
    AgentRow,
    ChatState,
    EntryRow,
    SwitchModelState,
)
from frontend.pages.instance_dialogs import dialog, dialog_buttons
from frontend.pages.model_picker import NamedChoice, model_picker, named_model_dialog
from frontend.words import code_badge, code_colour

WRAPPED = {"white_space": "pre-wrap", "overflow_wrap": "anywhere"}


def _agent(agent: AgentRow) -> rx.Component:
    chosen = ChatState.agent_id == agent.id
    return rx.button(
        rx.flex(
            rx.flex(
                rx.text(agent.name, weight="medium", class_name="agent-name"),
                rx.spacer(),
                rx.cond(agent.status != "ready", code_badge(agent.status, size="1", class_name="agent-status")),
                width="100%",
                align="center",
            ),
            rx.text(
                agent.model,
                " · ",
                agent.instance,
                size="1",
                class_name="agent-model",
                **WRAPPED,
            ),
            rx.text(agent.totals, size="1", color_scheme="gray", class_name="agent-totals"),
            direction="column",
            align="start",
            width="100%",
        ),
        on_click=ChatState.choose_agent(agent.id),
        variant=rx.cond(chosen, "soft", "outline"),
        color_scheme=rx.cond(chosen, "indigo", "gray"),
        height="auto",
        padding="var(--space-2)",
        width="100%",
        class_name="agent-choice",
        custom_attrs={"data-agent-id": agent.id},
    )


def _agents_panel() -> rx.Component:
    return rx.flex(
        rx.flex(
            rx.heading("Agents", size="3"),
            rx.spacer(),
            for_operators(
                rx.button(
                    rx.icon("plus", size=14),
                    "Add agent",
                    size="1",
                    on_click=AddAgentState.open_add,
                )
            ),
            align="center",
        ),
        rx.foreach(ChatState.agents, _agent),
        direction="column",
        spacing="2",
        id="agents-panel",
    )


def _turn_facts(row: EntryRow) -> rx.Component:
    return rx.flex(
        rx.text(row.usage, class_name="turn-tokens"),
        rx.text(row.cost, class_name="turn-cost"),
        rx.text("first token ", row.ttft, class_name="turn-ttft"),
        spacing="3",
        wrap="wrap",
        font_size="var(--font-size-1)",
        color="var(--gray-11)",
    )


def _failure(row: EntryRow) -> rx.Component:
    return rx.callout(
        rx.flex(
            rx.flex(
                rx.cond(row.error_outcome, code_badge(row.error_outcome, size="1", class_name="turn-error")),
                rx.text(row.problem, size="1", **WRAPPED),
                spacing="2",
                align="center",
                wrap="wrap",
            ),
            for_operators(
                rx.cond(
                    row.retry_text,
                    rx.button(
                        "Retry",
                        size="1",
                        variant="soft",
                        class_name="turn-retry",
                        on_click=ChatState.send(row.retry_text),
                        disabled=ChatState.sending,
                    ),
                ),
            ),
            direction="column",
            spacing="2",
            align="start",
        ),
        icon="triangle_alert",
        color_scheme=code_colour(row.outcome, "red"),
        size="1",
        class_name="turn-failure",
    )


def _turn(row: EntryRow) -> rx.Component:
    return rx.card(
        rx.flex(
            rx.flex(
                rx.badge(row.model, variant="surface", class_name="turn-model"),
                rx.text(
                    "via ",
                    row.instance,
                    size="1",
                    color_scheme="gray",
                    class_name="turn-instance",
                ),
                rx.spacer(),
                code_badge(row.outcome, size="1", class_name="turn-outcome"),
                align="center",
                spacing="2",
                wrap="wrap",
            ),
            rx.text(row.text, class_name="turn-text", **WRAPPED),
            rx.cond(row.outcome != "completed", _failure(row)),
            _turn_facts(row),
            direction="column",
            spacing="2",
        ),
        class_name="turn",
        custom_attrs={"data-position": row.position},
    )


def _user(text: rx.Var[str] | str, class_name: str) -> rx.Component:
    return rx.box(
        rx.text(text, **WRAPPED),
        background="var(--accent-3)",
        border_radius="var(--radius-3)",
        padding="var(--space-2) var(--space-3)",
        margin_left=rx.breakpoints(initial="var(--space-4)", sm="20%"),
        class_name=class_name,
    )


def _entry(row: EntryRow) -> rx.Component:
    return rx.cond(row.kind == "user", _user(row.text, "user-message"), _turn(row))


def _streaming() -> rx.Component:
    return rx.cond(
        ChatState.sending,
        rx.fragment(
            rx.cond(
                ChatState.pending_text,
                _user(ChatState.pending_text, "user-message pending"),
            ),
            rx.card(
                rx.flex(
                    rx.text(ChatState.agent_model, size="1", color_scheme="gray"),
                    rx.text(ChatState.streaming_text, id="streaming-answer", **WRAPPED),
                    rx.flex(
                        rx.spinner(size="1"),
                        rx.text("answering…", size="1", color_scheme="gray"),
                        spacing="2",
                    ),
                    direction="column",
                    spacing="2",
                ),
                id="streaming-turn",
            ),
        ),
    )


def _composer() -> rx.Component:
    return for_operators(
        rx.form(
            rx.flex(
                rx.text_area(
                    name="text",
                    placeholder=rx.cond(
                        ChatState.agent_name,
                        "Message to " + ChatState.agent_name,
                        "Message",
                    ),
                    id="message-text",
                    width="100%",
                    rows="3",
                ),
                rx.flex(
                    rx.text(
                        "To ",
                        rx.text.strong(ChatState.agent_name),
                        size="1",
                        color_scheme="gray",
                    ),
                    rx.spacer(),
                    rx.cond(
                        ChatState.started,
                        rx.button(
                            "Stop",
                            type="button",
                            color_scheme="red",
                            variant="soft",
                            on_click=ChatState.stop,
                            id="stop-turn",
                        ),
                    ),
                    rx.button(
                        "Send",
                        type="submit",
                        loading=ChatState.sending,
                        id="send-message",
                    ),
                    align="center",
                    spacing="2",
                ),
                direction="column",
                spacing="2",
            ),
            on_submit=ChatState.submit,
            reset_on_submit=True,
        ),
    )


def _conversation() -> rx.Component:
    return rx.flex(
        rx.flex(
            rx.text(
                "Talking to ",
                rx.text.strong(ChatState.agent_name),
                " · ",
                ChatState.agent_model,
                size="2",
                id="current-model",
                **WRAPPED,
            ),
            rx.spacer(),
            for_operators(
                rx.button(
                    "Change model",
                    size="1",
                    variant="soft",
                    on_click=SwitchModelState.open_switch,
                    id="change-model",
                ),
            ),
            align="center",
            spacing="2",
            wrap="wrap",
        ),
        rx.flex(
            rx.foreach(ChatState.rows, _entry),
            _streaming(),
            direction="column",
            spacing="3",
            id="transcript",
        ),
        _composer(),
        direction="column",
        spacing="4",
        min_width="0",
    )


def _add_agent_dialog() -> rx.Component:
    words = NamedChoice(
        "Add agent", "An agent has its own thread, and may talk to another instance and model.",
        "agent-name", "Add", "add-agent",
    )
    return named_model_dialog(AddAgentState, words, AddAgentState.add)


def _switch_dialog() -> rx.Component:
    return dialog(
        SwitchModelState,
        "Change model",
        "The change is recorded and applies from the next turn.",
        rx.flex(
            model_picker(SwitchModelState),
            dialog_buttons(rx.button("Use this model", on_click=SwitchModelState.apply, id="apply-model")),
            direction="column",
            spacing="3",
            margin_top="var(--space-3)",
        ),
        width="560px",
    )


def chat_page() -> rx.Component:
    return page_frame(
        "Session",
        rx.flex(
            rx.link("← Sessions", href="/sessions", size="2"),
            rx.heading(ChatState.name, size="5", id="session-title", **WRAPPED),
            rx.text(ChatState.totals, size="2", color_scheme="gray", id="session-totals"),
            direction="column",
            spacing="1",
            margin_bottom="var(--space-4)",
        ),
        error_callout(ChatState.error),
        rx.cond(
            ChatState.loaded,
            rx.grid(
                _agents_panel(),
                _conversation(),
                grid_template_columns=rx.breakpoints(initial="minmax(0, 1fr)", md="260px minmax(0, 1fr)"),
                gap="var(--space-5)",
            ),
        ),
        _add_agent_dialog(),
        _switch_dialog(),
    )
