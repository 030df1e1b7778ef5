"""Bad input for every catalog route: a problem+json answer naming the field, and nothing written."""

from __future__ import annotations

import pytest

from backend.catalog.limits import MAX_HEADERS, MAX_MODEL_ID, MAX_MODELS, MAX_NAME
from events import SQLiteEventStore
from tests.catalog.conftest import Client

pytestmark = pytest.mark.anyio
CATALOG = "/api/v1/catalog"
MODEL = {"id": "m", "name": "M", "cost_per_1m_in": 1, "cost_per_1m_out": 2, "context_window": 8, "default_max_tokens": 4}
DRAFT = {
    "name": "GW",
    "type": "openai-compat",
    "api_endpoint": "https://gw.example/v1",
    "default_large_model_id": "m",
    "default_small_model_id": "m",
    "models": [MODEL],
}
MANY_MODELS = [{**MODEL, "id": f"m{n}"} for n in range(MAX_MODELS)] + [MODEL]
CATWALK = {"id": "gw", "name": "GW", "type": "openai-compat", "api_endpoint": "https://gw.example/v1",
           "default_large_model_id": "m", "default_small_model_id": "m", "models": [MODEL]}

CASES: list[tuple[str, str, dict[str, object], int, str | None]] = [
    ("get", "/providers?page=2", {}, 400, "page"),
    ("get", "/providers/nope", {}, 404, None),
    ("get", "/providers/openai?verbose=1", {}, 400, "verbose"),
    ("get", "/models?min_context=abc", {}, 400, "min_context"),
    ("get", "/models?min_context=0", {}, 400, "min_context"),
    ("get", "/models?can_reason=maybe", {}, 400, "can_reason"),
    ("get", "/models?supports_attachments=2", {}, 400, "supports_attachments"),
    ("get", "/models?max_price_in=-1", {}, 400, "max_price_in"),
    ("get", "/models?max_price_out=cheap", {}, 400, "max_price_out"),
    ("get", "/models?sort=price", {}, 400, "sort"),
    ("get", "/models?limit=0", {}, 400, "limit"),
    ("get", "/models?limit=501", {}, 400, "limit"),
    ("get", "/models?offset=-1", {}, 400, "offset"),
    ("get", "/models?query=gpt", {}, 400, "query"),
    ("get", "/models?provider=nope", {}, 422, "provider"),
    ("get", "/templates?kind=local", {}, 400, "kind"),
    ("put", "/custom/gw", {"content": b"{nope"}, 400, "body"),
    ("put", "/custom/gw", {"json": {**DRAFT, "name": 1}}, 400, "name"),
    ("put", "/custom/gw", {"json": {**DRAFT, "models": [{**MODEL, "cost_per_1m_in": "cheap"}]}}, 400, "models[0].cost_per_1m_in"),
    ("put", "/custom/gw", {"json": {**DRAFT, "colour": "red"}}, 400, "body"),
    ("put", "/custom/gw", {"json": {**DRAFT, "models": [{**MODEL, "price_status": "cheap"}]}}, 400, "models[0].price_status"),
    ("put", "/custom/Not_OK", {"json": DRAFT}, 422, "id"),
    ("put", "/custom/gw", {"json": {**DRAFT, "api_key": "sk-secret"}}, 422, "api_key"),
    ("put", "/custom/gw", {"json": DRAFT, "headers": {"If-Match": "soon"}}, 422, "If-Match"),
    ("put", "/custom/gw", {"json": DRAFT, "headers": {"If-Match": "4"}}, 409, None),
    ("put", "/custom/gw?force=1", {"json": DRAFT}, 400, "force"),
    ("delete", "/custom/nope", {}, 404, None),
    ("delete", "/custom/openai", {}, 409, None),
    ("delete", "/custom/openai?really=1", {}, 400, "really"),
    ("post", "/import", {"content": b"[{"}, 400, "body"),
    ("post", "/import", {"json": "hello"}, 400, "body"),
    ("post", "/import", {"json": []}, 422, "body"),
    ("post", "/import?as_id=x", {"json": [{"id": "a", "name": "A"}, {"id": "b", "name": "B"}]}, 422, "as_id"),
    ("post", "/import?as_id=Bad%20Id", {"json": {"id": "a", "name": "A", "type": "openai-compat"}}, 422, "id"),
    ("post", "/import", {"json": {"id": "a", "name": "A"}}, 422, "type"),
    ("get", "/export/nope", {}, 404, None),
    ("get", "/export/openai?format=yaml", {}, 400, "format"),
    ("post", "/refresh", {"json": {"url": 5}}, 400, "url"),
    ("post", "/refresh", {"json": {"uri": "http://x"}}, 400, "body"),
    ("post", "/refresh", {"json": {"url": "file:///etc/passwd"}}, 422, "url"),
    ("post", "/refresh", {"json": {}}, 422, "url"),
    ("post", "/refresh", {"json": {"url": "ftp://catalog.example"}}, 422, "url"),
    ("post", "/refresh", {"json": {"url": "javascript:alert(1)"}}, 422, "url"),
    ("post", "/refresh", {"json": {"url": "http:///v2"}}, 422, "url"),
    ("post", "/refresh", {"json": {"url": "https://:443"}}, 422, "url"),
    ("post", "/refresh", {"json": {"url": "http://user:secret@catalog.example"}}, 422, "url"),
    ("post", "/refresh", {"json": {"url": "http://catalog.example:99999"}}, 422, "url"),
    ("post", "/refresh", {"json": {"url": "http://catalog .example"}}, 422, "url"),
    ("post", "/refresh", {"json": {"url": "http://catalog.example/" + "a" * 2000}}, 422, "url"),
    ("put", "/custom/gw", {"json": {**DRAFT, "name": "n" * (MAX_NAME + 1)}}, 422, "name"),
    ("put", "/custom/gw", {"json": {**DRAFT, "models": MANY_MODELS}}, 422, "models"),
    ("put", "/custom/gw", {"json": {**DRAFT, "models": [{**MODEL, "id": "i" * (MAX_MODEL_ID + 1)}]}}, 422, "models[0].id"),
    ("put", "/custom/gw", {"json": {**DRAFT, "models": [{**MODEL, "name": "n" * (MAX_NAME + 1)}]}}, 422, "models[0].name"),
    ("put", "/custom/gw", {"json": {**DRAFT, "models": [{**MODEL, "reasoning_levels": ["x" * 41]}]}}, 422, "models[0].reasoning_levels[0]"),
    ("put", "/custom/gw", {"json": {**DRAFT, "api_endpoint": "https://gw.example/" + "v" * 2000}}, 422, "api_endpoint"),
    ("put", "/custom/gw", {"json": {**DRAFT, "default_headers": {f"x-h{n}": "v" for n in range(MAX_HEADERS + 1)}}}, 422, "default_headers"),
    ("put", "/custom/gw", {"json": {**DRAFT, "default_headers": {"x-long": "v" * 1001}}}, 422, "default_headers.x-long"),
    ("post", "/import", {"json": {**CATWALK, "name": "n" * (MAX_NAME + 1)}}, 422, "name"),
    ("post", "/import", {"json": [{**CATWALK, "models": MANY_MODELS}]}, 422, "[0].models"),
    ("post", "/import", {"json": {**CATWALK, "models": [{**MODEL, "id": "i" * (MAX_MODEL_ID + 1)}]}}, 422, "models[0].id"),
]


@pytest.mark.parametrize(("method", "path", "request_args", "status", "field"), CASES)
async def test_bad_input_is_refused_naming_the_field(
    client: Client, method: str, path: str, request_args: dict[str, object], status: int, field: str | None
) -> None:
    store: SQLiteEventStore = client.app.state.store
    before = await store.count()
    response = await getattr(client, method)(CATALOG + path, **request_args)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status and problem["title"]
    if field is not None:
        assert field in [error["field"] for error in problem["errors"]], problem
    assert await store.count() == before
