"""A full instance workflow on a real server, then every byte it wrote or sent is searched for the keys."""

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

from backend.settings import Settings
from tests.api.conftest import served
from tests.instances.conftest import OTHER_SECRET, SECRET
from tests.upstreams import UpstreamServer

__all__ = ["served"]
pytestmark = pytest.mark.anyio

REFUSED_SECRET = "sk-switchboard-refused-77aa88bb99ccLMNO"
ENV_SECRET = "gsk_switchboard-from-env-5566778899EFGH"
SECRETS = (SECRET, OTHER_SECRET, REFUSED_SECRET, ENV_SECRET)


class Transcript:
    """Every response (status line, headers, body) the server sent during the run."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    async def keep(self, response: httpx.Response) -> None:
        await response.aread()
        self.chunks.append(f"{response.status_code} {response.headers}".encode())
        self.chunks.append(response.content)


async def follow_live(base: str, frames: list[str], stop: anyio.Event) -> None:
    async with websockets.connect(base.replace("http", "ws", 1) + "/api/v1/live?after=0") as socket:
        while not stop.is_set():
            with anyio.move_on_after(0.2):
                frames.append(str(await socket.recv()))


async def workflow(api: httpx.AsyncClient, upstream: UpstreamServer) -> int:
    """Create with a key, rotate (verified), a refused rotation, test, env import, history, list, export."""
    upstream.scenario.key = OTHER_SECRET
    body = {"name": "Leak check", "provider_id": "openai", "endpoint": upstream.urls.openai, "api_key": SECRET}
    created = (await api.post("/api/v1/instances", json=body)).json()
    url = f"/api/v1/instances/{created['id']}"
    assert (await api.put(f"{url}/credential", json={"api_key": OTHER_SECRET, "verify": True})).status_code == 200
    assert (await api.put(f"{url}/credential", json={"api_key": REFUSED_SECRET, "verify": True})).status_code == 422
    assert (await api.post(f"{url}/test")).json()["last_test"]["outcome"] == "ok"
    upstream.scenario.key = "sk-something-else-entirely"
    assert (await api.post(f"{url}/test")).json()["last_test"]["outcome"] == "auth_failed"
    assert ENV_SECRET[-4:] in (await api.get("/api/v1/import/env")).text
    assert len((await api.post("/api/v1/import/env")).json()["created"]) == 1
    for path in (url, f"{url}/history", f"{url}/models", "/api/v1/instances", "/api/v1/health"):
        assert (await api.get(path)).status_code == 200
    head: int = (await api.get("/api/v1/health")).json()["last_position"]
    events = (await api.get("/api/v1/events", params={"limit": 500})).json()["events"]
    assert len(events) == head
    return head


def cli_export(settings: Settings) -> bytes:
    environment = {**os.environ, "SWITCHBOARD_DATA_DIR": str(settings.data_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "backend.cli", "events"], env=environment, capture_output=True, check=True, timeout=60
    )
    return done.stdout + done.stderr


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


async def test_no_key_in_any_byte_written_or_sent(
    served: str,
    settings: Settings,
    upstream: UpstreamServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GROQ_API_KEY", ENV_SECRET)
    caplog.set_level(logging.DEBUG)
    transcript = Transcript()
    frames: list[str] = []
    stop = anyio.Event()
    async with (
        httpx.AsyncClient(base_url=served, event_hooks={"response": [transcript.keep]}) as api,
        anyio.create_task_group() as tasks,
    ):
        tasks.start_soon(follow_live, served, frames, stop)
        head = await workflow(api, upstream)
        with anyio.fail_after(10):
            while not frames or json.loads(frames[-1])["position"] < head:
                await anyio.sleep(0.05)
        stop.set()
    captured = capfd.readouterr()
    written = {str(path): path.read_bytes() for path in files_under(settings.data_dir)}
    assert any(name.endswith("-wal") for name in written) and any(name.endswith(".cred") for name in written)
    places = {
        **written,
        "responses": b"\n".join(transcript.chunks),
        "live frames": "\n".join(frames).encode(),
        "log records": "\n".join(record.getMessage() for record in caplog.records).encode(),
        "stdout and stderr": (captured.out + captured.err).encode(),
        "cli export": cli_export(settings),
    }
    assert len(frames) >= head and len(caplog.records) > 10
    assert b"CredentialRotated" in places["cli export"] and b"CredentialVerificationFailed" in places["responses"]
    leaks = [(place, secret[-4:]) for place, data in places.items() for secret in SECRETS if secret.encode() in data]
    assert leaks == []
