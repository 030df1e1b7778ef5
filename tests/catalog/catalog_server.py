"""A small Catwalk-compatible catalog service on 127.0.0.1: GET /v2/providers with an ETag."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec

from backend.catalog.catwalk import to_catwalk
from backend.catalog.seed import load_seed


class CatalogServer:
    """What the server answers; tests change `body`, `status` and `delay` between requests."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.status = 200
        self.delay = 0.0
        self.seen_if_none_match: list[str | None] = []
        self.url = ""

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


def _handler(server: CatalogServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/v2/providers":
                self.send_error(404)
                return
            server.seen_if_none_match.append(self.headers.get("If-None-Match"))
            time.sleep(server.delay)
            if server.status != 200:
                self.send_error(server.status)
                return
            if self.headers.get("If-None-Match") == server.etag:
                self.send_response(304)
                self.send_header("ETag", server.etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("ETag", server.etag)
            self.send_header("Content-Length", str(len(server.body)))
            self.end_headers()
            self.wfile.write(server.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serve_catalog(body: bytes) -> Iterator[CatalogServer]:
    """Serve `body` at http://127.0.0.1:<free port>/v2/providers until the block ends."""
    state = CatalogServer(body)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def served_list() -> list[dict[str, Any]]:
    """The shipped catalog as a Catwalk service would serve it (pioneer is not served upstream)."""
    providers = [p for p in load_seed().providers if p.id != "pioneer"]
    return [msgspec.to_builtins(to_catwalk(p)) for p in providers]
