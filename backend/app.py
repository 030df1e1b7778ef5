"""The Litestar application factory: routes, dependencies, errors, OpenAPI and lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components

from backend.api_docs import BEARER, BEARER_SCHEME, SCHEMA_PATH, ProblemResponses, SwaggerDocs
from backend.audit.controller import AuditController
from backend.audit.live import live_feed
from backend.audit.names import Names
from backend.auth import AuthController, Tokens, TokensController, authorize
from backend.catalog import CatalogController, CatalogService
from backend.context import request_metadata
from backend.errors import EXCEPTION_HANDLERS
from backend.instances import EnvImportController, Instances, InstancesController
from backend.query_guard import refuse_unknown_query_params
from backend.reports import ReportsController
from backend.services import Services, open_services, service_version
from backend.sessions import Sessions, SessionsController
from backend.settings import Settings
from backend.site_guard import SiteGuard, SiteRules, add_security_headers

MAX_REQUEST_BODY = 1024 * 1024
"""Bytes; a larger request body is a 413 problem, refused before any handler runs."""


def _services(state: State) -> Services:
    services: Services = state.services
    return services


def _catalog(state: State) -> CatalogService:
    return _services(state).catalog


def _instances(state: State) -> Instances:
    return _services(state).instances


def _sessions(state: State) -> Sessions:
    return _services(state).sessions


def _tokens(state: State) -> Tokens:
    return _services(state).tokens


async def _names(state: State) -> Names:
    """The names event summaries put in place of ids, as of the log's head (looked up again only once it moved)."""
    return await _services(state).names.now()


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the API app; its lifespan opens the store and closes it on shutdown.

    Every route passes the auth guard, which checks the route against the permissions table.
    """
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with open_services(settings) as services:
            app.state.services = services
            app.state.tokens = services.tokens
            yield

    return Litestar(
        route_handlers=[
            AuditController, live_feed, CatalogController, InstancesController, EnvImportController,
            AuthController, TokensController, SessionsController, ReportsController,
        ],
        dependencies={
            "services": Provide(_services, sync_to_thread=False),
            "catalog": Provide(_catalog, sync_to_thread=False),
            "instances": Provide(_instances, sync_to_thread=False),
            "sessions": Provide(_sessions, sync_to_thread=False),
            "tokens": Provide(_tokens, sync_to_thread=False),
            "names": Provide(_names),
            "metadata": Provide(request_metadata, sync_to_thread=False),
        },
        guards=[authorize],
        lifespan=[lifespan],
        middleware=[DefineMiddleware(SiteGuard, rules=SiteRules.from_settings(settings))],
        before_send=[add_security_headers],
        request_max_body_size=MAX_REQUEST_BODY,
        before_request=refuse_unknown_query_params,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        plugins=[ProblemResponses()],
        openapi_config=OpenAPIConfig(
            title="Switchboard API",
            version=service_version(),
            path=SCHEMA_PATH,
            render_plugins=[SwaggerDocs()],
            components=Components(security_schemes={BEARER: BEARER_SCHEME}),
        ),
    )
