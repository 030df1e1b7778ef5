"""Instances benchmark: what a connection test adds to the upstream's own latency, and the list vs bare bytes.

Run `python -m bench.instances`. Everything goes over real HTTP on 127.0.0.1: the real app (store with
fsync, vault, view) against the local upstream server, and against a bare Litestar handler.
"""

from __future__ import annotations

import argparse
import logging
import os
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


EARLY = 50  # the small store's instances before its timed creates (51-150)
BLOCK = 10  # creates (key changes, deletes) per turn of each store
ROUNDS = 10  # turns per store: 100 timed calls each


class GrowingStore:
    """A served app on a data folder of its own, creating instances with a key one after another."""

    def __init__(self, api: httpx.Client) -> None:
        self.api = api
        self.ids: list[str] = []

    def create(self) -> float:
        body = {"name": f"grown {len(self.ids):05d}", "provider_id": "openai", "api_key": f"{KEY}-{len(self.ids)}"}
        started = time.perf_counter()
        response = self.api.post(LIST, json=body)
        took = time.perf_counter() - started
        response.raise_for_status()
        self.ids.append(response.json()["id"])
        return took

    def rotate(self, number: int) -> float:
        instance_id = self.ids[number * 7 % len(self.ids)]
        return timed(lambda: self.api.put(f"{LIST}/{instance_id}/credential", json={"api_key": f"{KEY}-r{number}"}), 1)[0]

    def delete(self) -> float:
        """Delete the instance created last."""
        return timed(lambda: self.api.delete(f"{LIST}/{self.ids.pop()}"), 1)[0]


def grow(store: GrowingStore, count: int) -> None:
    """Create instances up to `count`, printing the median create of each 1,000 with the load average."""
    times: list[float] = []
    while len(store.ids) < count:
        times.append(store.create())
        if len(store.ids) % 1000 == 0 or len(store.ids) == count:
            first = len(store.ids) - len(times) + 1
            load = os.getloadavg()[0]
            print(f"  creates {first:5}-{len(store.ids):5}: median {statistics.median(times) * 1000:6.2f} ms  (load {load:.2f})")
            times = []


Call = Callable[[GrowingStore, int], float]
CALLS: dict[str, Call] = {
    "create": lambda store, number: store.create(),
    "key rotation": GrowingStore.rotate,
    "delete": lambda store, number: store.delete(),
}


def in_turns(small: GrowingStore, big: GrowingStore, call: Call) -> dict[str, tuple[list[float], float]]:
    """`call` on each store in turns, `BLOCK` at a time, so that load from elsewhere falls on both alike: each
    store's times and its CPU time per call (this process runs the client and both servers; only one is busy)."""
    found: dict[str, tuple[list[float], float]] = {"small": ([], 0.0), "big": ([], 0.0)}
    for turn in range(ROUNDS):
        for name, store in (("small", small), ("big", big)):
            cpu = time.process_time()
            calls = [call(store, turn * BLOCK + each) for each in range(BLOCK)]
            times, used = found[name]
            found[name] = (times + calls, used + time.process_time() - cpu)
    return {name: (times, used / len(times)) for name, (times, used) in found.items()}


def create_growth(count: int) -> None:
    """The cost of creating (and re-keying, and deleting) an instance in a store of about `count` beside one of
    about 100: two stores side by side in this process, the big one grown first, then both called in turns."""
    with (
        tempfile.TemporaryDirectory() as folder,
        served(create_app(Settings(data_dir=Path(folder) / "small"))) as small_url,
        served(create_app(Settings(data_dir=Path(folder) / "big"))) as big_url,
        httpx.Client(base_url=small_url, timeout=30) as small_api,
        httpx.Client(base_url=big_url, timeout=30) as big_api,
    ):
        small, big = GrowingStore(small_api), GrowingStore(big_api)
        print(f"POST {LIST}, one store growing to {count - ROUNDS * BLOCK} instances (each with a key):")
        grow(big, count - ROUNDS * BLOCK)
        grow(small, EARLY)
        print(f"the same calls on a store of {EARLY + 1}-{EARLY + ROUNDS * BLOCK} instances and on one of {len(big.ids) + 1}-"
              f"{count}, in turns of {BLOCK} (load {os.getloadavg()[0]:.2f}):")
        print(f"  {'':22}{'small median':>14}{'p99':>8}{'CPU':>8}{'big median':>12}{'p99':>8}{'CPU':>8}{'ratio':>8}   (ms)")
        for label, call in CALLS.items():
            found = in_turns(small, big, call)
            (small_times, small_cpu), (big_times, big_cpu) = found["small"], found["big"]
            ratio = statistics.median(big_times) / statistics.median(small_times)
            target = f"   (target: <= 1.5x: {'met' if ratio <= 1.5 else 'NOT met'})" if label == "create" else ""
            print(
                f"  {label:22}{statistics.median(small_times) * 1000:14.2f}{percentile(small_times, 0.99) * 1000:8.2f}"
                f"{small_cpu * 1000:8.2f}{statistics.median(big_times) * 1000:12.2f}{percentile(big_times, 0.99) * 1000:8.2f}"
                f"{big_cpu * 1000:8.2f}{ratio:7.2f}x{target}"
            )
        print(f"  (CPU: this process's CPU time per call, client and server; load average at the end {os.getloadavg()[0]:.2f})")


def main(argv: list[str] | None = None) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description="Instances benchmark")
    parser.add_argument("--rounds", type=int, default=300, help="requests per measurement")
    parser.add_argument("--instances", type=int, default=1000, help="instances in the listed store")
    parser.add_argument("--grow", type=int, default=10_000, help="instances created to measure create growth")
    parser.add_argument("--grow-only", action="store_true", help="measure only the creates in a growing store")
    args = parser.parse_args(argv)
    if args.grow_only:
        create_growth(args.grow)
        return
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
