"""`switchboard api` as a child process on a free port and its own data folder, as an operator would run it (and as
a crash would end it: killed outright, then started again on the same port and folder)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60
PROVIDER_KEYS = ("_API_KEY", "_API_TOKEN", "_ACCESS_KEY")
"""Variables the environment import would pick up: left out, so only what a test creates is there."""


class LiveApi:
    """`switchboard api` serving `env`'s data folder on its port; it can be killed outright and started again on
    the same port and folder, its output appended to `log` each time."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.base = f"http://127.0.0.1:{env['SWITCHBOARD_PORT']}"
        self._server: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._server is not None, "the server is not running"
        return self._server.pid

    def start(self) -> None:
        """Start the server and return once it answers."""
        self.spawn()
        assert self._server is not None
        _wait_until_serving(self.base, self._server, self.log)

    def spawn(self) -> None:
        """Start the server and return at once, while it starts up."""
        with self.log.open("ab") as output:
            self._server = subprocess.Popen(
                [sys.executable, "-m", "backend.cli", "api"], env=self.env, cwd=ROOT, stdout=output, stderr=output
            )

    def kill(self) -> None:
        """SIGKILL: the process ends on the spot, with no shutdown of any kind (as the OOM killer ends it)."""
        assert self._server is not None, "the server is not running"
        self._server.kill()
        self._server.wait(timeout=30)
        self._server = None

    def stop(self) -> None:
        """SIGTERM, and wait for the server to shut down; nothing when it is not running."""
        if self._server is not None:
            self._server.terminate()
            self._server.wait(timeout=30)
            self._server = None


def server_environment(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment of a `switchboard` child process: this checkout's code, the given folder and port."""
    kept = {name: value for name, value in os.environ.items() if not name.endswith(PROVIDER_KEYS)}
    return {**kept, "SWITCHBOARD_DATA_DIR": str(data_dir), "SWITCHBOARD_PORT": str(port), "PYTHONPATH": str(ROOT), **extra}


def switchboard(env: dict[str, str], *arguments: str) -> str:
    """Run one `switchboard` command to its end; its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "backend.cli", *arguments], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"switchboard {' '.join(arguments)} failed: {done.stderr}"
    return done.stdout


def _wait_until_serving(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"switchboard api exited with {server.returncode}:\n{log.read_text()[-4000:]}")
        try:
            httpx.get(f"{base}/api/v1/health", timeout=2)  # any answer (a 401 once tokens exist) means serving
            return
        except httpx.TransportError:
            time.sleep(0.1)  # polling for the port to open; nothing to wait on but the process itself
    raise RuntimeError(f"switchboard api did not serve within {START_TIMEOUT_S} s:\n{log.read_text()[-4000:]}")


@contextmanager
def live_api(env: dict[str, str], log: Path) -> Iterator[LiveApi]:
    """Serve the API alone with `env` (see server_environment) until the block ends; its output goes to `log`."""
    api = LiveApi(env, log)
    api.start()
    try:
        yield api
    finally:
        api.stop()
