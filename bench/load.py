"""Load benchmark: chat streams, readers and writers at once through the one-port app, for a minute (or ten).

Run `python -m bench.load`. The local upstream (bench.upstream, OpenAI protocol, its answers paced like a
model's tokens) and Switchboard (`switchboard run`: the web app and the API on one port, or `--server api` for
the API alone) run in processes of their own; this process is every client:

- `--streams` chat streams through `POST /api/v1/sessions/{id}/agents/{agent}/messages`, each turn after the
  last (a new session every `--length` turns, so that transcripts stay the same size through the run);
- `--direct` streams sending the same turns straight to the upstream at the same time: the baseline;
- `--readers` clients reading the instance list, one instance, and audit pages, each `--think` seconds apart;
- `--writers` clients changing instances (settings, names, keys; creating one and deleting it), `--think` apart.

After `--warmup` seconds of the full load, `--seconds` are measured. Printed: p50/p99 of the time to first
token Switchboard adds (its TTFT minus the direct streams' TTFT), of read and write latency, the errors
(target 0) and the RSS of the process serving the port at the start and the end of the measured time (target:
growth < 50 MB). `--soak` measures ten minutes and prints the RSS every minute.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import resource
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.catalog import free_port, percentile
from bench.chat import (
    HERE,
    KEY,
    Leg,
    Stream,
    Timing,
    openai_leg,
    process,
    status_kb,
    switchboard_instance,
    switchboard_leg,
    tree,
    upstream,
)

ROOT = HERE.parent
INSTANCES = "/api/v1/instances"
AUDIT = "/api/v1/audit/events"
BUILD_TIMEOUT_S = 900  # the first `switchboard run` builds the web app with bun
SOAK_S = 600
TOKENS = 50
PIECE_MS = 100
"""Answers of 50 tokens, 10 a second: 200 streams are then 2,000 tokens a second, about what the client, the
upstream and Switchboard together get through on two shared cores (at 50 tokens a second each, the client and
the bare upstream alone fall seconds behind). A real model streams faster; the streams stay open as long."""
SATURATED_MS = 60  # the direct streams' TTFT p99 this far above their p50: the machine, not Switchboard, is the limit
MB = 2**20


@dataclass
class Tally:
    """What the clients saw. Timings count only while `measuring`; errors count from the first request on."""

    measuring: bool = False
    running: bool = True
    turns: dict[str, list[Timing]] = field(default_factory=lambda: {"direct": [], "switchboard": []})
    reads: dict[str, list[float]] = field(default_factory=dict)
    writes: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def failed(self, kind: str, what: str) -> None:
        self.errors[kind] += 1
        if len(self.examples) < 10:
            self.examples.append(f"{kind}: {what}")

    def turn(self, leg: str, timing: Timing) -> None:
        if self.measuring:
            self.turns[leg].append(timing)

    def took(self, table: dict[str, list[float]], kind: str, seconds: float) -> None:
        if self.measuring:
            table.setdefault(kind, []).append(seconds)


def described(error: BaseException) -> str:
    """The error and the innermost frames it was raised in."""
    frames = traceback.extract_tb(error.__traceback__)[-3:]
    return f"{error!r}"[:300] + " at " + " < ".join(f"{Path(frame.filename).name}:{frame.lineno}" for frame in frames)


# --- the clients ------------------------------------------------------------------------------------------------


async def chat(leg: Leg, key: str, client: httpx.AsyncClient, tally: Tally, length: int, delay: float) -> None:
    """One stream: turn after turn until the run ends; a failed turn is counted and its conversation dropped."""
    await asyncio.sleep(delay)
    stream = Stream(leg, length)
    while tally.running:
        try:
            tally.turn(key, await stream.turn(client))
        except Exception as error:  # noqa: BLE001 - a benchmark counts every failure
            tally.failed(f"{key} turn", described(error))
            stream.conversation = None
            await asyncio.sleep(1)


Request = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


async def timed(
    client: httpx.AsyncClient, kind: str, send: Request, table: dict[str, list[float]], tally: Tally
) -> httpx.Response | None:
    """Send one request; its latency goes in `table` under `kind`, a failure (transport or status >= 400) in the errors."""
    started = time.perf_counter()
    try:
        response = await send(client)
    except httpx.HTTPError as error:
        tally.failed(kind, described(error))
        return None
    took = time.perf_counter() - started
    if response.status_code >= 400:
        tally.failed(kind, f"{response.status_code} {response.text[:300]}")
        return None
    tally.took(table, kind, took)
    return response


def reads(instance_ids: list[str], number: int) -> Iterator[tuple[str, Request]]:
    """A reader's requests, round and round: the list, one instance, the newest audit page, one instance's audit
    page, and an audit word search."""
    turn = number
    while True:
        instance_id = instance_ids[turn % len(instance_ids)]
        yield "instance list", lambda client: client.get(INSTANCES)
        yield "one instance", lambda client, chosen=instance_id: client.get(f"{INSTANCES}/{chosen}")
        yield "audit newest 50", lambda client: client.get(AUDIT, params={"limit": 50})
        yield "audit of one instance", lambda client, chosen=instance_id: client.get(
            AUDIT, params={"instance": chosen, "limit": 50}
        )
        yield "audit search", lambda client: client.get(AUDIT, params={"q": "writer", "limit": 50})
        turn += 1


async def reader(number: int, client: httpx.AsyncClient, instance_ids: list[str], tally: Tally, think: float) -> None:
    await asyncio.sleep(think * number / 50)
    for kind, send in reads(instance_ids, number):
        if not tally.running:
            return
        await timed(client, kind, send, tally.reads, tally)
        await asyncio.sleep(think)


@dataclass
class Writer:
    """A client changing its own instance, and creating and deleting others, one request at a time."""

    number: int
    instance_id: str
    version: int
    endpoint: str
    changes: int = 0

    def body(self, name: str) -> dict[str, object]:
        return {"name": name, "provider_id": "openai", "endpoint": self.endpoint, "api_key": self.key()}

    def key(self) -> str:
        self.changes += 1
        return f"{KEY}-writer-{self.number}-{self.changes}"

    def mine(self, client: httpx.AsyncClient, method: str, body: dict[str, object]) -> Awaitable[httpx.Response]:
        headers = {"if-match": str(self.version)}
        return client.request(method, f"{INSTANCES}/{self.instance_id}", json=body, headers=headers)

    async def round(self, client: httpx.AsyncClient, tally: Tally, think: float) -> None:
        """Settings, a rename, a key rotation, a create and the delete of what it created."""
        steps: list[tuple[str, Request]] = [
            ("change settings", lambda c: self.mine(c, "PATCH", {"timeout_ms": 30_000 + self.changes % 1000})),
            ("rename", lambda c: self.mine(c, "PATCH", {"name": f"writer {self.number} {self.changes}"})),
            ("rotate key", lambda c: c.put(f"{INSTANCES}/{self.instance_id}/credential", json={"api_key": self.key()})),
        ]
        for kind, send in steps:
            response = await timed(client, kind, send, tally.writes, tally)
            if response is not None:
                self.version = response.json()["version"]
            self.changes += 1
            await asyncio.sleep(think)
        name = f"writer {self.number} made {self.changes}"
        made = await timed(client, "create", lambda c: c.post(INSTANCES, json=self.body(name)), tally.writes, tally)
        await asyncio.sleep(think)
        if made is not None:
            doomed = made.json()
            headers = {"if-match": str(doomed["version"])}
            delete: Request = lambda c: c.delete(f"{INSTANCES}/{doomed['id']}", headers=headers)  # noqa: E731
            await timed(client, "delete", delete, tally.writes, tally)
            await asyncio.sleep(think)


async def writing(writer: Writer, client: httpx.AsyncClient, tally: Tally, think: float) -> None:
    await asyncio.sleep(think * writer.number / 10)
    while tally.running:
        await writer.round(client, tally, think)


# --- the server's process -------------------------------------------------------------------------------------


def listening_pid(port: int, root: int) -> int:
    """The process of `root`'s tree that listens on `port` on 127.0.0.1 (under `switchboard run`, Reflex's
    backend process, not the command that started it)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == f"0100007F:{port:04X}" and fields[3] == "0A":
            inodes.add(f"socket:[{fields[9]}]")
    for pid in tree(root):
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        return pid
    raise RuntimeError(f"no process of {root}'s tree listens on port {port}")


