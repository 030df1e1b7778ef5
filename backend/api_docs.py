"""The API's OpenAPI documentation: every refusal a route can answer, as problem+json, derived in one place
from the route itself, and Swagger UI served from the app's own copy of its files (no CDN)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from http import HTTPStatus
from pathlib import Path

import msgspec
from litestar import Router, get
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Example, SecurityScheme
from litestar.params import FromPath
from litestar.plugins import ReceiveRoutePlugin
from litestar.response import File
from litestar.routes import BaseRoute, HTTPRoute
from swagger_ui_bundle import swagger_ui_path

from backend.auth.permissions import FORM_ROUTES, SIGN_IN, required_access
from backend.errors import BODY_KWARG, PROBLEM_JSON, FieldError, Problem
from backend.site_guard import STATE_CHANGING

SCHEMA_PATH = "/api/schema"
SWAGGER_ASSETS = "/swagger-ui"
"""Where Swagger UI's files are served, under SCHEMA_PATH."""
SWAGGER_JS, SWAGGER_PRESET_JS, SWAGGER_CSS, SWAGGER_ICON = (
    "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css", "favicon-32x32.png"
)
SWAGGER_FILES = {
    SWAGGER_JS: "text/javascript",
    SWAGGER_PRESET_JS: "text/javascript",
    SWAGGER_CSS: "text/css",
    SWAGGER_ICON: "image/png",
}
"""The files the docs page loads, with their media types."""
BEARER = "bearer"
BEARER_SCHEME = SecurityScheme(
    type="http",
    scheme="bearer",
    description="An API token (`switchboard token create`). Not needed on loopback before any token exists; "
    "a browser signed in to the web app sends its cookie instead.",
)


class Refusal(msgspec.Struct, frozen=True):
    """What one refusal status means, with an example answer."""

    description: str
    example: Problem


REFUSALS: dict[int, Refusal] = {
    400: Refusal(
        "Malformed: invalid JSON, a body or parameter of the wrong type or out of range, an unknown query "
        "parameter, or a Host this server does not answer for",
        Problem("Validation failed", 400, "Validation failed for POST /api/v1/instances",
                errors=[FieldError("body", "request body is required")]),
    ),
    401: Refusal(
        "No token, or a token that is not valid (once a token exists, or beyond loopback)",
        Problem("Authentication required", 401),
    ),
    403: Refusal(
        "The token's role may not do this, or the request came from another site",
        Problem("The viewer role may not do this (admin or above needed)", 403),
    ),
    404: Refusal("Nothing has the id in the path", Problem("Not found", 404, "no instance 'xyz'")),
    409: Refusal(
        "The resource changed since it was read (If-Match), already exists, or is in use",
        Problem("Conflict", 409, "instance f1a6d3b03292603d is at version 1, not 9"),
    ),
    413: Refusal("The request body is larger than 1 MB", Problem("Request Entity Too Large", 413)),
    415: Refusal(
        "The request body is not application/json",
        Problem("Unsupported media type", 415, "a request body must be application/json, not 'text/plain'"),
    ),
    422: Refusal(
        "The input broke one or more rules; each bad field is listed in `errors`",
        Problem(
            "Validation failed", 422, "the instance was not created",
            errors=[FieldError("provider_id", "no catalog provider 'nope'"), FieldError("name", "must not be empty")],
        ),
    ),
    502: Refusal("The catalog service failed; the current catalog is kept", Problem("Catalog service failed", 502)),
    504: Refusal("The catalog service timed out; the current catalog is kept",
                 Problem("Catalog service timed out", 504)),
}

ROUTE_REFUSALS: dict[tuple[str, str], frozenset[int]] = {
    ("POST", SIGN_IN): frozenset({401, 413, 422}),  # reads its form or JSON body itself
    ("POST", "/api/v1/catalog/refresh"): frozenset({502, 504}),
    ("GET", "/api/v1/events"): frozenset({422}),  # since after until
    ("GET", "/api/v1/reports/cost"): frozenset({422}),  # since after until, or a time without its offset
    ("GET", "/api/v1/catalog/models"): frozenset({422}),  # a provider filter naming no catalog provider
    ("GET", "/api/v1/audit/events"): frozenset({422}),  # empty filters, since after until, before not above after
    ("GET", "/api/v1/audit/export"): frozenset({422}),  # the same filters
}
"""Statuses a route answers that its shape does not show."""
IF_MATCH_KWARG = "if_match"
"""The handler parameter carrying the If-Match header; a malformed one is a 422 (see backend.context)."""


