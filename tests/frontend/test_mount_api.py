"""The one-port app: Reflex's own pages and event socket get the API's Host, origin and header rules."""

from __future__ import annotations

import runpy
from pathlib import Path

import anyio
import httpx
import pytest
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from backend.app import create_app
from backend.settings import Settings
from backend.site_guard import SECURITY_HEADERS
from frontend.app import mount_api

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
OWN = "http://127.0.0.1:3000"
EVIL = "http://evil.example"
EVENT_SOCKET = "/_event/"


async def stand_in_for_reflex(scope: Scope, receive: Receive, send: Send) -> None:
    """Accepts every websocket and answers every request with a page, as Reflex's routes would."""
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
    await send({"type": "http.response.body", "body": b"<html>page</html>"})


@pytest.fixture
def one_port_app(tmp_path: Path) -> ASGIApp:
    settings = Settings(data_dir=tmp_path / "data")
    app: ASGIApp = mount_api(create_app(settings), settings)(stand_in_for_reflex)
    return app


def http_client(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=OWN)  # type: ignore[arg-type]


async def open_socket(app: ASGIApp, headers: dict[str, str]) -> Message:
    """The server's first answer to a websocket handshake at Reflex's event socket."""
    raw = [(name.encode(), value.encode()) for name, value in {"host": "127.0.0.1:3000", **headers}.items()]
    scope = {"type": "websocket", "path": EVENT_SOCKET, "query_string": b"EIO=4&transport=websocket", "headers": raw}
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    with anyio.fail_after(5):
        await app(scope, receive, send)  # type: ignore[arg-type]
    return sent[0]


@pytest.mark.parametrize("origin", [EVIL, "null", "http://localhost:4000"])
async def test_the_event_socket_refuses_other_sites(one_port_app: ASGIApp, origin: str) -> None:
    answer = await open_socket(one_port_app, {"origin": origin})
    assert answer == {"type": "websocket.close", "code": 1008, "reason": "Cross-site request refused"}


async def test_the_event_socket_refuses_a_foreign_host(one_port_app: ASGIApp) -> None:
    answer = await open_socket(one_port_app, {"origin": OWN, "host": "rebound.evil.example:3000"})
    assert answer["type"] == "websocket.close"


@pytest.mark.parametrize("headers", [{"origin": OWN}, {"origin": "http://[::1]:3000"}, {}])
async def test_the_event_socket_takes_the_apps_origins_and_non_browser_clients(
    one_port_app: ASGIApp, headers: dict[str, str]
) -> None:
    assert (await open_socket(one_port_app, headers))["type"] == "websocket.accept"


@pytest.mark.parametrize("path", ["/", "/audit", "/_event/?EIO=4", "/api/v1/nowhere", "/api/schema/openapi.json"])
async def test_pages_and_api_answers_carry_the_security_headers(one_port_app: ASGIApp, path: str) -> None:
    async with http_client(one_port_app) as client:
        response = await client.get(path)
    for name, value in SECURITY_HEADERS:
        assert response.headers.get_list(name.decode()) == [value.decode()]


async def test_pages_refuse_a_foreign_host(one_port_app: ASGIApp) -> None:
    async with http_client(one_port_app) as client:
        response = await client.get("/audit", headers={"host": "rebound.evil.example:3000"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


async def test_reflex_routes_take_own_origin_posts_of_any_type_but_not_foreign_ones(one_port_app: ASGIApp) -> None:
    form = {"content-type": "multipart/form-data; boundary=x"}
    async with http_client(one_port_app) as client:
        own = await client.post("/_upload", content=b"--x--", headers={**form, "origin": OWN})
        forged = await client.post("/_upload", content=b"--x--", headers={**form, "origin": EVIL})
    assert own.status_code == 200
    assert forged.status_code == 403


def test_reflex_socket_origins_come_from_the_same_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_PORT", "4711")
    monkeypatch.delenv("SWITCHBOARD_ALLOWED_ORIGINS", raising=False)
    config = runpy.run_path(str(ROOT / "rxconfig.py"))["config"]
    assert list(config.cors_allowed_origins) == ["http://127.0.0.1:4711", "http://localhost:4711", "http://[::1]:4711"]
    monkeypatch.setenv("SWITCHBOARD_ALLOWED_ORIGINS", "https://sb.example")
    config = runpy.run_path(str(ROOT / "rxconfig.py"))["config"]
    assert list(config.cors_allowed_origins) == ["https://sb.example"]
