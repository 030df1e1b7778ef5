"""Signing in and out: a form post or JSON sets or clears the HttpOnly, SameSite=Strict token cookie."""

from __future__ import annotations

import pytest

from backend.auth import AUTH_COOKIE, FORM_ROUTES, Role
from tests.auth.conftest import Client

pytestmark = pytest.mark.anyio
SIGN_IN = "/api/v1/auth/sign-in"
SIGN_OUT = "/api/v1/auth/sign-out"
STALE = "sbt_" + "D" * 43


def cookie_attributes(set_cookie: str) -> set[str]:
    return {part.strip().lower() for part in set_cookie.split(";")[1:]}


async def test_form_sign_in_sets_the_cookie_and_goes_back(client: Client, tokens: dict[Role, str]) -> None:
    answer = await client.post(SIGN_IN, follow_redirects=False, data={"token": tokens["operator"], "next": "/instances?x=1"})
    assert answer.status_code == 303 and answer.headers["location"] == "/instances?x=1"
    set_cookie = answer.headers["set-cookie"]
    assert set_cookie.startswith(f"{AUTH_COOKIE}={tokens['operator']};")
    assert {"httponly", "samesite=strict", "path=/"} <= cookie_attributes(set_cookie)
    assert "secure" not in cookie_attributes(set_cookie)
    assert tokens["operator"] not in answer.text
    me = await client.get("/api/v1/auth/me")
    assert me.json()["actor"] == "token:op"


async def test_form_sign_in_with_a_bad_token_goes_to_the_sign_in_page(client: Client, tokens: dict[Role, str]) -> None:
    answer = await client.post(SIGN_IN, follow_redirects=False, data={"token": STALE, "next": "/audit"})
    assert answer.status_code == 303 and answer.headers["location"] == "/sign-in?error=1&next=%2Faudit"
    assert "set-cookie" not in answer.headers
    missing = await client.post(SIGN_IN, follow_redirects=False, data={})
    assert missing.headers["location"] == "/sign-in?error=1&next=%2F"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "audit", "/a\nb"])
async def test_next_is_only_ever_a_local_path(client: Client, tokens: dict[Role, str], target: str) -> None:
    answer = await client.post(SIGN_IN, follow_redirects=False, data={"token": tokens["viewer"], "next": target})
    assert answer.status_code == 303 and answer.headers["location"] == "/"


async def test_json_sign_in_answers_who_and_sets_the_cookie(client: Client, tokens: dict[Role, str]) -> None:
    answer = await client.post(SIGN_IN, json={"token": tokens["admin"]})
    assert answer.status_code == 200
    assert answer.json() == {"actor": "token:root", "role": "admin", "mode": "token", "auth_required": True}
    assert answer.headers["set-cookie"].startswith(f"{AUTH_COOKIE}={tokens['admin']};")
    assert tokens["admin"] not in answer.text


async def test_json_sign_in_refuses_a_bad_token_and_names_a_missing_one(client: Client, tokens: dict[Role, str]) -> None:
    bad = await client.post(SIGN_IN, json={"token": STALE})
    assert bad.status_code == 401 and bad.headers["content-type"].startswith("application/problem+json")
    assert "set-cookie" not in bad.headers
    for body in ({}, {"token": 5}, []):
        missing = await client.post(SIGN_IN, json=body)
        assert missing.status_code == 422 and [e["field"] for e in missing.json()["errors"]] == ["token"]


async def test_sign_out_clears_the_cookie(client: Client, tokens: dict[Role, str]) -> None:
    await client.post(SIGN_IN, json={"token": tokens["viewer"]})
    form = await client.post(SIGN_OUT, follow_redirects=False)
    assert form.status_code == 303 and form.headers["location"] == "/sign-in"
    assert "max-age=0" in cookie_attributes(form.headers["set-cookie"])
    assert (await client.get("/api/v1/auth/me")).status_code == 401
    await client.post(SIGN_IN, json={"token": tokens["viewer"]})
    as_json = await client.post(SIGN_OUT, json={})
    assert as_json.status_code == 204 and "max-age=0" in cookie_attributes(as_json.headers["set-cookie"])


async def test_sign_in_and_out_need_no_token_and_are_the_form_routes(client: Client, tokens: dict[Role, str]) -> None:
    assert FORM_ROUTES == {SIGN_IN, SIGN_OUT}
    assert (await client.post(SIGN_OUT, json={})).status_code == 204
