"""The sign-in page: a plain form that posts the token straight to the API, which sets the session cookie.

The token never passes through the web app's state or its event socket.
"""

from __future__ import annotations

import reflex as rx

from frontend.auth import local_path

REFUSED = "That token was not accepted: it may be mistyped, revoked or expired."


class SignInState(rx.State):
    """What the page's address says: where to go after signing in, and whether the last try failed."""

    next_path: str = "/"
    failed: bool = False

    @rx.event
    def load(self) -> None:
        query = self.router.url.query_parameters
        self.next_path = local_path(query.get("next", "/"))
        self.failed = query.get("error") == "1"


def _form() -> rx.Component:
    return rx.el.form(
        rx.flex(
            rx.el.label(rx.text("API token", size="2", weight="medium"), html_for="sign-in-token"),
            rx.input(
                id="sign-in-token", name="token", type="password", auto_complete="off", required=True,
                placeholder="sbt_…", size="3", width="100%",
            ),
            rx.el.input(type="hidden", name="next", value=SignInState.next_path),
            rx.button("Sign in", type="submit", size="3", width="100%", id="sign-in-submit"),
            direction="column",
            spacing="3",
        ),
        method="post",
        action="/api/v1/auth/sign-in",
        on_submit=None,  # no Reflex submit handler: the browser posts the token to the API itself
    )


def sign_in_page() -> rx.Component:
    return rx.center(
        rx.card(
            rx.flex(
                rx.heading("Switchboard", size="6"),
                rx.text("Sign in with your API token.", color_scheme="gray", size="2"),
                rx.cond(
                    SignInState.failed,
                    rx.callout(REFUSED, icon="triangle_alert", color_scheme="red", size="1", id="sign-in-error"),
                ),
                _form(),
                rx.text(
                    "No token yet? An admin creates one with ",
                    rx.code("switchboard token create NAME --role viewer"),
                    ".",
                    size="1",
                    color_scheme="gray",
                ),
                direction="column",
                spacing="4",
            ),
            size="4",
            width="100%",
            max_width="420px",
        ),
        min_height="100vh",
        padding="var(--space-4)",
        background="var(--gray-2)",
    )
