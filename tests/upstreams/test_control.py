"""The upstreams run from another process and are steered over HTTP or by a request header."""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.upstreams import UpstreamServer, Urls

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def separate_process() -> Iterator[Urls]:
    """`python -m tests.upstreams` on a free port, its URLs read from what it prints."""
    command = [sys.executable, "-m", "tests.upstreams", "--port", "0", "--key", "sk-other-process", "--model", "m-1"]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    printed = dict(process.stdout.readline().split() for _ in Urls.__dataclass_fields__)
    try:
        _wait_until_listening(printed["origin"])
        yield Urls(**printed)
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_until_listening(origin: str) -> None:
    for _ in range(200):
        try:
            httpx.get(f"{origin}/_upstream/scenario", timeout=1)
            return
        except httpx.TransportError:
            continue
    raise AssertionError(f"nothing listens at {origin}")


def test_a_separate_process_serves_with_the_given_key_and_models(separate_process: Urls) -> None:
    listed = httpx.get(f"{separate_process.openai}/models", headers={"authorization": "Bearer sk-other-process"})
    assert [model["id"] for model in listed.json()["data"]] == ["m-1"]
    refused = httpx.get(f"{separate_process.openai}/models", headers={"authorization": "Bearer wrong"})
    assert refused.status_code == 401


def test_the_scenario_is_changed_reset_and_inspected_over_http(separate_process: Urls) -> None:
    control, key = separate_process.control, {"x-api-key": "sk-other-process", "anthropic-version": "2023-06-01"}
    changed = httpx.post(f"{control}/scenario", json={"behaviour": "rate_limited", "retry_after_s": 3})
    assert changed.json()["behaviour"] == "rate_limited"
    limited = httpx.get(f"{separate_process.anthropic}/v1/models", headers=key)
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "3")
    seen = httpx.get(f"{control}/requests").json()
    assert seen[-1]["path"] == "/anthropic/v1/models" and seen[-1]["headers"]["x-api-key"] == "sk-other-process"
    httpx.post(f"{control}/reset")
    assert httpx.get(f"{separate_process.anthropic}/v1/models", headers=key).status_code == 401  # default key again


def test_unknown_settings_are_refused(upstream: UpstreamServer) -> None:
    refused = httpx.post(f"{upstream.urls.control}/scenario", json={"behaviour": "on_fire"})
    assert refused.status_code == 400
    assert upstream.scenario.behaviour == "ok"


def test_a_request_header_chooses_the_behaviour_for_that_request_only(upstream: UpstreamServer) -> None:
    auth = {"authorization": "Bearer test-key"}
    failing = httpx.get(f"{upstream.urls.openai}/models", headers={**auth, "x-upstream-behaviour": "server_error"})
    assert failing.status_code == 500
    assert httpx.get(f"{upstream.urls.openai}/models", headers=auth).status_code == 200


def test_a_script_plays_before_the_standing_behaviour(upstream: UpstreamServer) -> None:
    upstream.scenario.script = ["not_found", "server_error"]
    auth = {"authorization": "Bearer test-key"}
    statuses = [httpx.get(f"{upstream.urls.openai}/models", headers=auth).status_code for _ in range(3)]
    assert statuses == [404, 500, 200]


def test_usage_faults_and_what_was_received_are_reachable_over_http(upstream: UpstreamServer) -> None:
    settings = {"cache_read_tokens": 4, "cache_write_tokens": 1, "pieces_before_fault": 0, "thinking": "Hm."}
    assert {
        name: value
        for name, value in httpx.post(f"{upstream.urls.control}/scenario", json=settings).json().items()
        if name in settings
    } == settings
    body = {"model": "local-small", "max_tokens": 2048, "messages": [{"role": "user", "content": "hi"}]}
    thinking = {"type": "enabled", "budget_tokens": 1024}
    headers = {"x-api-key": "test-key", "anthropic-version": "2023-06-01"}
    answer = httpx.post(f"{upstream.urls.anthropic}/v1/messages", headers=headers, json={**body, "thinking": thinking})
    assert answer.json()["usage"]["cache_read_input_tokens"] == 4
    assert answer.json()["content"][0] == {
        "type": "thinking",
        "thinking": "Hm.",
        "signature": answer.json()["content"][0]["signature"],
    }
    assert httpx.get(f"{upstream.urls.control}/reasoning").json() == [thinking]
    assert httpx.get(f"{upstream.urls.control}/requests").json()[-1]["json"]["thinking"] == thinking
