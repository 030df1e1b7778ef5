"""Who uses the web app: the token from the browser's cookie on every API call, and the signed-in actor and role.

The token stays on the server: it is read from the cookie the browser sent with the event socket's handshake
(Reflex keeps those headers in memory and sends no cookie to the browser) and no state var of the app holds it.
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote

import httpx
import msgspec
import reflex as rx
from reflex.app import App, default_backend_exception_handler
from reflex.event import Event, EventSpec
from reflex.middleware import Middleware
from reflex.state import BaseState, StateUpdate

from frontend.api import Client, Problem, SignInRequired

TOKEN_COOKIE = "switchboard_token"
SIGN_IN = "/sign-in"
OPERATOR_ROLES = ("operator", "admin")


class Me(msgspec.Struct, frozen=True):
    """GET /api/v1/auth/me: who the API takes this browser for."""

    actor: str
    role: str
    mode: str


def token_from_cookie(cookie_header: str) -> str:
    """The Switchboard token in a Cookie header, or "" when there is none."""
    for pair in cookie_header.split(";"):
        name, _, value = pair.strip().partition("=")
        if name == TOKEN_COOKIE:
            return value.strip().strip('"')
    return ""


def page_of(state: rx.State) -> str:
    """The path and query of the page an event came from (`/audit`, though the static build serves `/audit/`)."""
    url = state.router.url
    path = url.path.rstrip("/") or "/"
    return f"{path}?{url.query}" if url.query else path


def client_for(state: rx.State) -> Client:
    """The API as the browser behind `state` may use it: with its user's token, if it sent one."""
    return Client(token_from_cookie(state.router.headers.cookie), page_of(state))


def local_path(path: str) -> str:
    """`path` if it is a path on this site, else "/": where a sign-in may lead back to."""
    return path if path.startswith("/") and not path.startswith(("//", "/\\")) else "/"


def sign_in_url(page: str) -> str:
    return f"{SIGN_IN}?next={quote(local_path(page), safe='/')}"


def on_backend_error(exception: Exception) -> EventSpec:  # Reflex checks this annotation by name
    """Any event whose API call answered 401 sends the tab to the sign-in page; other errors as Reflex shows them."""
    if isinstance(exception, SignInRequired):
        return rx.redirect(sign_in_url(exception.page))
    return default_backend_exception_handler(exception)


def cookie_fingerprint(state: rx.State) -> str:
    """Tells apart the tokens a tab's sockets came with ("" for none) without keeping a token."""
    token = token_from_cookie(state.router.headers.cookie)
    return hashlib.sha256(token.encode()).hexdigest() if token else ""


class AuthState(rx.State):
    """The signed-in actor and role; the pages show only what that role may do. Empty until loaded."""

    actor: str = ""
    role: str = ""
    mode: str = ""
    _signed_in_as: str = ""  # cookie_fingerprint of the socket the tab's state was built for

    @rx.event
    async def load(self) -> None:
        try:
            me = msgspec.json.decode(await client_for(self).get_json("/api/v1/auth/me"), type=Me)
        except (Problem, httpx.HTTPError):
            self.actor, self.role, self.mode = "", "", ""
            return
        self.actor, self.role, self.mode = me.actor, me.role, me.mode

    @rx.var
    def can_operate(self) -> bool:
        """Runs connection tests, sessions and turns."""
        return self.role in OPERATOR_ROLES

    @rx.var
    def can_admin(self) -> bool:
        """Changes the catalog, instances, credentials and imports."""
        return self.role == "admin"


class OneUserPerState(Middleware):
    """A tab's state is built for one signed-in user (or none): when a socket comes with another cookie (after
    signing in or out), everything the tab held is reset before the event runs, so none of it reaches the new one."""

    async def preprocess(self, app: App, state: BaseState, event: Event) -> StateUpdate | None:
        auth = await state.get_state(AuthState)
        seen = cookie_fingerprint(state)
        if auth._signed_in_as != seen:
            for substate in state.substates.values():
                substate.reset()
            auth._signed_in_as = seen
        return None


def for_operators(*children: rx.Component) -> rx.Component:
    """Shown only to operators and admins."""
    return rx.cond(AuthState.can_operate, rx.fragment(*children))


def for_admins(*children: rx.Component) -> rx.Component:
    """Shown only to admins."""
    return rx.cond(AuthState.can_admin, rx.fragment(*children))
