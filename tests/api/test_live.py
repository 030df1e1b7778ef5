"""The live feed over a real websocket: catch-up, then live; slow clients are cut off, not buffered."""

from __future__ import annotations

import json

import anyio
import httpx
import pytest
import websockets

from backend.audit import live
from backend.audit.events import ServiceStarted
from backend.services import build_registry
from backend.settings import Settings
from events import Metadata, SQLiteEventStore

pytestmark = pytest.mark.anyio
WRITER = Metadata(actor="test-writer")


def ws_url(base: str, after: int) -> str:
    return base.replace("http", "ws", 1) + f"/api/v1/live?after={after}"


async def test_catch_up_then_live(served: str, settings: Settings) -> None:
    async with (
        SQLiteEventStore.open(settings.database_path, registry=build_registry()) as store,
        websockets.connect(ws_url(served, 0)) as socket,
    ):
        first = json.loads(await socket.recv())
        assert (first["position"], first["type"]) == (1, "ServiceStarted")
        await store.append("elsewhere", [ServiceStarted(version="x", data_dir="/d")], metadata=WRITER)
        with anyio.fail_after(5):
            second = json.loads(await socket.recv())
        assert second["position"] == 2 and second["actor"] == "test-writer"
        assert second["stream_id"] == "elsewhere"


async def test_starts_after_the_given_position(served: str, settings: Settings) -> None:
    async with SQLiteEventStore.open(settings.database_path, registry=build_registry()) as store:
        for n in range(3):
            await store.append("s", [ServiceStarted(version=str(n), data_dir="/d")], metadata=WRITER)
        async with websockets.connect(ws_url(served, 2)) as socket:
            positions = [json.loads(await socket.recv())["position"] for _ in range(2)]
    assert positions == [3, 4]


async def test_slow_client_is_disconnected_and_resumes_without_gaps(
    served: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "LIVE_BUFFER", 8)
    bulky = "x" * 8000
    total = 1500
    async with SQLiteEventStore.open(settings.database_path, registry=build_registry()) as store:
        for start in range(0, total, 250):
            batch = [ServiceStarted(version=str(n), data_dir=bulky) for n in range(start, start + 250)]
            await store.append("bulk", batch, metadata=WRITER)
    seen: list[int] = []
    closes: list[int] = []
    after = 0
    with anyio.fail_after(60):
        while len(seen) < total + 1:
            async with websockets.connect(ws_url(served, after), max_queue=1, max_size=2**20) as socket:
                if not seen:
                    await anyio.sleep(1.0)  # read nothing at first: the server's buffer fills up
                try:
                    async for frame in socket:
                        seen.append(json.loads(frame)["position"])
                        if len(seen) == total + 1:
                            break
                except websockets.ConnectionClosedError:
                    pass
                if socket.close_code is not None:
                    closes.append(socket.close_code)
            after = seen[-1] if seen else 0
    assert seen == list(range(1, total + 2))
    assert live.TRY_AGAIN_LATER in closes


async def test_a_revoked_token_ends_its_open_feed(served: str) -> None:
    async with httpx.AsyncClient(base_url=served) as http:
        admin = (await http.post("/api/v1/tokens", json={"name": "root", "role": "admin"})).json()["token"]
        as_admin = {"authorization": f"Bearer {admin}"}
        viewer = (await http.post("/api/v1/tokens", json={"name": "eye", "role": "viewer"}, headers=as_admin)).json()
        head = (await http.get("/api/v1/health", headers=as_admin)).json()["last_position"]
        as_viewer = {"authorization": f"Bearer {viewer['token']}"}
        async with websockets.connect(ws_url(served, head), additional_headers=as_viewer) as socket:
            revoked = await http.delete(f"/api/v1/tokens/{viewer['id']}", headers=as_admin)
            assert revoked.status_code == 204
            with anyio.fail_after(10), pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    assert json.loads(await socket.recv())["type"] == "TokenRevoked"
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
