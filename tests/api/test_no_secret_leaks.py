"""The full-workflow leak scan: every byte a run wrote or sent is searched for every secret it handled.

Provider keys, the password and key in an endpoint variable's URL, the vault's master secrets (old and new)
and API tokens are looked for in the data folder (database, WAL, vault), every response, every live frame,
the server's log records, the process's output and the CLI's output, after a workflow that creates,
rotates, tests (in every failure class), imports, issues and revokes tokens, runs session turns (one
refused by a provider echoing the key) and rekeys the vault. Tokens may appear only where they are handed over.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest
import websockets

from backend.secret import Secret
from backend.settings import Settings
from tests.api.conftest import serving
from tests.leak_scan import files_under, find_leaks
from tests.upstreams import UpstreamServer
from tests.upstreams.fixtures import refused_urls, upstream, upstream_server
from tests.upstreams.server import Urls

__all__ = ["refused_urls", "upstream", "upstream_server"]
pytestmark = pytest.mark.anyio

KEY = "sk-switchboard-plaintext-9f8e7d6c5b4aQRST"
ROTATED_KEY = "sk-switchboard-rotated-1a2b3c4d5e6fWXYZ"
REFUSED_KEY = "sk-switchboard-refused-77aa88bb99ccLMNO"
ENV_KEY = "gsk_switchboard-from-env-5566778899EFGH"
UNREACHABLE_KEY = "sk-switchboard-nowhere-0a1b2c3d4e5fUVWX"
BAD_KEY = "sk-switchboard bad key with spaces 42IJKL"
ENDPOINT_PASSWORD = "s3cret-pw-in-the-endpoint"
ENDPOINT_QUERY_KEY = "abc123-in-the-endpoint-query"
ENDPOINT_WITH_CREDENTIALS = f"https://alice:{ENDPOINT_PASSWORD}@gw.example/v1?api-key={ENDPOINT_QUERY_KEY}"
MASTER = "correct horse battery staple 4711"
NEW_MASTER = "a brand new master passphrase 0815"
PROVIDER_KEYS = (KEY, ROTATED_KEY, REFUSED_KEY, ENV_KEY, UNREACHABLE_KEY, BAD_KEY)
ENDPOINT_SECRETS = (ENDPOINT_PASSWORD, ENDPOINT_QUERY_KEY)
FAILURES = {  # upstream behaviour -> the outcome class a connection test records
    "unauthorized": "auth_failed",
    "not_found": "not_found",
    "rate_limited": "rate_limited",
    "server_error": "server_error",
    "malformed": "bad_response",
    "slow": "timeout",
}
CLIENT_LOGGERS = ("httpx", "httpcore")  # the test's own client logs what it sends
LIVE_CLIENT_LOG = logging.getLogger("tests.live_client")  # not at DEBUG: it would print the client's own headers
LIVE_CLIENT_LOG.setLevel(logging.INFO)


class Transcript:
    """Every response (status line, headers, body) the server sent, except the one that hands a token over."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.handed_over: list[bytes] = []

    async def keep(self, response: httpx.Response) -> None:
        await response.aread()
        chunk = f"{response.status_code} {response.headers}".encode() + b"\n" + response.content
        is_token_handover = response.request.method == "POST" and response.request.url.path == "/api/v1/tokens"
        (self.handed_over if is_token_handover else self.chunks).append(chunk)


