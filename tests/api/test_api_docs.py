"""The OpenAPI schema tells the truth: problem+json on every refusal, each status a route can answer,
request bodies with their fields; and the docs page runs on assets the app serves itself."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.errors import PROBLEM_JSON

pytestmark = pytest.mark.anyio
Client = AsyncTestClient[Litestar]
Schema = dict[str, object]
PROBLEM_REF = "#/components/schemas/Problem"
METHODS = ("get", "post", "put", "patch", "delete")
INSTANCE = "/api/v1/instances/{instance_id}"
JSON = {"content-type": "application/json"}


async def openapi(client: Client) -> Schema:
    response = await client.get("/api/schema/openapi.json")
    assert response.status_code == 200
    schema: Schema = response.json()
    return schema


def operations(schema: Schema) -> Iterator[tuple[str, str, Schema]]:
    paths = schema["paths"]
    assert isinstance(paths, dict)
    for path, item in paths.items():
        for method in METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def operation(schema: Schema, method: str, path: str) -> Schema:
    found = [op for m, p, op in operations(schema) if (m, p) == (method, path)]
    assert found, f"{method} {path} is not in the schema"
    return found[0]


def statuses(schema: Schema, method: str, path: str) -> set[int]:
    responses = operation(schema, method, path)["responses"]
    assert isinstance(responses, dict)
    return {int(code) for code in responses}


def component(schema: Schema, name: str) -> Schema:
    components = schema["components"]
    assert isinstance(components, dict)
    found: Schema = components["schemas"][name]
    return found


async def test_every_refusal_is_documented_as_a_problem(client: Client) -> None:
    schema = await openapi(client)
    problem = component(schema, "Problem")
    assert set(problem["properties"]) == {"type", "title", "status", "detail", "errors"}  # type: ignore[arg-type]
    assert set(component(schema, "FieldError")["properties"]) == {"field", "message"}  # type: ignore[arg-type]
    refusals = 0
    for method, path, op in operations(schema):
        for code, response in op["responses"].items():  # type: ignore[attr-defined]
            if not code.startswith("4"):
                continue
            refusals += 1
            content = response["content"]
            assert list(content) == [PROBLEM_JSON], f"{method} {path} {code}"
            assert content[PROBLEM_JSON]["schema"] == {"$ref": PROBLEM_REF}, f"{method} {path} {code}"
    assert refusals > 100


async def test_each_route_names_the_statuses_it_can_answer(client: Client) -> None:
    schema = await openapi(client)
    assert statuses(schema, "POST", "/api/v1/instances") >= {201, 400, 401, 403, 409, 413, 415, 422}
    assert statuses(schema, "PATCH", INSTANCE) >= {200, 400, 401, 403, 404, 409, 413, 415, 422}
    assert statuses(schema, "GET", INSTANCE) == {200, 400, 401, 403, 404}
    assert statuses(schema, "DELETE", INSTANCE) >= {204, 404, 409}
    assert 422 in statuses(schema, "GET", "/api/v1/catalog/models")  # query parameters are checked
    health = statuses(schema, "GET", "/api/v1/health")
    assert not health & {404, 409, 413, 415, 422}
    sign_in = statuses(schema, "POST", "/api/v1/auth/sign-in")
    assert 415 not in sign_in and 401 in sign_in  # a form is welcome there; a bad token is a 401
    assert {502, 504} <= statuses(schema, "POST", "/api/v1/catalog/refresh")



REFUSED_REQUESTS: list[tuple[str, str, dict[str, Any], int]] = [
    # bad query values
    ("GET", "/api/v1/events?after=-1", {}, 400),
    ("GET", "/api/v1/events?since=notadate", {}, 400),
    ("GET", "/api/v1/events?limit=100000", {}, 400),
    ("GET", "/api/v1/catalog/models?max_price_in=abc", {}, 400),
    ("GET", "/api/v1/sessions?offset=-5", {}, 400),
    ("GET", "/api/v1/sessions/{session}/cost?prices=yesterday", {}, 400),
    ("GET", "/api/v1/instances?colour=red", {}, 400),
    ("GET", "/api/v1/reports/cost?split_by=week", {}, 400),
    # query values that parse but break a rule
    ("GET", "/api/v1/events?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", {}, 422),
    ("GET", "/api/v1/reports/cost?since=2026-01-01T00:00:00", {}, 422),  # a time without its UTC offset
    ("GET", "/api/v1/reports/cost?group_by=model&split_by=model", {}, 422),  # groups split by themselves
    ("GET", "/api/v1/catalog/models?provider=nope", {}, 422),
    ("GET", "/api/v1/audit/events?q=%00", {}, 422),
    ("GET", "/api/v1/audit/export?after=5&before=5", {}, 422),
    # bad bodies
    ("POST", "/api/v1/instances", {"json": {"name": 5}}, 400),
    ("POST", "/api/v1/instances", {"json": {"name": "", "provider_id": "nope"}}, 422),
    ("PUT", "/api/v1/catalog/custom/gw", {"json": {"name": "x"}}, 400),
    ("PATCH", "/api/v1/sessions/{session}", {"json": {"name": 7}}, 400),
    # empty, form and too large bodies
    ("POST", "/api/v1/instances", {}, 400),
    ("POST", "/api/v1/sessions", {"content": b""}, 400),
    ("POST", "/api/v1/instances", {"data": {"name": "x"}}, 415),
    ("PUT", "/api/v1/catalog/custom/gw", {"data": {"name": "x"}}, 415),
    ("POST", "/api/v1/instances", {"content": b"{" + b" " * (1024 * 1024 + 1), "headers": JSON}, 413),
    # unknown ids
    ("GET", "/api/v1/instances/no-such-instance", {}, 404),
    ("DELETE", "/api/v1/catalog/custom/no-such-provider", {}, 404),
    ("PATCH", "/api/v1/sessions/no-such-session", {"json": {"name": "x"}}, 404),
    ("GET", "/api/v1/catalog/export/no-such-provider", {}, 404),
    # versions
    ("DELETE", "/api/v1/instances/{instance}", {"headers": {"if-match": "abc"}}, 422),
    ("PATCH", "/api/v1/instances/{instance}", {"json": {"name": "B"}, "headers": {"if-match": "99"}}, 409),
]
"""(method, path, request options, the status the API answers): a sample of routes, each refusal kind."""


def template_of(path: str, schema: Schema) -> str:
    """The schema path a concrete path belongs to."""
    bare = path.split("?")[0]
    for template in schema["paths"]:  # type: ignore[union-attr]
        if re.fullmatch(re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)), bare):
            return str(template)
    raise AssertionError(f"{bare} is not in the schema")


async def test_every_refusal_the_api_answers_is_documented_for_its_route(client: Client) -> None:
    schema = await openapi(client)
    instance = (await client.post("/api/v1/instances", json={"name": "A", "provider_id": "openai"})).json()
    model = (await client.get("/api/v1/catalog/providers/openai")).json()["models"][0]["id"]
    body = {"name": "Chat", "instance_id": instance["id"], "model_id": model}
    session = (await client.post("/api/v1/sessions", json=body)).json()
    ids = {"instance": instance["id"], "session": session["id"]}
    undocumented, rule_breaking_reads = [], set()
    for method, path, options, status in REFUSED_REQUESTS:
        url = path.format(**ids)
        answer = await client.request(method, url, **options)
        assert answer.status_code == status, (method, url, answer.text)
        assert answer.headers["content-type"].startswith(PROBLEM_JSON), (method, url)
        if status not in statuses(schema, method, template_of(url, schema)):
            undocumented.append((method, path, status))
        if (method, status) == ("GET", 422):
            rule_breaking_reads.add(template_of(url, schema))
    assert undocumented == []
    reads_documenting_422 = {path for method, path, _ in operations(schema) if method == "GET"
                             and 422 in statuses(schema, method, path)}
    assert reads_documenting_422 == rule_breaking_reads  # a bad query value is a 400, not a 422


async def test_problem_responses_carry_an_example(client: Client) -> None:
    schema = await openapi(client)
    not_found = operation(schema, "GET", INSTANCE)["responses"]["404"]  # type: ignore[index]
    examples = not_found["content"][PROBLEM_JSON]["examples"]
    assert any(example["value"]["status"] == 404 for example in examples.values())


async def test_request_bodies_show_their_fields(client: Client) -> None:
    schema = await openapi(client)
    body = operation(schema, "POST", "/api/v1/instances")["requestBody"]
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/CreateInstance"}  # type: ignore[index]
    assert {"name", "provider_id"} <= set(component(schema, "CreateInstance")["properties"])  # type: ignore[arg-type]
    for method, path, op in operations(schema):
        if method in ("PUT", "PATCH") or (method == "POST" and "requestBody" in op):
            assert 415 in statuses(schema, method, path) or path.startswith("/api/v1/auth/"), (method, path)


async def test_the_export_is_documented_as_the_catwalk_object_it_answers(client: Client) -> None:
    schema = await openapi(client)
    ok = operation(schema, "GET", "/api/v1/catalog/export/{provider_id}")["responses"]["200"]  # type: ignore[index]
    assert ok["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/CatwalkProvider"}
    answer = (await client.get("/api/v1/catalog/export/anthropic")).json()
    assert set(answer) <= set(component(schema, "CatwalkProvider")["properties"])  # type: ignore[arg-type]


async def test_a_documented_404_is_what_the_api_answers(client: Client) -> None:
    response = await client.get("/api/v1/instances/no-such-instance")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    schema = await openapi(client)
    assert set(response.json()) <= set(component(schema, "Problem")["properties"])  # type: ignore[arg-type]


ASSET_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


async def test_the_docs_page_loads_only_assets_the_app_serves(client: Client) -> None:
    page = await client.get("/api/schema/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "SwaggerUIBundle" in page.text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert len(urls) >= 3, urls
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), f"{url} is not on this server"
        asset = await client.get(url)
        assert asset.status_code == 200, url
        suffix = url[url.rfind("."):]
        assert ASSET_TYPES[suffix] in asset.headers["content-type"], (url, asset.headers["content-type"])
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy

