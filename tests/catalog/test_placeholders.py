"""Placeholders: which variables a provider may name, and the one way `$VAR`, `${VAR}`, `${VAR:-default}` resolve."""

from __future__ import annotations

import pytest

from backend.catalog.placeholders import SHIPPED_VARIABLES, parse_placeholder, resolve
from backend.catalog.seed import load_seed
from backend.catalog.validation import provider_problems
from tests.catalog.test_validation import draft


def test_the_shipped_variables_are_exactly_those_the_seed_names() -> None:
    providers = load_seed().providers
    for field in ("api_key", "api_endpoint"):
        named = {parse_placeholder(getattr(p, field) or "") for p in providers} - {None}
        assert {placeholder.variable for placeholder in named if placeholder} == SHIPPED_VARIABLES[field]


@pytest.mark.parametrize(
    ("api_key", "ok"),
    [
        ("$SWITCHBOARD_MASTER_KEY", False),
        ("${SWITCHBOARD_API_KEY}", False),
        ("$HOME", False),
        ("$AWS_SECRET_ACCESS_KEY", False),
        ("$SCW_SECRET_KEY", True),  # the shipped catalog names it
        ("$HF_TOKEN", True),
        ("${MY_GATEWAY_API_KEY}", True),
        ("${MY_GATEWAY_API_KEY:-sk-inline-key}", False),  # a key placeholder takes no default
    ],
)
def test_a_key_placeholder_names_only_an_allowed_variable(api_key: str, ok: bool) -> None:
    problems = provider_problems("gw", draft(api_key=api_key))
    assert (problems == []) is ok
    assert all(problem.field == "api_key" for problem in problems)


@pytest.mark.parametrize(
    ("endpoint", "ok"),
    [
        ("$SWITCHBOARD_HOST", False),
        ("$OPENAI_API_KEY", False),  # a key variable never becomes a URL
        ("$SCW_SECRET_KEY", False),
        ("$OPENAI_API_ENDPOINT", True),
        ("${MY_GATEWAY_BASE_URL:-https://gw.example/v1}", True),
        ("${MY_GATEWAY_BASE_URL:-not a url}", False),
        ("$OLLAMA_HOST", True),
    ],
)
def test_an_endpoint_placeholder_names_only_an_allowed_variable(endpoint: str, ok: bool) -> None:
    problems = provider_problems("gw", draft(api_endpoint=endpoint))
    assert (problems == []) is ok
    assert all(problem.field == "api_endpoint" for problem in problems)


@pytest.mark.parametrize(
    ("text", "environ", "resolved"),
    [
        ("https://gw.example/v1", {}, "https://gw.example/v1"),
        ("$MY_BASE_URL", {"MY_BASE_URL": "http://a.example"}, "http://a.example"),
        ("${MY_BASE_URL}", {"MY_BASE_URL": "http://a.example"}, "http://a.example"),
        ("${MY_BASE_URL:-http://b.example}", {"MY_BASE_URL": "http://a.example"}, "http://a.example"),
        ("${MY_BASE_URL:-http://b.example}", {}, "http://b.example"),
        ("${MY_BASE_URL:-http://b.example}", {"MY_BASE_URL": " "}, "http://b.example"),
        ("$MY_BASE_URL", {}, ""),
        ("${MY_BASE_URL}", {}, ""),
        ("$SWITCHBOARD_HOST", {"SWITCHBOARD_HOST": "http://a.example"}, ""),
    ],
)
def test_every_form_resolves_the_same_way(text: str, environ: dict[str, str], resolved: str) -> None:
    assert resolve(text, "api_endpoint", environ) == resolved
