"""The Sessions page: one card per session (agents, model, turns, cost, last activity) and the New session form."""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx

from frontend import sessions_api
from frontend.auth import client_for, for_operators
from frontend.forms import REQUEST_FAILURES, describe_failure, error_callout
from frontend.layout import page_frame, page_intro
from frontend.live import react_to
from frontend.money import usd
from frontend.pages.instances import fact
from frontend.pages.instances_state import shown_time
from frontend.pages.model_picker import ModelPicker, NamedChoice, named_model_dialog
from frontend.words import plural

SESSION_EVENTS = ("Session", "Agent", "Message", "Turn")
CHAT = "/sessions/view"


@dataclass
class SessionCard:
    id: str
    name: str
    agents: str
    model: str
    turns: int
    cost: str
    last_activity: str


def total_cost(cost_usd: float, unknown_turns: int) -> str:
    """The known cost, and how many turns had no known price (never counted as $0)."""
    known = usd(cost_usd)
    return f"{known} + {plural(unknown_turns, 'turn')} of unknown price" if unknown_turns else known


def session_card(session: sessions_api.Session) -> SessionCard:
    return SessionCard(
        id=session.id,
        name=session.name,
        agents=", ".join(agent.name for agent in session.agents) or "–",
        model=session.default_model_id,
        turns=session.turns,
        cost=total_cost(session.cost_usd, session.unknown_cost_turns),
        last_activity=shown_time(session.last_activity or session.created_at) if session.created_at else "–",
    )


class SessionsState(rx.State):
    """Every session as a card; reloaded whenever a session event is logged anywhere."""

    cards: list[SessionCard] = []
    loaded: bool = False
    error: str = ""

    @rx.event
    async def reload(self) -> None:
        try:
            sessions = await sessions_api.list_sessions(client_for(self))
        except REQUEST_FAILURES as failure:
            self.error = describe_failure(failure)
            return
        self.cards = [session_card(session) for session in sessions if not session.archived]
        self.loaded, self.error = True, ""


class NewSessionState(ModelPicker, rx.State):
    """The New session dialog: a name, an instance and one of its models."""

    @rx.event
    async def open_new(self) -> None:
        await self._open_picker(client_for(self), "", "")

    @rx.event
    async def create(self, form: dict[str, str]) -> rx.event.EventSpec | None:
        if not (self.instance_id and self.model_id):
            self.general_error = "Choose an instance and a model."
            return None
        try:
            created = await sessions_api.create_session(
                client_for(self),
                form.get("name", "").strip(),
                self.instance_id,
                self.model_id,
            )
        except REQUEST_FAILURES as failure:
            self._refused(failure, ("name",))
            return None
        self.is_open = False
        return rx.redirect(f"{CHAT}?id={created.id}")


def _card(card: SessionCard) -> rx.Component:
    return rx.card(
        rx.flex(
            rx.link(
                rx.heading(card.name, size="4", class_name="session-name"),
                href=f"{CHAT}?id={card.id}",
            ),
            rx.data_list.root(
                fact("Agents", card.agents, "session-agents"),
                fact("Model", card.model, "session-model"),
                fact("Turns", card.turns.to_string(), "session-turns"),
                fact("Cost", card.cost, "session-cost"),
                fact("Last activity", card.last_activity, "session-last-activity"),
                size="1",
            ),
            direction="column",
            spacing="3",
        ),
        class_name="session-card",
        custom_attrs={"data-session-id": card.id},
    )


def new_session_dialog() -> rx.Component:
    words = NamedChoice(
        "New session", "A session talks to one model through one instance; agents may use others.",
        "session-name", "Create", "create-session",
    )
    return named_model_dialog(NewSessionState, words, NewSessionState.create)


def sessions_page() -> rx.Component:
    return page_frame(
        "Sessions",
        page_intro(
            "Conversations with models through your instances. New turns appear here live.",
            for_operators(
                rx.button(
                    rx.icon("plus", size=16),
                    "New session",
                    on_click=NewSessionState.open_new,
                    id="new-session",
                )
            ),
        ),
        error_callout(SessionsState.error),
        rx.cond(
            SessionsState.loaded & (SessionsState.cards.length() == 0),
            rx.callout("No sessions yet. Start one with New session.", icon="info"),
        ),
        rx.grid(
            rx.foreach(SessionsState.cards, _card),
            columns=rx.breakpoints(initial="1", sm="2", lg="3"),
            spacing="4",
            id="session-cards",
        ),
        new_session_dialog(),
    )


react_to(SESSION_EVENTS, SessionsState.reload)
