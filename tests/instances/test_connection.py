"""Connection tests against real local upstreams: every protocol, every outcome, the instance's policy honoured."""

from __future__ import annotations

import pytest

from tests.instances.conftest import SECRET, Client, create
from tests.upstreams import UpstreamServer, Urls

pytestmark = pytest.mark.anyio


async def add_ollama_provider(client: Client, endpoint: str) -> None:
    """A custom Ollama provider from the catalog's own template (the seed ships none)."""
    templates = (await client.get("/api/v1/catalog/templates")).json()["templates"]
    draft = next(template["provider"] for template in templates if template["id"] == "ollama")
    response = await client.put("/api/v1/catalog/custom/ollama", json={**draft, "api_endpoint": endpoint})
    assert response.status_code == 201, response.text


async def run_test(client: Client, instance_id: object) -> dict[str, object]:
    response = await client.post(f"/api/v1/instances/{instance_id}/test")
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def last_test(instance: dict[str, object]) -> dict[str, object]:
    test = instance["last_test"]
    assert isinstance(test, dict)
    return test


@pytest.mark.parametrize(
    ("provider_id", "url_of"),
    [
        ("openai", lambda urls: urls.openai),
        ("anthropic", lambda urls: urls.anthropic),
        ("gemini", lambda urls: urls.gemini),
        ("azure", lambda urls: urls.azure),
    ],
)
async def test_each_protocol_connects_with_the_right_key(
    client: Client, upstream: UpstreamServer, provider_id: str, url_of: object
) -> None:
    upstream.scenario.key = SECRET
    endpoint = url_of(upstream.urls)  # type: ignore[operator]
    created = await create(client, name=provider_id, provider_id=provider_id, endpoint=endpoint, api_key=SECRET)
    instance = await run_test(client, created["id"])
    test = last_test(instance)
    assert test["outcome"] == "ok" and test["http_status"] == 200 and test["model_count"] == 2
    assert test["credential_version"] == 1 and float(str(test["latency_ms"])) > 0
    assert instance["status"] == "connected" and instance["model_count"] == 2
    assert len(upstream.scenario.requests) == 1  # one cheap listing, never a completion
    assert "chat" not in upstream.scenario.requests[0].path and "messages" not in upstream.scenario.requests[0].path


async def test_ollama_needs_no_key_and_shows_what_it_lists(client: Client, upstream: UpstreamServer) -> None:
    upstream.scenario.models = ["qwen3:0.6b", "llama3.2"]
    await add_ollama_provider(client, upstream.urls.ollama)
    created = await create(client, name="Ollama on my laptop", provider_id="ollama")
    instance = await run_test(client, created["id"])
    assert last_test(instance)["outcome"] == "ok" and instance["credential"] is None
    models = (await client.get(f"/api/v1/instances/{created['id']}/models")).json()
    by_id = {model["id"]: model["availability"] for model in models["models"]}
    assert by_id == {"llama3.2": "available", "qwen3:0.6b": "not_in_catalog"}


async def test_wrong_key_is_auth_failed_and_the_key_is_not_echoed(client: Client, upstream: UpstreamServer) -> None:
    upstream.scenario.key = "sk-the-right-key-000000"
    created = await create(client, endpoint=upstream.urls.openai, api_key=SECRET)
    instance = await run_test(client, created["id"])
    test = last_test(instance)
    assert test["outcome"] == "auth_failed" and test["http_status"] == 401 and instance["status"] == "error"
    assert SECRET not in str(instance) and SECRET not in str(test["message"])


@pytest.mark.parametrize(
    ("behaviour", "outcome", "status"),
    [
        ("not_found", "not_found", 404),
        ("rate_limited", "rate_limited", 429),
        ("server_error", "server_error", 500),
        ("malformed", "bad_response", 200),
    ],
)
async def test_failures_are_classified(
    client: Client, upstream: UpstreamServer, behaviour: str, outcome: str, status: int
) -> None:
    upstream.scenario.behaviour = behaviour  # type: ignore[assignment]
    created = await create(client, endpoint=upstream.urls.openai, api_key=upstream.scenario.key, max_attempts=1)
    test = last_test(await run_test(client, created["id"]))
    assert (test["outcome"], test["http_status"]) == (outcome, status)


