"""The frame every page shares: header with the product name, the navigation and who is signed in."""

from __future__ import annotations

import reflex as rx

from frontend.auth import AuthState
from frontend.live import LiveState

NAV = (("Catalog", "/catalog"), ("Instances", "/instances"), ("Sessions", "/sessions"), ("Audit", "/audit"))
GUTTER = rx.breakpoints(initial="var(--space-4)", sm="var(--space-6)")  # narrower on a phone


def _nav_link(label: str, href: str) -> rx.Component:
    return rx.link(label, href=href, size="3", weight="medium", id=f"nav-{label.lower()}")


def _live_dot() -> rx.Component:
    return rx.tooltip(
        rx.badge(
            rx.cond(LiveState.error == "", "live", "reconnecting"),
            color_scheme=rx.cond(LiveState.error == "", "green", "amber"),
            id="live-status",
        ),
        content=rx.cond(LiveState.error == "", "Following the event log", LiveState.error),
    )


def _sign_out() -> rx.Component:
    """A plain form: the API clears the cookie and sends the browser to the sign-in page."""
    return rx.el.form(
        rx.button("Sign out", type="submit", size="1", variant="soft", color_scheme="gray", id="sign-out"),
        method="post",
        action="/api/v1/auth/sign-out",
        on_submit=None,  # no Reflex submit handler: the browser posts the form itself
    )


def _signed_in() -> rx.Component:
    return rx.cond(
        AuthState.actor,
        rx.flex(
            rx.icon("circle-user", size=18, color="var(--gray-10)"),
            rx.text(AuthState.actor, size="2", weight="medium", id="signed-in-actor"),
            rx.badge(AuthState.role, variant="surface", id="signed-in-role"),
            rx.cond(AuthState.mode == "token", _sign_out()),
            spacing="2",
            align="center",
        ),
    )


def page_frame(title: str, *children: rx.Component) -> rx.Component:
    return rx.box(
        rx.flex(
            rx.link(rx.heading("Switchboard", size="5"), href="/", underline="none"),
            rx.flex(
                *(_nav_link(label, href) for label, href in NAV),
                _live_dot(),
                _signed_in(),
                spacing=rx.breakpoints(initial="4", sm="5"),
                align="center",
                wrap="wrap",
            ),
            justify="between",
            align="center",
            wrap="wrap",
            gap="var(--space-3)",
            padding_x=GUTTER,
            padding_y="var(--space-3)",
            border_bottom="1px solid var(--gray-5)",
        ),
        rx.box(
            rx.heading(title, size="7", margin_bottom="var(--space-4)"),
            *children,
            padding_x=GUTTER,
            padding_y="var(--space-6)",
            max_width="1280px",
            margin_x="auto",
        ),
    )

