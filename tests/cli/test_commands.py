"""`switchboard instances|catalog|sessions|views`: tables, --json, events as cli:<user>, one-line refusals."""

from __future__ import annotations

import getpass
import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from backend.settings import Settings
from tests.cli.test_cli import SWITCHBOARD
from tests.conftest import api_client
from tests.instances.conftest import OTHER_SECRET, SECRET
from tests.sessions.conftest import instance, session
from tests.upstreams import UpstreamServer
from tests.upstreams.fixtures import upstream, upstream_server

__all__ = ["upstream", "upstream_server"]

pytestmark = pytest.mark.anyio


def cli_env(settings: Settings) -> dict[str, str]:
    """The environment of a command run on the settings' data folder, and on their database and master key when
    they name them."""
    env = {**os.environ, "SWITCHBOARD_DATA_DIR": str(settings.data_dir)}
    for name, value in (("SWITCHBOARD_DATABASE_URL", settings.database_url), ("SWITCHBOARD_MASTER_KEY", settings.master_key)):
        if value is not None:
            env[name] = value.reveal()
    return env


def cli(settings: Settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([SWITCHBOARD, *args], env=cli_env(settings), input=stdin, capture_output=True, text=True,
                          timeout=60)


def ok_json(result: subprocess.CompletedProcess[str]) -> object:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def table(result: subprocess.CompletedProcess[str]) -> list[list[str]]:
    assert result.returncode == 0, result.stderr
    return [line.split() for line in result.stdout.splitlines()]


async def started(settings: Settings) -> None:
    """A data folder the server has opened once."""
    async with api_client(settings) as client:
        assert (await client.get("/api/v1/health")).status_code == 200


async def test_instances_add_show_test_rotate_delete(tmp_path: Path, upstream: UpstreamServer) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    await started(settings)
    upstream.scenario.key = SECRET
    add = ["instances", "add", "Local Dev", "--provider", "openai", "--endpoint", upstream.urls.openai, "--key-stdin"]
    created = ok_json(cli(settings, *add, "--json", stdin=SECRET + "\n"))
    assert isinstance(created, dict) and created["credential"]["last4"] == SECRET[-4:]
    instance_id = str(created["id"])

    listed = table(cli(settings, "instances", "list"))
    assert listed[0][:4] == ["ID", "NAME", "PROVIDER", "STATUS"]
    assert [row[0] for row in listed[1:]] == [instance_id]
    assert [item["id"] for item in ok_json(cli(settings, "instances", "list", "--json"))] == [instance_id]  # type: ignore[union-attr]
    shown = cli(settings, "instances", "show", "Local Dev")
    assert shown.returncode == 0 and instance_id in shown.stdout and f"...{SECRET[-4:]} v1" in shown.stdout

    tested = cli(settings, "instances", "test", instance_id)
    assert tested.returncode == 0 and "ok" in tested.stdout
    rotated = ok_json(cli(settings, "instances", "rotate", instance_id, "--json", stdin=OTHER_SECRET + "\n"))
    assert rotated["credential"]["version"] == 2 and rotated["credential"]["last4"] == OTHER_SECRET[-4:]  # type: ignore[index]
    failed = cli(settings, "instances", "test", instance_id)  # the upstream still wants the first key
    assert failed.returncode == 1 and "auth_failed" in failed.stdout

    deleted = cli(settings, "instances", "delete", instance_id)
    assert deleted.returncode == 0, deleted.stderr
    gone = cli(settings, "instances", "show", instance_id)
    assert gone.returncode == 1 and gone.stderr.count("\n") == 1 and instance_id in gone.stderr

    async with api_client(settings) as client:
        history = (await client.get(f"/api/v1/instances/{instance_id}/history")).json()
    assert {event["actor"] for event in history} == {f"cli:{getpass.getuser()}"}
    assert len(history) >= 5
    everything = "".join(result.stdout + result.stderr for result in (shown, tested, failed, deleted, gone))
    assert SECRET not in everything and OTHER_SECRET not in everything


async def test_catalog_search_as_table_and_json(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    await started(settings)
    page = ok_json(cli(settings, "catalog", "search", "gpt", "--provider", "openai", "--limit", "3", "--json"))
    assert isinstance(page, dict) and page["total"] >= len(page["items"]) > 0
    assert {item["provider_id"] for item in page["items"]} == {"openai"}
    rows = table(cli(settings, "catalog", "search", "gpt", "--provider", "openai", "--limit", "3"))
    assert rows[0] == ["PROVIDER", "MODEL", "NAME", "CONTEXT", "IN", "$/1M", "OUT", "$/1M"]
    assert [row[1] for row in rows[1:]] == [item["model"]["id"] for item in page["items"]]


async def test_sessions_list_and_show(tmp_path: Path, upstream: UpstreamServer) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    async with api_client(settings) as client:
        created = await session(client, await instance(client, upstream))
    listed = ok_json(cli(settings, "sessions", "list", "--json"))
    assert [item["id"] for item in listed] == [created["id"]]  # type: ignore[union-attr]
    rows = table(cli(settings, "sessions", "list"))
    assert rows[0][:2] == ["ID", "NAME"] and rows[1][:2] == [created["id"], "Chat"]
    shown = cli(settings, "sessions", "show", str(created["id"]))
    assert shown.returncode == 0 and "Local" in shown.stdout and "local-small" in shown.stdout
    assert ok_json(cli(settings, "sessions", "show", str(created["id"]), "--json"))["name"] == "Chat"  # type: ignore[index]


async def test_views_rebuild_keeps_what_the_views_show(tmp_path: Path, upstream: UpstreamServer) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    async with api_client(settings) as client:
        await session(client, await instance(client, upstream))
    before = (*await searched(settings), *shown(settings))
    rebuilt = cli(settings, "views", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    names = {line.split()[1] for line in rebuilt.stdout.splitlines()}
    assert names == {"audit_instance_refs", "audit_search", "instances", "sessions", "tokens"}
    assert cli(settings, "views", "rebuild", "instances").returncode == 0
    after = (*await searched(settings), *shown(settings))
    assert after == before and before[0]
    unknown = cli(settings, "views", "rebuild", "nonsense")
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1 and "instances" in unknown.stderr


async def test_views_check_compares_every_view_with_a_rebuild_and_names_one_that_differs(
    tmp_path: Path, upstream: UpstreamServer
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    async with api_client(settings) as client:
        await session(client, await instance(client, upstream))
        await client.get("/api/v1/audit/events", params={"q": "Local"})  # the search index has caught up
    checked = cli(settings, "views", "check")
    assert checked.returncode == 0, checked.stderr
    lines = {line.split(":")[0]: line for line in checked.stdout.splitlines()}
    assert set(lines) == {"audit_instance_refs", "audit_search", "instances", "sessions", "tokens"}
    assert all("equal to a rebuild" in line for line in lines.values())
    with sqlite3.connect(settings.database_path) as conn:
        conn.execute("UPDATE session_view SET open_turns = 1")
    conn.close()
    differing = cli(settings, "views", "check", "--json")
    assert differing.returncode == 1 and "sessions differ from a rebuild" in differing.stderr
    found = {item["view"]: item for item in json.loads(differing.stdout)}
    assert (found["sessions"]["equal"], found["sessions"]["missing"], found["sessions"]["extra"]) == (False, 1, 1)
    assert found["audit_search"]["equal"] and found["audit_search"]["rows"] > 0
    assert cli(settings, "views", "check", "sessions").returncode == 1  # the check left the view as it was
    assert cli(settings, "views", "check", "instances").returncode == 0


def shown(settings: Settings) -> tuple[str, str]:
    return cli(settings, "instances", "list", "--json").stdout, cli(settings, "sessions", "list", "--json").stdout


async def searched(settings: Settings) -> tuple[list[int]]:
    """The positions the audit search finds for the instance's name."""
    async with api_client(settings) as client:
        found = (await client.get("/api/v1/audit/events", params={"q": "Local", "order": "oldest"})).json()
    return ([event["position"] for event in found["events"]],)


@pytest.mark.parametrize(
    "args",
    [
        ("instances", "frobnicate"),
        ("instances", "add", "No provider"),
        ("catalog", "search", "--limit", "many"),
        ("verify", "--expect-head"),
        ("instances", "add", "X", "--provider", "openai", "--header", "no-equals-sign"),
        ("backup",),
        ("nonsense",),
    ],
)
async def test_bad_arguments_are_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...]) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    result = cli(settings, *args)
    assert result.returncode == 2
    assert result.stdout == "" and result.stderr.count("\n") == 1 and result.stderr.startswith("switchboard: ")
    assert not settings.data_dir.exists()