async def test_timeout_honours_the_instance_timeout(client: Client, upstream: UpstreamServer) -> None:
    upstream.scenario.behaviour = "slow"
    upstream.scenario.delay_s = 2.0
    created = await create(client, endpoint=upstream.urls.openai, api_key=upstream.scenario.key, timeout_ms=150, max_attempts=1)
    test = last_test(await run_test(client, created["id"]))
    assert test["outcome"] == "timeout" and float(str(test["latency_ms"])) < 1500


async def test_unreachable_endpoint(client: Client, refused_urls: Urls) -> None:
    created = await create(client, endpoint=refused_urls.openai, max_attempts=1)
    test = last_test(await run_test(client, created["id"]))
    assert test["outcome"] == "unreachable" and test["http_status"] is None


async def test_retry_policy_is_honoured(client: Client, upstream: UpstreamServer) -> None:
    key = upstream.scenario.key
    once = await create(client, name="once", endpoint=upstream.urls.openai, api_key=key, max_attempts=1)
    twice = await create(client, name="twice", endpoint=upstream.urls.openai, api_key=key, max_attempts=2, backoff_ms=1)
    upstream.scenario.script = ["server_error"]
    assert last_test(await run_test(client, once["id"]))["outcome"] == "server_error"
    upstream.scenario.script = ["server_error"]
    assert last_test(await run_test(client, twice["id"]))["outcome"] == "ok"
    assert len(upstream.scenario.requests) == 3


async def test_instance_and_catalog_headers_are_sent(client: Client, upstream: UpstreamServer) -> None:
    created = await create(
        client, provider_id="openrouter", endpoint=upstream.urls.openai, api_key=upstream.scenario.key,
        headers={"X-Team": "blue", "X-Title": "Switchboard"},
    )
    await run_test(client, created["id"])
    [request] = upstream.scenario.requests
    assert request.headers["x-team"] == "blue"
    assert request.headers["x-title"] == "Switchboard"  # the instance's value wins over the catalog's
    assert request.headers["http-referer"] == "https://charm.land"  # the catalog's default header


async def test_catalog_only_types_answer_not_supported(client: Client) -> None:
    created = await create(client, provider_id="bedrock")
    test = last_test(await run_test(client, created["id"]))
    assert test["outcome"] == "not_supported" and test["http_status"] is None


async def test_models_join_catalog_and_endpoint(client: Client, upstream: UpstreamServer) -> None:
    created = await create(client, endpoint=upstream.urls.openai, api_key=upstream.scenario.key)
    before = (await client.get(f"/api/v1/instances/{created['id']}/models")).json()
    assert before["tested"] is False and {m["availability"] for m in before["models"]} == {"untested"}
    catalog_ids = [model["id"] for model in before["models"]]
    upstream.scenario.models = [catalog_ids[0], "my-finetune"]
    await run_test(client, created["id"])
    after = (await client.get(f"/api/v1/instances/{created['id']}/models")).json()
    availability = {model["id"]: model["availability"] for model in after["models"]}
    assert availability[catalog_ids[0]] == "available"
    assert availability[catalog_ids[1]] == "not_offered"
    assert availability["my-finetune"] == "not_in_catalog"
    added = await client.post(after["add_model_path"], json={"model_id": "my-finetune"})
    assert added.status_code == 201, added.text
    availability = {model["id"]: model["availability"] for model in added.json()["models"]}
    assert availability["my-finetune"] == "available"
    provider = (await client.get("/api/v1/catalog/providers/openai")).json()
    assert provider["overridden"] is True and "my-finetune" in [model["id"] for model in provider["models"]]