def rss(pid: int) -> int:
    return status_kb(pid, "VmRSS") * 1024


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def switchboard(folder: Path, command: str) -> Iterator[tuple[str, int, int]]:
    """`switchboard run` (or `api`) on a free port with a data folder of its own: its origin, the pid of the
    command and the pid of the process serving the port."""
    port = free_port()
    env = {
        **os.environ,
        "SWITCHBOARD_DATA_DIR": str(folder / "data"),
        "SWITCHBOARD_PORT": str(port),
        "REFLEX_TELEMETRY_ENABLED": "false",
        "PATH": f"{ROOT / '.tools' / 'node_modules' / '.bin'}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
    }
    origin = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "backend.cli", command]
    with process(args, env, f"{origin}/api/v1/health", folder / "switchboard.log", BUILD_TIMEOUT_S) as child:
        yield origin, child.pid, listening_pid(port, child.pid)


# --- running and printing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Processes:
    server: int  # the process serving the port
    group: int  # the command that started it
    upstream: list[int]


@dataclass
class Sample:
    at: float
    rss: int
    tree_rss: int
    cpu: dict[str, float]


def sample(processes: Processes) -> Sample:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return Sample(
        time.monotonic(),
        rss(processes.server),
        sum(rss(pid) for pid in tree(processes.group)),
        {
            "server": cpu_seconds(tree(processes.group)),
            "upstream": cpu_seconds(processes.upstream),
            "clients": own.ru_utime + own.ru_stime,
        },
    )


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