def refusal_statuses(method: str, path: str, handler: HTTPRouteHandler, path_parameters: set[str]) -> set[int]:
    """Every refusal status a route can answer, from its method, path, permission, body and headers.

    A query value of the wrong type or out of range is a 400 like any malformed input; a 422 comes from a
    body's rules, a malformed If-Match, or a route's own rule on its query (ROUTE_REFUSALS).
    """
    codes = {400} | ROUTE_REFUSALS.get((method, path), frozenset())
    guarded = required_access(method, path) != "public"
    if guarded:
        codes |= {401, 403}
    if method in STATE_CHANGING:
        codes.add(403)  # from another site
        if guarded:
            codes.add(409)
    if path_parameters:
        codes.add(404)
    parameters = handler.parsed_fn_signature.parameters
    if BODY_KWARG in parameters:
        codes |= {413, 422} if path in FORM_ROUTES else {413, 415, 422}
    if IF_MATCH_KWARG in parameters:
        codes.add(422)
    return codes


def problem_spec(status: int) -> ResponseSpec:
    """The documented answer for one refusal status: the problem schema, what it means, an example."""
    refusal = REFUSALS[status]
    example = Example(summary=HTTPStatus(status).phrase, value=msgspec.to_builtins(refusal.example))
    return ResponseSpec(
        data_container=Problem,
        description=refusal.description,
        media_type=PROBLEM_JSON,
        examples=[example],
        generate_examples=False,
    )


def _without_made_up_examples(responses: Mapping[int, ResponseSpec]) -> dict[int, ResponseSpec]:
    """A route's own response specs, minus the random values Litestar would otherwise show as examples."""
    return {code: replace(spec, generate_examples=False) for code, spec in responses.items()}


class ProblemResponses(ReceiveRoutePlugin):
    """Gives each documented HTTP route its problem responses and, when guarded, its bearer security."""

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute):
            return
        path_parameters = set(route.path_parameters)
        for handler in route.route_handlers:
            if not handler.include_in_schema:
                continue
            for method in handler.http_methods:
                codes = refusal_statuses(method, route.path_format, handler, path_parameters)
                problems = {code: problem_spec(code) for code in sorted(codes)}
                handler.responses = {**problems, **_without_made_up_examples(handler.responses or {})}
                if required_access(method, route.path_format) != "public":
                    handler.security = [{BEARER: []}]


class SwaggerDocs(SwaggerRenderPlugin):
    """Swagger UI at /api/schema/docs, its files served by the app from the swagger-ui-bundle package."""

    def __init__(self) -> None:
        assets = f"{SCHEMA_PATH}{SWAGGER_ASSETS}"
        super().__init__(
            js_url=f"{assets}/{SWAGGER_JS}",
            css_url=f"{assets}/{SWAGGER_CSS}",
            standalone_preset_js_url=f"{assets}/{SWAGGER_PRESET_JS}",
            favicon=f'<link rel="icon" type="image/png" href="{assets}/{SWAGGER_ICON}">',
            path="/docs",
        )

    def receive_router(self, router: Router) -> None:
        """Serve the UI's files; no OAuth2 redirect page, as the API takes bearer tokens only."""
        router.register(swagger_file)


@get(f"{SWAGGER_ASSETS}/{{path:str}}", include_in_schema=False, sync_to_thread=False)
def swagger_file(path: FromPath[str]) -> File:
    """One of the files the docs page loads, from the swagger-ui-bundle package."""
    media_type = SWAGGER_FILES.get(path)
    if media_type is None:
        raise NotFoundException(f"no docs file {path[:100]!r}")
    return File(Path(str(swagger_ui_path)) / path, media_type=media_type, content_disposition_type="inline")
