"""Start Switchboard as `make run` does (on a free port, with a temp data dir) and open Chromium on it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("SWITCHBOARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
START_TIMEOUT_S = 600
ENV_IMPORT_KEY = "sk-e2e-environment-4321"
SERVER_ENVIRONMENT = {"NEBIUS_API_KEY": ENV_IMPORT_KEY}  # a provider key for the environment import page to find


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_healthy(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"switchboard run exited early:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                if httpx.get(f"{base}/audit", timeout=5, follow_redirects=True).status_code == 200:
                    return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"switchboard run did not become healthy:\n{log.read_text()[-4000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the app and everything it started (its own process group)."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class RunningApp:
    """The served app: its base URL, data folder and the project folder it is served from."""

    def __init__(
        self, base_url: str, data_dir: Path, process: subprocess.Popen[bytes] | None = None, root: Path = ROOT
    ) -> None:
        self.base_url = base_url
        self.data_dir = data_dir
        self.root = root
        self._process = process

    def kill(self) -> None:
        """Kill the app and everything it started at once, as a crash would (a test of what the pages do then)."""
        if self._process is not None:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()

    def env(self) -> dict[str, str]:
        return {**os.environ, "SWITCHBOARD_DATA_DIR": str(self.data_dir)}


def project_copy(into: Path) -> Path:
    """The project's sources copied to `into`, sharing the tools: an app served from there builds its own web
    folder, so it can be stopped (or started) without touching the pages another served app is using."""
    copy = into / "project"
    skipped = shutil.ignore_patterns(".git", ".web", ".states", ".tools", "__pycache__", "data")
    shutil.copytree(ROOT, copy, ignore=skipped)
    (copy / ".tools").symlink_to(ROOT / ".tools")
    return copy


@contextmanager
def serve_app(data_dir: Path, root: Path = ROOT) -> Iterator[RunningApp]:
    """`switchboard run` from `root` on a free port with its data in `data_dir`, until the block ends."""
    port = _free_port()
    log = data_dir.parent / "switchboard.log"
    env = {
        **os.environ,
        **SERVER_ENVIRONMENT,
        "SWITCHBOARD_DATA_DIR": str(data_dir),
        "SWITCHBOARD_PORT": str(port),
        "REFLEX_TELEMETRY_ENABLED": "false",
        "PATH": f"{ROOT / '.tools' / 'node_modules' / '.bin'}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join((str(root), os.environ.get("PYTHONPATH", ""))),
    }
    command = [str(Path(sys.executable).with_name("switchboard")), "run"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(base, process, log)
        yield RunningApp(base, data_dir, process, root)
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def running_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    with serve_app(tmp_path_factory.mktemp("e2e") / "data") as app:
        yield app


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


class ConsoleErrors(list[str]):
    """Errors the page logged to its console or threw."""


@pytest.fixture
def console_errors() -> ConsoleErrors:
    return ConsoleErrors()


@pytest.fixture
def page(browser: Browser, console_errors: ConsoleErrors) -> Iterator[Page]:
    context = browser.new_context()
    opened = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            console_errors.append(f"{message.text} ({message.location.get('url', '')})")

    opened.on("console", on_console)
    opened.on("pageerror", lambda error: console_errors.append(str(error)))
    yield opened
    context.close()