async def setup(api: httpx.AsyncClient, upstream_url: str, writers: int, instances: int) -> tuple[list[Writer], list[str]]:
    """The writers' instances, and others for the list to hold `instances` in all (the stream instance is one)."""
    made: list[Writer] = []
    ids: list[str] = []
    for number in range(max(writers, instances - 1)):
        name = f"writer {number}" if number < writers else f"seeded {number:04d}"
        body = {"name": name, "provider_id": "openai", "endpoint": upstream_url, "api_key": f"{KEY}-{number}"}
        response = await api.post(INSTANCES, json=body)
        response.raise_for_status()
        view = response.json()
        ids.append(view["id"])
        if number < writers:
            made.append(Writer(number, view["id"], view["version"], upstream_url))
    return made, ids


def ms(values: list[float], fraction: float) -> float:
    return percentile(values, fraction) * 1000


def table_row(label: str, values: list[float]) -> str:
    if not values:
        return f"  {label:34}{0:>8}{'-':>10}{'-':>10}"
    return f"  {label:34}{len(values):>8}{ms(values, 0.5):10.2f}{ms(values, 0.99):10.2f}"


def report_latencies(tally: Tally, seconds: float) -> None:
    direct = [timing.ttft for timing in tally.turns["direct"]]
    through = [timing.ttft for timing in tally.turns["switchboard"]]
    print(f"\n  {'':34}{'count':>8}{'p50 ms':>10}{'p99 ms':>10}")
    print(table_row("TTFT, direct to the upstream", direct))
    print(table_row("TTFT, through Switchboard", through))
    if direct and through:
        added = (ms(through, 0.5) - ms(direct, 0.5), ms(through, 0.99) - ms(direct, 0.99))
        print(f"  {'added TTFT (Switchboard - direct)':42}{added[0]:+10.2f}{added[1]:+10.2f}")
        paired = [timing.ttft - timing.upstream_ttft for timing in tally.turns["switchboard"] if timing.upstream_ttft]
        print(table_row("  of which before its upstream call", paired) + "   (per turn, paired)")
        spread = ms(direct, 0.99) - ms(direct, 0.5)
        if spread > SATURATED_MS:
            print(f"  (the direct streams' own TTFT p99 is {spread:.0f} ms above their p50: the machine is saturated, and"
                  " the added TTFT is mostly waiting for a CPU)")
    print(f"  turns through Switchboard: {len(through) / seconds:.1f}/s")
    for title, table in (("reads", tally.reads), ("writes", tally.writes)):
        every = [value for values in table.values() for value in values]
        print(table_row(f"{title}, all", every) + f"   ({len(every) / seconds:.1f}/s)")
        for kind, values in sorted(table.items()):
            print(table_row(f"  {kind}", values))


