"""The Reflex app: pages, plus the REST API mounted under /api on the same port."""

from __future__ import annotations

from collections.abc import Callable

import reflex as rx
from litestar import Litestar
from starlette.types import ASGIApp, Receive, Scope, Send

from backend.app import create_app
from frontend.layout import coming_soon
from frontend.pages.audit import AuditState, audit_page

API_PREFIX = "/api/"


def mount_api(api: Litestar) -> Callable[[ASGIApp], ASGIApp]:
    """A Reflex api_transformer that sends /api/* (HTTP and websocket) to the API app."""

    def transform(web: ASGIApp) -> ASGIApp:
        async def route(scope: Scope, receive: Receive, send: Send) -> None:
            target = api if scope["type"] != "lifespan" and scope["path"].startswith(API_PREFIX) else web
            await target(scope, receive, send)

        return route

    return transform


api_app = create_app()
app = rx.App(api_transformer=mount_api(api_app), theme=rx.theme(accent_color="indigo"))
app.register_lifespan_task(api_app.lifespan)
app.add_page(audit_page, route="/audit", title="Audit · Switchboard", on_load=AuditState.follow)
app.add_page(audit_page, route="/", title="Switchboard", on_load=AuditState.follow)
app.add_page(lambda: coming_soon("Catalog", "Providers and models"), route="/catalog", title="Catalog · Switchboard")
app.add_page(lambda: coming_soon("Instances", "Connections"), route="/instances", title="Instances · Switchboard")
app.add_page(lambda: coming_soon("Sessions", "Sessions and agents"), route="/sessions", title="Sessions · Switchboard")
