"""The Reflex app: pages, plus the REST API mounted under /api on the same port."""

from __future__ import annotations

from collections.abc import Callable

import reflex as rx
from litestar import Litestar
from starlette.types import ASGIApp, Receive, Scope, Send

from backend.app import create_app
from backend.settings import Settings
from backend.site_guard import SiteGuard, SiteRules
from frontend.auth import SIGN_IN, AuthState, OneUserPerState, on_backend_error
from frontend.health import HealthState
from frontend.live import LiveState
from frontend.pages.audit import AuditState, audit_page
from frontend.pages.catalog import CatalogState, catalog_page
from frontend.pages.chat import chat_page
from frontend.pages.chat_state import ChatState
from frontend.pages.editor import EditorState, editor_page
from frontend.pages.env_import import EnvImportState, env_import_page
from frontend.pages.instance_page import instance_page
from frontend.pages.instance_page_state import InstancePageState
from frontend.pages.instances import instances_page
from frontend.pages.instances_state import INSTANCE_PAGE, InstancesState
from frontend.pages.not_found import not_found_page
from frontend.pages.provider import ProviderState, provider_page
from frontend.pages.reports import reports_page
from frontend.pages.reports_state import ReportsState
from frontend.pages.sessions import SessionsState, sessions_page
from frontend.pages.sign_in import SignInState, sign_in_page

API_PREFIX = "/api/"


def mount_api(api: Litestar, settings: Settings) -> Callable[[ASGIApp], ASGIApp]:
    """A Reflex api_transformer that sends /api/* (HTTP and websocket) to the API app.

    Reflex's own pages and event socket get the API's Host, origin and security-header rules;
    the API applies them itself.
    """

    def transform(web: ASGIApp) -> ASGIApp:
        guarded = SiteGuard(web, SiteRules.from_settings(settings, json_writes=False))

        async def route(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":
                await web(scope, receive, send)
            elif scope["path"].startswith(API_PREFIX):
                await api(scope, receive, send)
            else:
                await guarded(scope, receive, send)

        return route

    return transform


def add_page(route: str, title: str, page: Callable[[], rx.Component], *on_load: rx.event.EventHandler) -> None:
    """Every page learns who is signed in and follows the live feed, plus whatever it loads itself."""
    app.add_page(
        page, route=route, title=f"{title} · Switchboard", on_load=[AuthState.load, LiveState.follow, HealthState.check, *on_load]
    )


settings = Settings.from_env()
api_app = create_app(settings)
app = rx.App(api_transformer=mount_api(api_app, settings), backend_exception_handler=on_backend_error)
app.register_lifespan_task(api_app.lifespan)
app.add_middleware(OneUserPerState())
app.add_page(sign_in_page, route=SIGN_IN, title="Sign in · Switchboard", on_load=SignInState.load)
add_page("/", "Catalog", catalog_page, CatalogState.load)
add_page("/audit", "Audit", audit_page, AuditState.load)
add_page("/catalog", "Catalog", catalog_page, CatalogState.load)
add_page("/catalog/provider", "Provider", provider_page, ProviderState.load)
add_page("/catalog/edit", "Custom provider", editor_page, EditorState.load)
add_page("/instances", "Instances", instances_page, InstancesState.reload)
add_page("/instances/import", "Import from environment", env_import_page, EnvImportState.load)
add_page(INSTANCE_PAGE, "Instance", instance_page, InstancePageState.load)
add_page("/sessions", "Sessions", sessions_page, SessionsState.reload)
add_page("/sessions/view", "Session", chat_page, ChatState.load)
add_page("/reports", "Reports", reports_page, ReportsState.load)
add_page(rx.constants.Page404.SLUG, "Page not found", not_found_page)