def report_errors(tally: Tally) -> None:
    total = sum(tally.errors.values())
    verdict = "met" if total == 0 else "NOT met"
    print(f"\nerrors: {total} (target 0: {verdict})" + "".join(f"\n  {kind}: {n}" for kind, n in tally.errors.items()))
    for example in tally.examples:
        print(f"    e.g. {example}")


def report_memory(start: Sample, end: Sample, before: Sample, processes: Processes, turns: int) -> None:
    growth = (end.rss - start.rss) / MB
    verdict = "met" if growth < 50 else "NOT met"
    print(
        f"\nRSS of the serving process (pid {processes.server}): {before.rss / MB:.1f} MB before the load, "
        f"{start.rss / MB:.1f} MB at the start of the measured time, {end.rss / MB:.1f} MB at its end: "
        f"growth {growth:+.1f} MB (target < 50 MB: {verdict})"
    )
    print(f"  its whole process tree: {start.tree_rss / MB:.1f} MB -> {end.tree_rss / MB:.1f} MB")
    spent = end.at - start.at
    shares = ", ".join(f"{name} {(end.cpu[name] - start.cpu[name]) / spent * 100:.0f}%" for name in end.cpu)
    print(f"  CPU over the measured time (100% = one core of {os.cpu_count()}): {shares}")
    if turns:
        used = end.cpu["server"] - start.cpu["server"]
        print(f"  the server's CPU per turn through it (reads and writes included): {used / turns * 1000:.1f} ms")


async def monitor(tally: Tally, processes: Processes, start: Sample, every: float) -> None:
    """Every `every` seconds: the serving process's RSS, the work done so far and the load average."""
    while True:
        await asyncio.sleep(every)
        now = sample(processes)
        turns = len(tally.turns["switchboard"])
        done = sum(len(values) for values in tally.reads.values()), sum(len(values) for values in tally.writes.values())
        print(
            f"  {now.at - start.at:5.0f} s: RSS {now.rss / MB:6.1f} MB ({(now.rss - start.rss) / MB:+5.1f}), "
            f"{turns} turns, {done[0]} reads, {done[1]} writes, {sum(tally.errors.values())} errors, "
            f"load {load_average()}",
            flush=True,
        )


