"""Every route, with each role and with no token, answers as the permissions table says; none is left out.

The walk covers every operation in the OpenAPI schema, the routes the schema leaves out (the docs) and
the live websocket, against a real server on 127.0.0.1.
"""

from __future__ import annotations

import json

import httpx
import pytest
import websockets
from litestar.routes import WebSocketRoute

from backend.app import create_app
from backend.auth import AUTH_COOKIE, FORM_ROUTES, PERMISSIONS, ROLES, Role
from backend.auth.permissions import WEBSOCKET, Access
from backend.settings import Settings
from tests.auth.conftest import bearer

pytestmark = pytest.mark.anyio
FILL = {
    "provider_id": "openai", "instance_id": "missing", "token_id": "missing", "path": "nothing",
    "session_id": "missing", "agent_id": "missing",
}
SCHEMA_METHODS = {"get", "post", "put", "patch", "delete"}
LEVELS: list[Access] = ["public", "viewer", "operator", "admin"]
Who = Role | None


def app_routes(settings: Settings) -> set[tuple[str, str]]:
    """(method, path template) of every route the app serves, Litestar's automatic OPTIONS aside."""
    keys: set[tuple[str, str]] = set()
    for route in create_app(settings).routes:
        if isinstance(route, WebSocketRoute):
            keys.add((WEBSOCKET, route.path_format))
        else:
            keys |= {(method, route.path_format) for method in route.methods if method != "OPTIONS"}
    return keys


def test_every_route_is_in_the_table(settings: Settings) -> None:
    missing = sorted(app_routes(settings) - PERMISSIONS.keys())
    assert missing == [], f"add these to backend/auth/permissions.py: {missing}"


def policy(method: str, path: str) -> Access:
    """The rule of ISSUE7 in words: viewers read (not tokens or the environment), operators test, admins change."""
    if path in FORM_ROUTES:
        return "public"
    if method in ("GET", WEBSOCKET):
        return "admin" if path.startswith(("/api/v1/tokens", "/api/v1/import")) else "viewer"
    return "operator" if path.endswith("/test") or path.startswith("/api/v1/sessions") else "admin"


def test_the_table_follows_the_policy() -> None:
    assert {key: policy(*key) for key in PERMISSIONS} == PERMISSIONS


def outcome(access: Access, who: Who) -> str:
    if who is None:
        return "allowed" if access == "public" else "401"
    return "allowed" if LEVELS.index(who) >= LEVELS.index(access) else "403"


def seen(status: int) -> str:
    return str(status) if status in (401, 403) else "allowed"


async def issue_all(http: httpx.AsyncClient) -> dict[Role, str]:
    tokens: dict[Role, str] = {}
    for role in ("admin", "operator", "viewer"):
        headers = bearer(tokens["admin"]) if tokens else {}
        answer = await http.post("/api/v1/tokens", json={"name": f"{role}-walker", "role": role}, headers=headers)
        assert answer.status_code == 201, answer.text
        tokens[role] = answer.json()["token"]
    return tokens


async def walk_http(http: httpx.AsyncClient, tokens: dict[Role, str], routes: set[tuple[str, str]]) -> list[str]:
    wrong: list[str] = []
    for method, path in sorted(routes):
        access = PERMISSIONS[(method, path)]
        for who in (None, *ROLES):
            headers = bearer(tokens[who]) if who else {}
            body = {} if method == "GET" else {"json": {}}
            answer = await http.request(method, path.format(**FILL), headers=headers, **body)
            if seen(answer.status_code) != outcome(access, who):
                wrong.append(f"{method} {path} as {who}: {answer.status_code}, table says {outcome(access, who)}")
            elif answer.status_code in (401, 403):
                assert answer.headers["content-type"].startswith("application/problem+json")
    return wrong


async def live_answer(url: str, who: Who, tokens: dict[Role, str]) -> str:
    headers = bearer(tokens[who]) if who else {}
    try:
        async with websockets.connect(url, additional_headers=headers, open_timeout=10) as socket:
            assert json.loads(await socket.recv())["position"] >= 1
            return "allowed"
    except websockets.InvalidStatus as refused:
        return str(refused.response.status_code)


async def test_each_role_gets_what_the_table_says(served: str, settings: Settings) -> None:
    async with httpx.AsyncClient(base_url=served) as http:
        tokens = await issue_all(http)
        schema = (await http.get("/api/schema/openapi.json", headers=bearer(tokens["viewer"]))).json()
        documented = {(m.upper(), path) for path, ops in schema["paths"].items() for m in ops if m in SCHEMA_METHODS}
        served_routes = app_routes(settings)
        assert documented and documented <= served_routes
        wrong = await walk_http(http, tokens, served_routes - {(WEBSOCKET, "/api/v1/live")})
    live = served.replace("http", "ws", 1) + "/api/v1/live"
    for who in (None, *ROLES):
        answer = await live_answer(live, who, tokens)
        if answer != ("allowed" if who else "403"):
            wrong.append(f"WEBSOCKET /api/v1/live as {who}: {answer}")
    assert wrong == []


async def test_automatic_options_answers_are_refused(served: str) -> None:
    async with httpx.AsyncClient(base_url=served) as http:
        assert (await http.options("/api/v1/instances")).status_code == 403


async def test_live_takes_the_cookie_but_never_a_token_in_the_url(served: str) -> None:
    async with httpx.AsyncClient(base_url=served) as http:
        tokens = await issue_all(http)
    live = served.replace("http", "ws", 1) + "/api/v1/live"
    cookie = {"Cookie": f"{AUTH_COOKIE}={tokens['viewer']}"}
    async with websockets.connect(live, additional_headers=cookie, open_timeout=10) as socket:
        assert json.loads(await socket.recv())["position"] == 1
    for query in (f"?token={tokens['admin']}", f"?access_token={tokens['admin']}"):
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(live + query, open_timeout=10):
                pass
