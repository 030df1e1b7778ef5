"""The frame every page shares: header with the product name, the navigation (a menu on a phone), whether the
live connection holds, and who is signed in; a banner while the service is degraded; plus the pager of long lists."""

from __future__ import annotations

import reflex as rx
from reflex.components.core.banner import connection_error, has_connection_errors

from frontend.auth import AuthState
from frontend.health import health_banner
from frontend.live import LiveState

NAV = (
    ("Catalog", "/catalog"), ("Instances", "/instances"), ("Sessions", "/sessions"), ("Reports", "/reports"),
    ("Audit", "/audit"),
)
GUTTER = rx.breakpoints(initial="var(--space-4)", sm="var(--space-6)")  # narrower on a phone
# either socket lost: the browser's event socket to this server, or the server's feed from the API
OFFLINE = has_connection_errors | (LiveState.error != "")


def _nav_link(label: str, href: str, id_prefix: str) -> rx.Component:
    return rx.link(label, href=href, size="3", weight="medium", id=f"{id_prefix}-{label.lower()}")


def _live_dot() -> rx.Component:
    return rx.tooltip(
        rx.badge(
            rx.cond(OFFLINE, "reconnecting", "live"),
            color_scheme=rx.cond(OFFLINE, "amber", "green"),
            id="live-status",
        ),
        content=rx.cond(
            has_connection_errors,
            "Lost the connection to the server: " + connection_error.to(str),
            rx.cond(LiveState.error == "", "Following the event log", LiveState.error),
        ),
    )


def _sign_out() -> rx.Component:
    """A plain form: the API clears the cookie and sends the browser to the sign-in page."""
    return rx.el.form(
        rx.button("Sign out", type="submit", size="1", variant="soft", color_scheme="gray", class_name="sign-out"),
        method="post",
        action="/api/v1/auth/sign-out",
        on_submit=None,  # no Reflex submit handler: the browser posts the form itself
    )


def _signed_in(id_prefix: str) -> rx.Component:
    return rx.cond(
        AuthState.actor,
        rx.flex(
            rx.icon("circle-user", size=18, color="var(--gray-10)"),
            rx.text(AuthState.actor, size="2", weight="medium", id=f"{id_prefix}-actor"),
            rx.badge(AuthState.role, variant="surface", id=f"{id_prefix}-role"),
            rx.cond(AuthState.mode == "token", _sign_out()),
            spacing="2",
            align="center",
            wrap="wrap",
        ),
    )


def _desktop_nav() -> rx.Component:
    return rx.desktop_only(
        rx.flex(
            *(_nav_link(label, href, "nav") for label, href in NAV),
            spacing="5",
            align="center",
        ),
    )


def _phone_menu() -> rx.Component:
    """The navigation behind a menu button on a phone: the links, then who is signed in."""
    return rx.mobile_and_tablet(
        rx.popover.root(
            rx.popover.trigger(
                rx.icon_button(
                    rx.icon("menu", size=18), variant="soft", color_scheme="gray", aria_label="Menu", id="nav-menu"
                ),
            ),
            rx.popover.content(
                rx.flex(
                    *(_nav_link(label, href, "menu") for label, href in NAV),
                    rx.separator(size="4"),
                    _signed_in("menu-signed-in"),
                    direction="column",
                    spacing="3",
                ),
                align="end",
                id="nav-menu-panel",
            ),
        ),
    )


def page_frame(title: rx.Var[str] | str, *children: rx.Component) -> rx.Component:
    return rx.box(
        rx.flex(
            rx.link(rx.heading("Switchboard", size="5"), href="/", underline="none"),
            rx.spacer(),
            _desktop_nav(),
            _live_dot(),
            rx.desktop_only(_signed_in("signed-in")),
            _phone_menu(),
            align="center",
            gap=rx.breakpoints(initial="var(--space-3)", md="var(--space-5)"),
            padding_x=GUTTER,
            padding_y="var(--space-3)",
            border_bottom="1px solid var(--gray-5)",
        ),
        rx.box(health_banner(), padding_x=GUTTER),
        rx.box(
            rx.heading(title, size=rx.breakpoints(initial="6", sm="7"), margin_bottom="var(--space-4)"),
            *children,
            padding_x=GUTTER,
            padding_y=rx.breakpoints(initial="var(--space-4)", sm="var(--space-6)"),
            max_width="1280px",
            margin_x="auto",
        ),
    )


def page_intro(words: str, *tools: rx.Component, margin_bottom: str = "var(--space-4)") -> rx.Component:
    """The line under a page's title: what the page shows, its tools at the right (under it on a phone)."""
    return rx.flex(
        rx.text(words, color_scheme="gray"),
        rx.spacer(),
        *tools,
        align="center",
        spacing="3",
        wrap="wrap",
        margin_bottom=margin_bottom,
    )


def page_range(first: int, shown: int, total: int) -> str:
    """"51-100 of 1,534": which rows of a long list are shown (`first` counts from 0)."""
    if total == 0 or shown == 0:
        return f"0 of {total:,}"
    return f"{first + 1:,}-{first + shown:,} of {total:,}"


def pager(
    range_text: rx.Var[str], has_previous: rx.Var[bool], has_next: rx.Var[bool],
    on_previous: rx.EventHandler, on_next: rx.EventHandler, **props: object,
) -> rx.Component:
    """Previous / "51-100 of 1,534" / Next, the contract every long list follows; `props` place the row."""
    return rx.flex(
        rx.button(
            rx.icon("chevron-left", size=16), "Previous", variant="soft", color_scheme="gray",
            disabled=~has_previous, on_click=on_previous, id="page-prev",
        ),
        rx.text(range_text, size="2", id="page-range", white_space="nowrap"),
        rx.button(
            "Next", rx.icon("chevron-right", size=16), variant="soft", color_scheme="gray",
            disabled=~has_next, on_click=on_next, id="page-next",
        ),
        align="center",
        justify="end",
        spacing="3",
        **props,
    )
