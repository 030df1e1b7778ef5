"""A token appears only where it is handed over: the one create answer (or create line) and the sign-in cookie."""

from __future__ import annotations

import logging

import httpx
import pytest
import websockets

from backend.settings import Settings
from tests.auth.conftest import bearer, switchboard

pytestmark = pytest.mark.anyio
CLIENT_LOGGERS = ("websockets.client", "httpx", "httpcore")  # the test's own clients log what they send


def exchange(answer: httpx.Response) -> str:
    """Everything a client saw of an answer, and the request that caused it (minus its own credentials)."""
    request_headers = {k: v for k, v in answer.request.headers.items() if k not in ("authorization", "cookie")}
    return f"{answer.request.url} {request_headers} {answer.status_code} {dict(answer.headers)} {answer.text}"


async def test_tokens_leak_nowhere(served: str, settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    created_line = switchboard(settings, "token", "create", "root", "--role", "admin")
    admin = created_line.stdout.strip()
    seen: list[str] = [created_line.stderr]
    async with httpx.AsyncClient(base_url=served) as http:
        answer = await http.post("/api/v1/tokens", json={"name": "web", "role": "operator"}, headers=bearer(admin))
        operator = answer.json()["token"]
        handed_over = exchange(answer)
        signed_in = await http.post("/api/v1/auth/sign-in", data={"token": operator, "next": "/x"})
        assert signed_in.headers["set-cookie"].startswith(f"switchboard_token={operator};")
        signed_in.headers.pop("set-cookie")
        seen.append(exchange(signed_in))
        for path in ("/api/v1/auth/me", "/api/v1/tokens", "/api/v1/events", "/api/v1/health"):
            for token in (admin, operator):
                seen.append(exchange(await http.get(path, headers=bearer(token))))
        seen.append(exchange(await http.post("/api/v1/tokens", json={"name": "root", "role": "admin"}, headers=bearer(admin))))
        seen.append(exchange(await http.post("/api/v1/auth/sign-in", json={"token": admin + "x"})))
        seen.append(exchange(await http.post("/api/v1/auth/sign-in", content=b'{"token": ', headers={"content-type": "application/json"})))
        seen.append(exchange(await http.get("/api/v1/auth/me", headers=bearer(admin[:-1] + "?"))))
        web_id = next(t["id"] for t in (await http.get("/api/v1/tokens", headers=bearer(admin))).json() if t["name"] == "web")
        seen.append(exchange(await http.delete(f"/api/v1/tokens/{web_id}", headers=bearer(admin))))
    live = served.replace("http", "ws", 1) + "/api/v1/live"
    async with websockets.connect(live, additional_headers=bearer(admin)) as socket:
        seen.extend([str(await socket.recv()) for _ in range(4)])
    for command in (("token", "list"), ("token", "revoke", "root"), ("events",)):
        result = switchboard(settings, *command)
        seen.append(result.stdout + result.stderr)
    files = [path.read_bytes() for path in settings.data_dir.rglob("*") if path.is_file()]
    assert admin in created_line.stdout and operator in handed_over  # where they were handed over, they are found
    server_log = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(CLIENT_LOGGERS))
    assert "token_view" in server_log  # the server's own debug logging was captured
    for token in (admin, operator):
        assert not [text for text in seen if token in text]
        assert token not in server_log
        assert not [blob for blob in files if token.encode() in blob]