def switchboard(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    environment = {
        **os.environ,
        "SWITCHBOARD_DATA_DIR": str(settings.data_dir),
        "SWITCHBOARD_MASTER_KEY": MASTER,
        **env,
    }
    command = [sys.executable, "-m", "backend.cli", *args]
    return subprocess.run(command, env=environment, capture_output=True, check=True, timeout=120)


async def follow_live(base: str, token: str, frames: list[str], stop: anyio.Event) -> None:
    url = base.replace("http", "ws", 1) + "/api/v1/live?after=0"
    async with websockets.connect(url, additional_headers={"authorization": f"Bearer {token}"}, logger=LIVE_CLIENT_LOG) as socket:
        while not stop.is_set():
            with anyio.move_on_after(0.2):
                frames.append(str(await socket.recv()))


async def connection_test(api: httpx.AsyncClient, url: str) -> dict[str, object]:
    answer = await api.post(f"{url}/test")
    assert answer.status_code == 200, answer.text
    last_test: dict[str, object] = answer.json()["last_test"]
    return last_test


async def instance_workflow(api: httpx.AsyncClient, upstream: UpstreamServer, refused: Urls) -> str:
    """Create with a key, rotate (verified), a refused and an invalid rotation, every failure class, env import."""
    upstream.scenario.key = ROTATED_KEY
    body = {"name": "Leak check", "provider_id": "openai", "endpoint": upstream.urls.openai, "api_key": KEY}
    url = f"/api/v1/instances/{(await api.post('/api/v1/instances', json=body)).json()['id']}"
    assert (await api.put(f"{url}/credential", json={"api_key": ROTATED_KEY, "verify": True})).status_code == 200
    assert (await api.put(f"{url}/credential", json={"api_key": REFUSED_KEY, "verify": True})).status_code == 422
    assert (await api.put(f"{url}/credential", json={"api_key": BAD_KEY})).status_code == 422
    assert (await connection_test(api, url))["outcome"] == "ok"
    assert (await api.patch(url, json={"timeout_ms": 500})).status_code == 200
    upstream.scenario.error_message = f"Incorrect API key provided: {ROTATED_KEY}"  # a provider echoing the key
    for behaviour, outcome in FAILURES.items():
        upstream.scenario.behaviour = behaviour  # type: ignore[assignment]
        assert (await connection_test(api, url))["outcome"] == outcome
    upstream.scenario.reset()
    nowhere = {"name": "Nowhere", "provider_id": "openai", "endpoint": refused.openai, "api_key": UNREACHABLE_KEY}
    nowhere_url = f"/api/v1/instances/{(await api.post('/api/v1/instances', json=nowhere)).json()['id']}"
    assert (await connection_test(api, nowhere_url))["outcome"] == "unreachable"
    assert ENV_KEY[-4:] in (await api.get("/api/v1/import/env")).text
    assert len((await api.post("/api/v1/import/env")).json()["created"]) == 1
    shown = ("/api/v1/instances", "/api/v1/health", "/api/v1/catalog/providers/openai", "/api/v1/import/env")
    for path in (url, f"{url}/history", f"{url}/models", *shown):
        assert (await api.get(path)).status_code == 200
    return url


async def session_workflow(api: httpx.AsyncClient, upstream: UpstreamServer, url: str) -> None:
    """A session on the instance: one turn streamed, one refused upstream by a provider echoing the key."""
    upstream.scenario.key = ROTATED_KEY
    body = {"name": "Leak chat", "instance_id": url.rsplit("/", 1)[-1], "model_id": upstream.scenario.models[0]}
    session = (await api.post("/api/v1/sessions", json=body)).json()
    messages = f"/api/v1/sessions/{session['id']}/agents/{session['agents'][0]['id']}/messages"
    assert '"outcome":"completed"' in (await api.post(messages, json={"text": "hello"})).text
    upstream.scenario.behaviour = "unauthorized"
    upstream.scenario.error_message = f"Incorrect API key provided: {ROTATED_KEY}"
    assert '"error_outcome":"auth_failed"' in (await api.post(messages, json={"text": "again"})).text
    upstream.scenario.reset()
    for path in (messages, f"/api/v1/sessions/{session['id']}", f"/api/v1/sessions/{session['id']}/cost"):
        assert (await api.get(path)).status_code == 200


async def token_workflow(api: httpx.AsyncClient, url: str) -> str:
    """Issue an operator token, use it, revoke it; return it."""
    operator: str = (await api.post("/api/v1/tokens", json={"name": "ops", "role": "operator"})).json()["token"]
    as_operator = {"authorization": f"Bearer {operator}"}
    assert (await api.post(f"{url}/test", headers=as_operator)).status_code == 200
    assert (await api.delete(url, headers=as_operator)).status_code == 403
    ops_id = next(token["id"] for token in (await api.get("/api/v1/tokens")).json() if token["name"] == "ops")
    assert (await api.delete(f"/api/v1/tokens/{ops_id}")).status_code in (200, 204)
    assert (await api.get("/api/v1/health", headers=as_operator)).status_code == 401
    return operator


async def test_no_secret_in_any_byte_written_or_sent(
    tmp_path: Path,
    upstream: UpstreamServer,
    refused_urls: Urls,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    settings = Settings(data_dir=tmp_path / "data", master_key=Secret(MASTER))
    monkeypatch.setenv("GROQ_API_KEY", ENV_KEY)
    monkeypatch.setenv("OPENAI_API_ENDPOINT", ENDPOINT_WITH_CREDENTIALS)
    caplog.set_level(logging.DEBUG)
    created = switchboard(settings, "token", "create", "root", "--role", "admin")
    admin = created.stdout.decode().strip()
    transcript = Transcript()
    frames: list[str] = []
    stop = anyio.Event()
    with serving(settings) as base:
        logging.getLogger().addHandler(caplog.handler)  # the app's start-up replaced the root logger's handlers
        logging.getLogger().setLevel(logging.DEBUG)
        async with (
            httpx.AsyncClient(
                base_url=base, timeout=30, headers={"authorization": f"Bearer {admin}"},
                event_hooks={"response": [transcript.keep]},
            ) as api,
            anyio.create_task_group() as tasks,
        ):
            tasks.start_soon(follow_live, base, admin, frames, stop)
            url = await instance_workflow(api, upstream, refused_urls)
            await session_workflow(api, upstream, url)
            operator = await token_workflow(api, url)
            head: int = (await api.get("/api/v1/health")).json()["last_position"]
            with anyio.fail_after(10):
                while not frames or json.loads(frames[-1])["position"] < head:
                    await anyio.sleep(0.05)
            stop.set()
        while_serving = files_under(settings.data_dir)  # with the WAL, which the server's close folds away
    cli = [created.stderr]
    for command in (("events",), ("verify",), ("token", "list"), ("token", "revoke", "root")):
        done = switchboard(settings, *command)
        cli.append(done.stdout + done.stderr)
    rekeyed = switchboard(settings, "vault", "rekey", SWITCHBOARD_NEW_MASTER_KEY=NEW_MASTER)
    events_after = switchboard(settings, "events", SWITCHBOARD_MASTER_KEY=NEW_MASTER)
    cli += [rekeyed.stdout + rekeyed.stderr, events_after.stdout + events_after.stderr]

    captured = capfd.readouterr()
    server_log = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(CLIENT_LOGGERS))
    after_rekey = {f"{name} (after rekey)": data for name, data in files_under(settings.data_dir).items()}
    written = {**while_serving, **after_rekey}
    places = {
        **written,
        "responses": b"\n".join(transcript.chunks),
        "live frames": "\n".join(frames).encode(),
        "server log records": server_log.encode(),
        "stdout and stderr": (captured.out + captured.err).encode(),
        "cli output": b"\n".join(cli),
    }
    assert any(name.endswith("-wal") for name in written) and any(name.endswith(".cred") for name in written)
    assert len(frames) >= head and len(caplog.records) > 10
    assert b"VaultRekeyed" in events_after.stdout and b"TokenRevoked" in places["cli output"]
    assert admin in created.stdout.decode() and operator.encode() in b"".join(transcript.handed_over)
    assert find_leaks(places, (*PROVIDER_KEYS, *ENDPOINT_SECRETS, MASTER, NEW_MASTER, admin, operator)) == []