async def test_adding_a_model_the_endpoint_did_not_list_is_refused(client: Client, upstream: UpstreamServer) -> None:
    created = await create(client, endpoint=upstream.urls.openai, api_key=upstream.scenario.key)
    await run_test(client, created["id"])
    response = await client.post(f"/api/v1/instances/{created['id']}/models", json={"model_id": "never-listed"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "model_id"
    bad = await client.post(f"/api/v1/instances/{created['id']}/models", json={"model": "x"})
    assert bad.status_code == 400


async def test_a_failed_test_keeps_the_models_last_listed(client: Client, upstream: UpstreamServer) -> None:
    created = await create(client, endpoint=upstream.urls.openai, api_key=upstream.scenario.key, max_attempts=1)
    await run_test(client, created["id"])
    upstream.scenario.behaviour = "server_error"
    instance = await run_test(client, created["id"])
    assert instance["status"] == "error" and instance["model_count"] == 2
    history = (await client.get(f"/api/v1/instances/{created['id']}/history")).json()
    assert [event["data"]["outcome"] for event in history if event["type"] == "ConnectionTested"] == ["ok", "server_error"]


async def test_an_upstream_echoing_the_key_is_scrubbed_before_recording(client: Client, upstream: UpstreamServer) -> None:
    upstream.scenario.key = SECRET
    upstream.scenario.behaviour = "unauthorized"
    upstream.scenario.error_message = f"the key {SECRET} is not valid here"
    created = await create(client, endpoint=upstream.urls.openai, api_key=SECRET)
    response = await client.post(f"/api/v1/instances/{created['id']}/test")
    test = response.json()["last_test"]
    assert test["outcome"] == "auth_failed" and "[redacted]" in test["message"]
    history = await client.get(f"/api/v1/instances/{created['id']}/history")
    assert SECRET not in response.text and SECRET not in history.text


async def test_adding_a_model_to_openai_keeps_the_other_openai_instance_working(
    client: Client, upstream: UpstreamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_ENDPOINT", raising=False)  # the other instance uses the public default
    gateway = await create(client, name="Gateway", endpoint=upstream.urls.openai, api_key=upstream.scenario.key)
    public = await create(client, name="Public", api_key=SECRET)
    assert (public["endpoint_status"], public["current_origin"]) == ("ok", "https://api.openai.com")
    upstream.scenario.models = ["my-finetune"]
    await run_test(client, gateway["id"])

    added = await client.post(f"/api/v1/instances/{gateway['id']}/models", json={"model_id": "my-finetune"})

    assert added.status_code == 201, added.text
    after = (await client.get(f"/api/v1/instances/{public['id']}")).json()
    assert (after["endpoint_status"], after["current_origin"]) == ("ok", "https://api.openai.com")
    assert after["default_endpoint"] == "https://api.openai.com/v1"
    provider = (await client.get("/api/v1/catalog/providers/openai")).json()
    assert provider["overridden"] is True and provider["resolved_endpoint"] == "https://api.openai.com/v1"


async def listed_by_endpoint(client: Client, instance_id: object) -> list[str]:
    body = (await client.get(f"/api/v1/instances/{instance_id}/models")).json()
    return sorted(model["id"] for model in body["models"] if model["listed_by_endpoint"])


async def test_tests_record_the_model_list_only_when_it_changed(client: Client, upstream: UpstreamServer) -> None:
    upstream.scenario.key = SECRET
    created = await create(client, endpoint=upstream.urls.openai, api_key=SECRET)
    upstream.scenario.models = ["model-a", "model-b"]
    await run_test(client, created["id"])
    await run_test(client, created["id"])
    kept = await listed_by_endpoint(client, created["id"])
    upstream.scenario.models = ["model-a", "model-c"]
    third = await run_test(client, created["id"])
    history = (await client.get(f"/api/v1/instances/{created['id']}/history")).json()
    tests = [event["data"] for event in history if event["type"] == "ConnectionTested"]
    assert [test["model_ids"] for test in tests] == [["model-a", "model-b"], None, ["model-a", "model-c"]]
    assert [test["model_count"] for test in tests] == [2, 2, 2]
    assert kept == ["model-a", "model-b"]
    assert await listed_by_endpoint(client, created["id"]) == ["model-a", "model-c"]
    assert third["model_count"] == 2
