"""Catalog benchmark: seed load at start-up, model search through the app vs bare bytes.

Run `python -m bench.catalog`.

Search is measured over real HTTP on 127.0.0.1: the real app (store, catalog, guards, error
handlers) against a bare Litestar handler that returns the very same bytes, pre-serialized,
each request sent to both in turn.
"""

from __future__ import annotations

import argparse
import logging
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from litestar import Litestar, Request, Response, get
from litestar.datastructures import State

from backend.app import create_app
from backend.catalog.search import ModelQuery, search_models
from backend.catalog.seed import load_seed
from backend.catalog.views import CatalogState
from backend.settings import Settings

SEARCH = "/api/v1/catalog/models"
QUERIES: tuple[dict[str, str], ...] = (
    {},
    {"q": "gpt"},
    {"q": "claude sonnet"},
    {"q": "qwen", "sort": "-context"},
    {"q": "llama", "can_reason": "false"},
    {"can_reason": "true", "supports_attachments": "true", "sort": "price_in"},
    {"min_context": "200000", "max_price_in": "1", "sort": "-price_out"},
    {"max_price_out": "2", "sort": "context", "limit": "100"},
    {"provider": "openrouter", "sort": "-price_in", "offset": "50"},
    {"q": "flash", "max_price_in": "0.5", "sort": "name"},
    {"q": "x", "limit": "200"},
    {"sort": "-name", "offset": "1000"},
)


def timed(work: Callable[[], object], runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return timings


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def served(app: Litestar) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def bare_app(answers: dict[str, bytes]) -> Litestar:
    """A Litestar app whose one handler returns pre-serialized bytes looked up by query string."""

    @get(SEARCH, sync_to_thread=False)
    def models(request: Request[object, object, State]) -> Response[bytes]:
        return Response(answers[request.url.query], media_type="application/json")

    return Litestar([models])


def query_string(params: dict[str, str]) -> str:
    return str(httpx.QueryParams(params))


def measure_http(real: str, bare: str, rounds: int) -> tuple[list[float], list[float]]:
    """Alternate the same request between the two servers, so machine noise hits both alike."""
    timings: dict[str, list[float]] = {real: [], bare: []}
    with httpx.Client() as client:
        for _ in range(rounds):
            for params in QUERIES:
                path = f"{SEARCH}?{query_string(params)}" if params else SEARCH
                for base in (real, bare):
                    started = time.perf_counter()
                    response = client.get(base + path)
                    timings[base].append(time.perf_counter() - started)
                    response.raise_for_status()
    return timings[real], timings[bare]


def startup(runs: int) -> tuple[float, float, int, int]:
    loads = timed(load_seed, runs)
    seed = load_seed()
    indexes = timed(lambda: CatalogState(seed.providers), runs)
    models = sum(len(provider.models) for provider in seed.providers)
    return statistics.median(loads), statistics.median(indexes), len(seed.providers), models


def in_process_search(rounds: int) -> list[float]:
    index = CatalogState(load_seed().providers).index
    queries = [
        ModelQuery(q="gpt"),
        ModelQuery(can_reason=True, supports_attachments=True, sort="price_in"),
        ModelQuery(min_context=200_000, max_price_in=1.0, sort="-price_out"),
        ModelQuery(q="qwen", sort="-context", limit=200),
    ]
    return [t for query in queries for t in timed(lambda: search_models(index, query), rounds)]


def main(argv: list[str] | None = None) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description="Catalog benchmark")
    parser.add_argument("--runs", type=int, default=25, help="start-up repetitions (median)")
    parser.add_argument("--rounds", type=int, default=100, help="passes over the search queries")
    args = parser.parse_args(argv)

    load, index, providers, models = startup(args.runs)
    print(f"start-up over {providers} providers, {models} models (median of {args.runs}):")
    print(f"  load + validate seed   {load * 1000:8.2f} ms   (budget 150 ms: {load / 0.150:.2f}x of it)")
    print(f"  build search index     {index * 1000:8.2f} ms")

    local = in_process_search(args.rounds)
    local_p50, local_p99 = percentile(local, 0.5) * 1000, percentile(local, 0.99) * 1000
    print(f"search in process: p50 {local_p50:.3f} ms  p99 {local_p99:.3f} ms")

    with tempfile.TemporaryDirectory() as folder, served(create_app(Settings(data_dir=Path(folder)))) as real:
        with httpx.Client(base_url=real) as client:
            answers = {
                query_string(params): client.get(SEARCH, params=params).content for params in QUERIES
            }
        with served(bare_app(answers)) as bare:
            measure_http(real, bare, 5)
            app_times, bare_times = measure_http(real, bare, args.rounds)

    count = len(app_times)
    print(f"model search over HTTP on 127.0.0.1, {count} requests each ({len(QUERIES)} queries):")
    print(f"  {'':26}{'p50 ms':>10}{'p99 ms':>10}{'median ms':>11}")
    for label, times in (("real app", app_times), ("bare handler, same bytes", bare_times)):
        print(
            f"  {label:26}{percentile(times, 0.5) * 1000:10.3f}{percentile(times, 0.99) * 1000:10.3f}"
            f"{statistics.median(times) * 1000:11.3f}"
        )
    p50 = percentile(app_times, 0.5) / percentile(bare_times, 0.5)
    p99 = percentile(app_times, 0.99) / percentile(bare_times, 0.99)
    print(f"  ratio real/bare: p50 {p50:.2f}x  p99 {p99:.2f}x   (target: real p99 < 20 ms)")


if __name__ == "__main__":
    main()
