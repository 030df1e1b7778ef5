"""The frame every page shares: header with the product name and the navigation."""

from __future__ import annotations

import reflex as rx

from frontend.live import LiveState

NAV = (("Catalog", "/catalog"), ("Instances", "/instances"), ("Sessions", "/sessions"), ("Audit", "/audit"))


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


def page_frame(title: str, *children: rx.Component) -> rx.Component:
    return rx.box(
        rx.flex(
            rx.link(rx.heading("Switchboard", size="5"), href="/", underline="none"),
            rx.flex(
                *(_nav_link(label, href) for label, href in NAV),
                _live_dot(),
                spacing="5",
                align="center",
            ),
            justify="between",
            align="center",
            padding_x="var(--space-6)",
            padding_y="var(--space-3)",
            border_bottom="1px solid var(--gray-5)",
        ),
        rx.box(
            rx.heading(title, size="7", margin_bottom="var(--space-4)"),
            *children,
            padding="var(--space-6)",
            max_width="1280px",
            margin_x="auto",
        ),
    )


def coming_soon(title: str, what: str) -> rx.Component:
    return page_frame(title, rx.callout(f"{what} are coming soon.", icon="info"))
