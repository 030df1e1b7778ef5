"""Garbage in: schemathesis generates requests for every route of a live `switchboard api` from its OpenAPI
schema. No answer may be a server error, every answer must match what the schema documents (status, media
type, body), and every refusal must be problem+json (tests/reliability/fuzz_checks.py).

Two runs: one where path ids name real objects (an instance on the local upstream with its key, a session with
an agent, a custom provider), so requests reach each route's own rules and chat turns really stream; one with
made-up ids over every route, the destructive ones included. Outbound traffic stays on 127.0.0.1: every URL a
body can carry (the catalog to refresh from, an instance's or a custom provider's endpoint) is set to the local
catalog service or upstream."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from tests.api.conftest import free_port
from tests.catalog.catalog_server import serve_catalog, served_list
from tests.reliability.live_api import ROOT, LiveApi, live_api, server_environment, switchboard
from tests.upstreams import UpstreamServer

MIN_CASES = 1000
SEED = 20261202
"""Fixed so a failure replays; change it to explore other inputs."""
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
KEY = "sk-generated-requests-key-0123456789"
CUSTOM = "fuzz-local"
DESTROYS = (
    "DELETE /api/v1/instances/{instance_id}",
    "DELETE /api/v1/sessions/{session_id}/agents/{agent_id}",
    "DELETE /api/v1/catalog/custom/{provider_id}",
)
"""With a real id, these would end the run's objects for every later case."""


def _seed_objects(api: LiveApi, token: str, upstream: UpstreamServer) -> dict[str, str]:
    """An instance on the upstream with a working key, a session with its agent, a custom provider: their ids."""
    upstream.scenario.key = KEY
    with httpx.Client(base_url=api.base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        body = {"name": "Local", "provider_id": "openai", "endpoint": upstream.urls.openai, "api_key": KEY}
        instance = http.post("/api/v1/instances", json=body)
        assert instance.status_code == 201, instance.text
        instance_id = instance.json()["id"]
        assert http.post(f"/api/v1/instances/{instance_id}/test").json()["status"] == "connected"
        created = http.post("/api/v1/sessions", json={"name": "Fuzz", "instance_id": instance_id, "model_id": "local-small"})
        assert created.status_code == 201, created.text
        templates = http.get("/api/v1/catalog/templates").json()["templates"]
        gateway = next(template["provider"] for template in templates if template["id"] == "openai-compatible-gateway")
        provider = http.put(f"/api/v1/catalog/custom/{CUSTOM}", json={**gateway, "api_endpoint": upstream.urls.openai})
        assert provider.status_code == 201, provider.text
    return {
        "instance_id": instance_id,
        "session_id": created.json()["id"],
        "agent_id": created.json()["agents"][0]["id"],
        "provider_id": CUSTOM,
    }


def _config(path: Path, token: str, ids: dict[str, str], local: dict[str, str]) -> Path:
    """Schemathesis settings: the token, path ids when given, and every URL a body can carry set to a local one."""
    lines = [f'headers = {{ Authorization = "Bearer {token}" }}', "[parameters]"]
    lines += [f'"path.{name}" = "{value}"' for name, value in ids.items()]
    lines += [f'"body.{name}" = "{url}"' for name, url in local.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(api: LiveApi, config: Path, report: Path, *selection: str) -> dict[str, object]:
    """One schemathesis run against the live server; its JSON report."""
    command = [
        str(Path(sys.executable).with_name("st")), "--config-file", str(config), "run",
        f"{api.base}/api/schema/openapi.json", "--checks", f"{CHECKS},refusals_are_problems",
        "--phases", "examples,coverage,fuzzing", "--max-examples", "25", "--seed", str(SEED),
        "--workers", "1", "--max-redirects", "0", "--request-timeout", "20", "--generation-database", "none",
        "--report", "json", "--report-json-path", str(report), *selection,
    ]
    # One worker: with two, CPython 3.11's ast.parse, which Hypothesis calls to describe its strategies, once failed
    # in a worker thread ("SystemError: AST constructor recursion depth mismatch", python/cpython#106905).
    env = {"SCHEMATHESIS_HOOKS": "tests.reliability.fuzz_checks", "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    # run from the test's own folder: schemathesis keeps a .schemathesis cache where it runs
    done = subprocess.run(command, env=env, cwd=report.parent, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, f"{done.stdout[-12000:]}\n{done.stderr[-4000:]}"
    result: dict[str, object] = json.loads(report.read_text())
    return result


def test_generated_requests_get_documented_answers_and_no_server_error(tmp_path: Path, upstream: UpstreamServer) -> None:
    with serve_catalog(json.dumps(served_list()).encode()) as catalog:
        env = server_environment(tmp_path / "data", free_port(), SWITCHBOARD_CATALOG_URL=catalog.url)
        token = switchboard(env, "token", "create", "fuzz", "--role", "admin").splitlines()[0].strip()
        local = {"url": catalog.url, "endpoint": upstream.urls.openai, "api_endpoint": upstream.urls.openai}
        cases = _both_runs(env, token, upstream, local, tmp_path)
    print(f"generated cases: {cases[0]} with real ids, {cases[1]} with made-up ids")
    assert sum(cases) >= MIN_CASES
    assert "Traceback" not in (tmp_path / "server.log").read_text()


def _both_runs(
    env: dict[str, str], token: str, upstream: UpstreamServer, local: dict[str, str], tmp_path: Path
) -> tuple[int, int]:
    """The run with real ids and the run with made-up ids over every route: how many cases each generated."""
    with live_api(env, tmp_path / "server.log") as api:
        ids = _seed_objects(api, token, upstream)
        skipped = [f"--exclude-name={name}" for name in DESTROYS]
        real = _run(api, _config(tmp_path / "real.toml", token, ids, local), tmp_path / "real.json", *skipped)
        made_up = _run(api, _config(tmp_path / "made-up.toml", token, {}, local), tmp_path / "made-up.json")
        alive = httpx.get(f"{api.base}/api/v1/health", headers={"Authorization": f"Bearer {token}"})
        assert alive.status_code == 200, alive.text
    assert made_up["operations"]["tested"] == made_up["operations"]["total"]  # type: ignore[index]
    return int(real["test_cases"]["generated"]), int(made_up["test_cases"]["generated"])  # type: ignore[index]