async def run(args: argparse.Namespace, origin: str, upstream_url: str, processes: Processes) -> None:
    tally = Tally()
    clients = args.streams + args.direct + args.readers + args.writers
    # idle connections are dropped well before the servers' own 5 s keep-alive ends: a request sent on a connection
    # the server is closing at that moment fails, which would count as an error of the server's
    limits = httpx.Limits(max_connections=clients + 10, max_keepalive_connections=clients + 10, keepalive_expiry=1)
    async with (
        httpx.AsyncClient(base_url=origin, timeout=120, limits=limits) as api,
        httpx.AsyncClient(timeout=120, limits=limits) as direct,
    ):
        writers, instance_ids = await setup(api, upstream_url, args.writers, args.instances)
        stream_instance = await asyncio.to_thread(switchboard_instance, origin, upstream_url)
        answer = answer_text(args.tokens)
        legs = {
            "switchboard": switchboard_leg(origin, stream_instance, processes.server, answer),
            "direct": openai_leg("direct", upstream_url, {"authorization": f"Bearer {KEY}"}, None, answer),
        }
        before = sample(processes)
        spread = args.tokens * args.piece_ms / 1000  # streams start spread over one answer's length
        through, baseline = legs["switchboard"], legs["direct"]
        tasks = [
            *(chat(through, "switchboard", api, tally, args.length, spread * n / args.streams) for n in range(args.streams)),
            *(chat(baseline, "direct", direct, tally, args.length, spread * n / args.direct) for n in range(args.direct)),
            *(reader(n, api, instance_ids, tally, args.think) for n in range(args.readers)),
            *(writing(writer, api, tally, args.think) for writer in writers),
        ]
        running = [asyncio.create_task(task) for task in tasks]
        print(f"warming up for {args.warmup} s (load average {load_average()}) ...", flush=True)
        await asyncio.sleep(args.warmup)
        tally.measuring = True
        start = sample(processes)
        print(f"measuring for {args.seconds} s (load average {load_average()}):", flush=True)
        watch = asyncio.create_task(monitor(tally, processes, start, args.every)) if args.every else None
        await asyncio.sleep(args.seconds)
        end = sample(processes)
        tally.measuring = False
        tally.running = False
        if watch is not None:
            watch.cancel()
        load_at_end = load_average()
        await asyncio.gather(*running)
    print(f"load average at the end: {load_at_end}")
    report_latencies(tally, end.at - start.at)
    report_errors(tally)
    report_memory(start, end, before, processes, len(tally.turns["switchboard"]))


def answer_text(tokens: int) -> str:
    return " ".join(f"word{number:03d}" for number in range(tokens))


def main(argv: list[str] | None = None) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="measured time (--soak: 600)")
    parser.add_argument("--warmup", type=float, default=10, help="seconds of load before measuring")
    parser.add_argument("--streams", type=int, default=200, help="chat streams through Switchboard")
    parser.add_argument("--direct", type=int, default=10, help="chat streams straight to the upstream (baseline)")
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--writers", type=int, default=10)
    parser.add_argument("--think", type=float, default=0.5, help="seconds between a reader's or writer's requests")
    parser.add_argument("--instances", type=int, default=50, help="instances in the list the readers read")
    parser.add_argument("--tokens", type=int, default=TOKENS, help="tokens in each streamed answer")
    parser.add_argument("--piece-ms", type=float, default=PIECE_MS, help="ms between the upstream's tokens")
    parser.add_argument("--length", type=int, default=10, help="turns per conversation before a new session")
    parser.add_argument("--server", choices=("run", "api"), default="run", help="switchboard run (one port) or api")
    parser.add_argument("--soak", action="store_true", help=f"measure {SOAK_S // 60} minutes, RSS every minute")
    parser.add_argument("--every", type=float, default=0, help="print RSS every this many seconds (--soak: 60)")
    args = parser.parse_args(argv)
    if args.soak:
        args.seconds, args.every = SOAK_S, args.every or 60
    print(
        f"{args.streams} chat streams (+{args.direct} straight to the upstream), {args.readers} readers, {args.writers}"
        f" writers; answers of {args.tokens} tokens {args.piece_ms:g} ms apart; through `switchboard {args.server}`"
    )
    with tempfile.TemporaryDirectory() as name, contextlib.ExitStack() as servers:
        folder = Path(name)
        upstream_url = servers.enter_context(upstream(folder, answer_text(args.tokens), args.piece_ms))
        upstream_port = httpx.URL(upstream_url).port
        assert upstream_port is not None
        origin, group, server = servers.enter_context(switchboard(folder, args.server))
        processes = Processes(server, group, [listening_pid(upstream_port, os.getpid())])
        asyncio.run(run(args, origin, upstream_url, processes))


if __name__ == "__main__":
    main()
