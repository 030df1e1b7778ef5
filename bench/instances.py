"""Instances benchmark: what a connection test adds to the upstream's own latency, and the list vs bare bytes.

Run `python -m bench.instances`. Everything goes over real HTTP on 127.0.0.1: the real app (store with
fsync, vault, view) against the local upstream server, and against a bare Litestar handler.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from litestar import Litestar, Response, get

from backend.app import create_app
from backend.settings import Settings
from bench.catalog import percentile, served
from tests.upstreams import UpstreamServer

LIST = "/api/v1/instances"
KEY = "sk-bench-key-0123456789abcdef"


def timed(send: Callable[[], httpx.Response], rounds: int) -> list[float]:
    timings: list[float] = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = send()
        timings.append(time.perf_counter() - started)
        response.raise_for_status()
    return timings


def bare_app(body: bytes) -> Litestar:
    @get(LIST, sync_to_thread=False)
    def instances() -> Response[bytes]:
        return Response(body, media_type="application/json")

    return Litestar([instances])


def row(label: str, times: list[float]) -> str:
    return (
        f"  {label:34}{statistics.median(times) * 1000:10.3f}{percentile(times, 0.99) * 1000:10.3f}"
    )


def paired_overheads(api: httpx.Client, instance_id: str, rounds: int) -> list[float]:
    """Per test: the time the client waited minus the upstream latency that same test recorded."""
    overheads: list[float] = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = api.post(f"{LIST}/{instance_id}/test")
        waited = time.perf_counter() - started
        test = response.json()["last_test"]
        assert test["outcome"] == "ok", test
        overheads.append(waited - test["latency_ms"] / 1000)
    return overheads


def connection_test_overhead(api: httpx.Client, upstream: UpstreamServer, rounds: int) -> None:
    body = {"name": "Bench", "provider_id": "openai", "endpoint": upstream.urls.openai, "api_key": KEY, "max_attempts": 1}
    instance_id = api.post(LIST, json=body).json()["id"]
    with httpx.Client() as direct:
        own = lambda: direct.get(f"{upstream.urls.openai}/models", headers={"authorization": f"Bearer {KEY}"})  # noqa: E731
        hop = lambda: api.get(f"{LIST}/{instance_id}")  # noqa: E731
        timed(own, 20)
        timed(hop, 20)
        paired_overheads(api, instance_id, 20)
        upstream_times = timed(own, rounds)
        hop_times = timed(hop, rounds)
        overheads = paired_overheads(api, instance_id, rounds)
    print(f"connection test, {rounds} each:{'median ms':>15}{'p99 ms':>10}")
    print(row("upstream's own GET /models", upstream_times))
    print(row("GET /instances/{id} (the HTTP hop)", hop_times))
    print(row("added by a connection test", overheads) + "   (target: median < 5 ms)")
    print("  (per test: the client's wait minus the upstream latency that test recorded; it covers the HTTP hop,")
    print("   the vault read, building the request, the fsync'd ConnectionTested append and the view update)")


def list_against_bare(api: httpx.Client, count: int, rounds: int) -> None:
    for number in range(count - 1):
        api.post(LIST, json={"name": f"instance {number:05d}", "provider_id": "openai", "api_key": f"{KEY}-{number}"})
    body = api.get(LIST).content
    timed(lambda: api.get(LIST), 20)
    app_times = timed(lambda: api.get(LIST), rounds)
    with served(bare_app(body)) as bare, httpx.Client(base_url=bare) as client:
        timed(lambda: client.get(LIST), 20)
        bare_times = timed(lambda: client.get(LIST), rounds)
    print(f"GET {LIST} with {count} instances ({len(body)} bytes), {rounds} each:{'median ms':>8}{'p99 ms':>10}")
    print(row("real app", app_times))
    print(row("bare handler, same bytes", bare_times))
    ratio = statistics.median(app_times) / statistics.median(bare_times)
    ratio99 = percentile(app_times, 0.99) / percentile(bare_times, 0.99)
    print(f"  ratio real/bare: median {ratio:.2f}x  p99 {ratio99:.2f}x   (target: real p99 < 20 ms)")


def create_growth(count: int) -> None:
    """Create `count` instances (each with a key) in a store of their own: the creates around the 100th beside
    the last 100, so a cost that grows with the number of instances shows as a ratio."""
    with (
        tempfile.TemporaryDirectory() as folder,
        served(create_app(Settings(data_dir=Path(folder)))) as real,
        httpx.Client(base_url=real, timeout=30) as api,
    ):
        times: list[float] = []
        for number in range(count):
            body = {"name": f"grown {number:05d}", "provider_id": "openai", "api_key": f"{KEY}-{number}"}
            times.extend(timed(lambda: api.post(LIST, json=body), 1))  # noqa: B023 - called at once
    early, late = times[50:150], times[-100:]
    print(f"POST {LIST}, the same store growing to {count} instances:{'median ms':>8}{'p99 ms':>10}")
    print(row("creates 51-150", early))
    print(row(f"creates {count - 99}-{count}", late))
    ratio = statistics.median(late) / statistics.median(early)
    print(f"  ratio last/early: median {ratio:.2f}x   (target: <= 1.5x)")


def main(argv: list[str] | None = None) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description="Instances benchmark")
    parser.add_argument("--rounds", type=int, default=300, help="requests per measurement")
    parser.add_argument("--instances", type=int, default=1000, help="instances in the listed store")
    parser.add_argument("--grow", type=int, default=10_000, help="instances created to measure create growth")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory() as folder,
        UpstreamServer() as upstream,
        served(create_app(Settings(data_dir=Path(folder)))) as real,
        httpx.Client(base_url=real, timeout=30) as api,
    ):
        upstream.scenario.key = KEY
        connection_test_overhead(api, upstream, args.rounds)
        list_against_bare(api, args.instances, args.rounds)
    create_growth(args.grow)


if __name__ == "__main__":
    main()
