"""Which origins and host names the settings allow, and the rules for form routes."""

from __future__ import annotations

from pathlib import Path

import pytest
from litestar.types import Scope

from backend.settings import Settings, host_name, origins_from_env
from backend.site_guard import SiteRules, refusal

LOOPBACK = ("http://127.0.0.1:3000", "http://localhost:3000", "http://[::1]:3000")


def test_the_default_origins_are_the_loopback_origins_of_the_port() -> None:
    assert origins_from_env({}) == LOOPBACK
    assert origins_from_env({"SWITCHBOARD_PORT": "8123"})[0] == "http://127.0.0.1:8123"
    assert Settings(data_dir=Path("d"), port=8123).allowed_origins == origins_from_env({"SWITCHBOARD_PORT": "8123"})


def test_configured_origins_replace_the_defaults() -> None:
    env = {"SWITCHBOARD_ALLOWED_ORIGINS": " https://sb.example/ , http://10.0.0.5:3000,,", "SWITCHBOARD_PORT": "1"}
    assert origins_from_env(env) == ("https://sb.example", "http://10.0.0.5:3000")


def test_allowed_hosts_are_loopback_the_bound_address_and_the_origins_hosts() -> None:
    settings = Settings(data_dir=Path("d"), host="::", allowed_origins=("https://SB.example:8443",))
    assert settings.allowed_hosts == {"127.0.0.1", "localhost", "[::1]", "[::]", "sb.example"}


@pytest.mark.parametrize(
    ("host", "name"),
    [("127.0.0.1:3000", "127.0.0.1"), ("[::1]:3000", "[::1]"), ("[::1]", "[::1]"), ("::1", "[::1]"),
     ("LocalHost", "localhost"), ("", "")],
)
def test_host_names_drop_the_port(host: str, name: str) -> None:
    assert host_name(host) == name


def post(path: str, headers: dict[str, str]) -> Scope:
    raw = [(name.encode(), value.encode()) for name, value in {"host": "127.0.0.1:3000", **headers}.items()]
    scope: Scope = {"type": "http", "method": "POST", "path": path, "headers": raw}  # type: ignore[typeddict-item]
    return scope


@pytest.mark.parametrize("path", ["/api/v1/auth/sign-in", "/api/v1/auth/sign-out"])
def test_form_routes_take_forms_from_the_app_but_not_from_other_sites(path: str) -> None:
    rules = SiteRules.from_settings(Settings(data_dir=Path("d")))
    form = {"content-type": "application/x-www-form-urlencoded", "content-length": "7"}
    assert refusal(rules, post(path, form)) is None
    assert refusal(rules, post(path, {**form, "origin": "http://localhost:3000"})) is None
    foreign = refusal(rules, post(path, {**form, "origin": "http://evil.example"}))
    assert foreign is not None and foreign.status == 403
    cross_site = refusal(rules, post(path, {**form, "sec-fetch-site": "cross-site"}))
    assert cross_site is not None and cross_site.status == 403
    other = refusal(rules, post("/api/v1/instances", form))
    assert other is not None and other.status == 415
