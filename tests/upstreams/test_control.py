"""The upstreams run from another process and are steered over HTTP or by a request header."""

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest

from tests.upstreams import Behaviour, UpstreamServer, Urls, reply_pieces
from tests.upstreams.scenario import ERROR_STATUS

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


AUTH = {"authorization": "Bearer test-key"}


@pytest.mark.parametrize(("behaviour", "status"), list(ERROR_STATUS.items()))
def test_each_error_behaviour_answers_its_status_in_the_protocols_error_body(
    upstream: UpstreamServer, behaviour: Behaviour, status: int
) -> None:
    upstream.scenario.behaviour = behaviour
    answer = httpx.get(f"{upstream.urls.openai}/models", headers=AUTH)
    assert answer.status_code == status
    assert answer.json()["error"]["message"]
    assert ("retry-after" in answer.headers) == (status == 429)


def test_a_429_says_when_to_come_back_in_seconds_as_an_http_date_or_not_at_all(upstream: UpstreamServer) -> None:
    upstream.scenario.behaviour = "rate_limited"
    upstream.scenario.retry_after_s = 1.5
    assert httpx.get(f"{upstream.urls.openai}/models", headers=AUTH).headers["retry-after"] == "1.5"
    upstream.scenario.retry_after_as = "http_date"
    answer = httpx.get(f"{upstream.urls.openai}/models", headers=AUTH)
    moment = parsedate_to_datetime(answer.headers["retry-after"]).timestamp()
    assert moment == int(moment) and 1.5 <= moment - upstream.scenario.requests[-1].received_at < 2.5
    upstream.scenario.retry_after_as = "absent"
    assert "retry-after" not in httpx.get(f"{upstream.urls.openai}/models", headers=AUTH).headers
    refused = httpx.post(f"{upstream.urls.control}/scenario", json={"retry_after_as": "tomorrow"})
    assert refused.status_code == 400 and "http_date" in refused.text


def test_hanging_up_resets_the_connection_before_any_answer(upstream: UpstreamServer) -> None:
    upstream.scenario.behaviour = "hang_up"
    with pytest.raises(httpx.ReadError, match="reset"):
        httpx.get(f"{upstream.urls.openai}/models", headers=AUTH)
    assert len(upstream.scenario.requests) == 1


def test_a_reset_strikes_after_the_pieces_before_it(upstream: UpstreamServer) -> None:
    upstream.scenario.behaviour = "reset"
    upstream.scenario.pieces_before_fault = 2
    lines: list[str] = []
    with httpx.stream("POST", f"{upstream.urls.ollama}/api/chat", json=CHAT) as answer, pytest.raises(httpx.ReadError):
        lines.extend(answer.iter_lines())
    assert [json.loads(line)["message"]["content"] for line in lines] == reply_pieces(upstream.scenario.reply)[:2]


def test_a_model_list_resets_stalls_and_never_ends_in_the_middle_of_its_body(upstream: UpstreamServer) -> None:
    upstream.scenario.behaviour = "reset"
    with pytest.raises(httpx.ReadError):
        httpx.get(f"{upstream.urls.openai}/models", headers=AUTH)
    upstream.scenario.behaviour, upstream.scenario.delay_s = "stall", 0.3
    started = time.perf_counter()
    assert len(httpx.get(f"{upstream.urls.openai}/models", headers=AUTH).json()["data"]) == 2
    assert time.perf_counter() - started >= 0.3
    upstream.scenario.behaviour = "never_ends"
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{upstream.urls.openai}/models", headers=AUTH, timeout=httpx.Timeout(5, read=0.01))
    with httpx.stream("GET", f"{upstream.urls.openai}/models", headers=AUTH) as answer:
        body = b"".join(chunk for chunk, _ in zip(answer.iter_bytes(), range(20), strict=False))
    assert body.endswith(b"  ") and "content-length" not in answer.headers


def test_an_error_object_comes_with_status_200_in_a_model_list(upstream: UpstreamServer) -> None:
    upstream.scenario.behaviour = "stream_error"
    answer = httpx.get(f"{upstream.urls.openai}/models", headers=AUTH)
    assert answer.status_code == 200 and "error" in answer.json()


@pytest.mark.parametrize("prefix", ["openai", "anthropic", "ollama"])
def test_a_body_that_never_ends_sends_keep_alives_until_the_client_goes(upstream: UpstreamServer, prefix: str) -> None:
    upstream.scenario.behaviour = "never_ends"
    upstream.scenario.pieces_before_fault = 1
    upstream.scenario.keepalive_s = 0.01
    url, body, headers = CHAT_ROUTES[prefix](upstream)
    with httpx.stream("POST", url, json=body, headers=headers) as answer:
        lines = [line for line, _ in zip(answer.iter_lines(), range(60), strict=False)]
    keep_alives = [line for line in lines if line in ("", ": keep-alive", "event: ping", 'data: {"type": "ping"}')]
    assert len(keep_alives) >= 30  # well past the end the answer would have had
    assert ("event: ping" in lines) == (prefix == "anthropic")  # Anthropic's own keep-alive, as its API sends it
    deadline = time.monotonic() + 10
    while upstream.open_connections() and time.monotonic() < deadline:
        time.sleep(0.01)  # the server notices the client left
    assert upstream.open_connections() == 0


CHAT = {"model": "local-small", "messages": [{"role": "user", "content": "hi"}], "stream": True}
CHAT_ROUTES = {
    "openai": lambda up: (f"{up.urls.openai}/chat/completions", CHAT, AUTH),
    "anthropic": lambda up: (
        f"{up.urls.anthropic}/v1/messages",
        {**CHAT, "max_tokens": 100},
        {"x-api-key": "test-key", "anthropic-version": "2023-06-01"},
    ),
    "ollama": lambda up: (f"{up.urls.ollama}/api/chat", CHAT, {}),
}
