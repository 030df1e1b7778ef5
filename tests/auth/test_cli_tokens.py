"""`switchboard token create|list|revoke` in its own process, beside a running server that sees its tokens at once."""

from __future__ import annotations

import getpass
import json
import re

import httpx
import pytest

from backend.settings import Settings
from tests.auth.conftest import bearer, free_port, switchboard

TOKEN = re.compile(r"sbt_[A-Za-z0-9_-]{43}")


def create(settings: Settings, name: str, role: str) -> str:
    result = switchboard(settings, "token", "create", name, "--role", role)
    assert result.returncode == 0, result.stderr
    assert TOKEN.fullmatch(result.stdout.strip()) and result.stdout.count("\n") == 1
    token = result.stdout.strip()
    assert token not in result.stderr and f"'{name}'" in result.stderr and "only this once" in result.stderr
    return token


def test_create_list_revoke_as_the_os_user(settings: Settings) -> None:
    token = create(settings, "alice", "operator")
    listed = switchboard(settings, "token", "list")
    assert listed.returncode == 0 and token not in listed.stdout + listed.stderr
    [header, row] = listed.stdout.splitlines()
    assert header.split()[:4] == ["ID", "NAME", "ROLE", "HASH"]
    token_id, name, role, prefix, *_ = row.split()
    assert (name, role) == ("alice", "operator") and re.fullmatch(r"[0-9a-f]{8}", prefix)
    assert row.endswith("active") and f"cli:{getpass.getuser()}" in row
    revoked = switchboard(settings, "token", "revoke", "alice")
    assert revoked.returncode == 0 and token_id in revoked.stdout and token not in revoked.stdout
    assert "revoked" in switchboard(settings, "token", "list").stdout.splitlines()[1]
    events = switchboard(settings, "events", "--after", "0")
    lines = [json.loads(line) for line in events.stdout.splitlines()]
    assert [(line["type"], line["actor"]) for line in lines] == [
        ("TokenIssued", f"cli:{getpass.getuser()}"), ("TokenRevoked", f"cli:{getpass.getuser()}")
    ]
    assert token not in events.stdout


def test_revoke_by_id_and_refusals(settings: Settings) -> None:
    create(settings, "ci", "viewer")
    duplicate = switchboard(settings, "token", "create", "CI", "--role", "admin")
    assert duplicate.returncode == 1 and "a token named 'CI' exists" in duplicate.stderr and not duplicate.stdout
    bad_name = switchboard(settings, "token", "create", "two words", "--role", "admin")
    assert bad_name.returncode == 1 and "name:" in bad_name.stderr
    assert switchboard(settings, "token", "create", "x", "--role", "owner").returncode == 2
    assert switchboard(settings, "token", "revoke", "nobody").returncode == 1
    pasted = "sbt_" + "E" * 43
    for mistake in (("create", pasted, "--role", "viewer"), ("revoke", pasted)):
        result = switchboard(settings, "token", *mistake)
        assert result.returncode == 1 and pasted not in result.stdout + result.stderr
    token_id = switchboard(settings, "token", "list").stdout.splitlines()[1].split()[0]
    assert switchboard(settings, "token", "revoke", token_id).returncode == 0
    assert switchboard(settings, "token", "revoke", token_id).returncode == 1


def test_a_running_server_sees_cli_tokens_at_once(served: str, settings: Settings) -> None:
    with httpx.Client(base_url=served) as http:
        assert http.get("/api/v1/auth/me").json()["mode"] == "local"
        token = create(settings, "ops", "admin")
        assert http.get("/api/v1/auth/me").status_code == 401
        assert http.get("/api/v1/auth/me", headers=bearer(token)).json()["actor"] == "token:ops"
        assert switchboard(settings, "token", "revoke", "ops").returncode == 0
        assert http.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401
        assert http.get("/api/v1/auth/me").status_code == 401  # revoked, not reopened


@pytest.mark.parametrize("command", ["api", "run"])
def test_serving_beyond_loopback_needs_an_admin_token_first(settings: Settings, command: str) -> None:
    beyond = {"SWITCHBOARD_HOST": "0.0.0.0", "SWITCHBOARD_PORT": str(free_port())}
    refused = switchboard(settings, command, **beyond)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "switchboard: refusing to serve on 0.0.0.0: it is not a loopback address and no admin token exists; "
        "create one first: switchboard token create admin --role admin"
    )
