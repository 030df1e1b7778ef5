"""Chat benchmark: time to first token and total time of a streamed 200-token answer, straight from the upstream,
through Switchboard's `POST .../messages` and through a LiteLLM proxy, side by side in one run.

Run `python -m bench.chat`. The upstream, Switchboard (`switchboard api`) and LiteLLM each run in a process of
their own on 127.0.0.1; this process is only the client. LiteLLM is installed on first use into bench/.litellm-venv.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import msgspec

from bench.catalog import free_port, percentile

KEY = "sk-bench-key-0123456789abcdef"
LITELLM_KEY = "sk-bench-litellm-master-0123456789abcdef"  # the proxy refuses to start without one
MODEL = "local-small"
ANSWER = " ".join(f"word{number:03d}" for number in range(200))  # the upstream streams one token per word
QUESTION = "Tell me two hundred words."
SESSIONS = "/api/v1/sessions"
HERE = Path(__file__).resolve().parent
LITELLM_VENV = HERE / ".litellm-venv"
READY_TIMEOUT_S = 120
DIRECT = "direct (httpx -> upstream)"
SWITCHBOARD = "Switchboard POST .../messages"
LITELLM = "LiteLLM proxy"
TAIL = 16_384  # bytes kept of the end of a stream, enough for the turn event
SATURATED_MS = 60  # a direct TTFT p99 above this leaves the added-latency targets unjudged
BLOCKS = 3  # the concurrent legs take turns this many times


class Timing(msgspec.Struct, frozen=True):
    ttft: float
    total: float
    upstream_ttft: float | None = None  # what Switchboard recorded in the turn: from its upstream request on


@dataclass
class Conversation:
    """One thread of turns: the messages sent so far (direct, LiteLLM) or the agent's messages URL (Switchboard)."""

    messages: list[dict[str, str]] = field(default_factory=list)
    url: str = ""
    turns: int = 0


Turn = Callable[[httpx.AsyncClient, Conversation], Awaitable[Timing]]
Opener = Callable[[httpx.AsyncClient], Awaitable[Conversation]]


@dataclass(frozen=True)
class Leg:
    name: str
    turn: Turn
    open: Opener
    pid: int | None = None  # the server process whose memory is measured


# --- processes -------------------------------------------------------------------------------------------------


@contextmanager
def process(
    args: list[str], env: dict[str, str], ready_url: str, log: Path, timeout: float = READY_TIMEOUT_S
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server in a process group of its own, wait until `ready_url` answers at all, stop the group
    (the server and whatever it started) afterwards."""
    with log.open("wb") as output:
        child = subprocess.Popen(
            args, env=env, stdout=output, stderr=subprocess.STDOUT, cwd=HERE.parent, start_new_session=True
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if child.poll() is not None:
                raise RuntimeError(f"{args[0]} exited with {child.returncode}; see {log}:\n{log.read_text()[-2000:]}")
            try:
                httpx.get(ready_url, timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{args[0]} did not answer within {timeout:.0f} s; see {log}") from None
                time.sleep(0.1)
        yield child
    finally:
        stop_group(child)


def stop_group(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is not None:
        return
    os.killpg(child.pid, signal.SIGTERM)
    try:
        child.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()


@contextmanager
def upstream(folder: Path, answer: str = ANSWER, piece_ms: float = 0) -> Iterator[str]:
    """The local upstream, streaming `answer` one token per piece, `piece_ms` apart."""
    port = free_port()
    args = [sys.executable, "-m", "bench.upstream", "--port", str(port), "--key", KEY, "--model", MODEL]
    args += ["--piece-ms", str(piece_ms)]
    origin = f"http://127.0.0.1:{port}"
    with process(args, dict(os.environ), f"{origin}/_upstream/scenario", folder / "upstream.log"):
        httpx.post(f"{origin}/_upstream/scenario", json={"reply": answer}).raise_for_status()
        yield f"{origin}/openai/v1"


@contextmanager
def switchboard(folder: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {**os.environ, "SWITCHBOARD_DATA_DIR": str(folder / "data"), "SWITCHBOARD_PORT": str(port)}
    origin = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "backend.cli", "api"]
    with process(args, env, f"{origin}/api/v1/instances", folder / "switchboard.log") as child:
        yield origin, child.pid


def litellm_python(venv: Path) -> Path | None:
    """The LiteLLM venv's python, created and filled from PyPI the first time; None when that fails."""
    python = venv / "bin" / "python"
    installed = venv / ".installed"
    if installed.exists():
        return python
    print(f"installing litellm[proxy] into {venv} (once; the log is {venv / 'install.log'}) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    with (venv / "install.log").open("wb") as log:
        pip = [str(python), "-m", "pip", "install", "--quiet", "litellm[proxy]"]
        if subprocess.run(pip, check=False, stdout=log, stderr=subprocess.STDOUT).returncode != 0:
            return None
    installed.touch()
    return python


@contextmanager
def litellm(folder: Path, upstream_url: str, python: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    config = {
        "model_list": [
            {
                "model_name": MODEL,
                "litellm_params": {"model": f"openai/{MODEL}", "api_base": upstream_url, "api_key": KEY},
            }
        ],
        "litellm_settings": {"telemetry": False},
    }
    path = folder / "litellm.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False", "LITELLM_LOG": "ERROR"}
    env["LITELLM_MASTER_KEY"] = LITELLM_KEY
    env.pop("DATABASE_URL", None)
    args = [str(python.parent / "litellm"), "--config", str(path), "--host", "127.0.0.1", "--port", str(port)]
    args += ["--telemetry", "False"]
    origin = f"http://127.0.0.1:{port}"
    with process(args, env, f"{origin}/health/liveliness", folder / "litellm.log") as child:
        yield origin, child.pid


def litellm_version(python: Path) -> str:
    code = "import importlib.metadata as m; print(m.version('litellm'))"
    return subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True).stdout.strip()


# --- one turn per leg --------------------------------------------------------------------------------------------


def openai_text(line: bytes) -> bool:
    """An OpenAI stream line that carries answer text (the first chunk carries only the role)."""
    if not line.startswith(b"data: {"):
        return False
    choices = msgspec.json.decode(line[6:]).get("choices") or [{}]
    return bool((choices[0].get("delta") or {}).get("content"))


def switchboard_text(line: bytes) -> bool:
    """A `delta` event's data line with text in it (the `turn` event's data has an outcome besides its text)."""
    if not line.startswith(b"data: {"):
        return False
    data = msgspec.json.decode(line[6:])
    return bool(data.get("text")) and "outcome" not in data


async def read_stream(response: httpx.Response, carries_text: Callable[[bytes], bool]) -> tuple[float, bytes]:
    """When the first line with answer text arrived, and the stream's last bytes; after the first text the rest
    is read without splitting or decoding, so that the client spends as little as it can per stream."""
    first = 0.0
    pending = tail = b""
    async for chunk in response.aiter_raw():
        tail = chunk if len(chunk) >= TAIL else (tail + chunk)[-TAIL:]
        if first:
            continue
        *lines, pending = (pending + chunk).split(b"\n")
        if any(carries_text(line) for line in lines):
            first = time.perf_counter()
    return first, tail


def openai_leg(name: str, base: str, headers: dict[str, str], pid: int | None, answer: str = ANSWER) -> Leg:
    async def turn(client: httpx.AsyncClient, conversation: Conversation) -> Timing:
        messages = [*conversation.messages, {"role": "user", "content": QUESTION}]
        body = {"model": MODEL, "messages": messages, "stream": True, "stream_options": {"include_usage": True}}
        started = time.perf_counter()
        async with client.stream("POST", f"{base}/chat/completions", json=body, headers=headers) as response:
            response.raise_for_status()
            first, tail = await read_stream(response, openai_text)
        ended = time.perf_counter()
        if not first or not tail.rstrip().endswith(b"data: [DONE]"):
            raise RuntimeError(f"{name}: the stream carried no answer text or did not end with [DONE]")
        conversation.messages = [*messages, {"role": "assistant", "content": answer}]
        return Timing(first - started, ended - started)

    async def open_conversation(client: httpx.AsyncClient) -> Conversation:
        return Conversation()

    return Leg(name, turn, open_conversation, pid)


def switchboard_leg(origin: str, instance_id: str, pid: int | None, answer: str = ANSWER) -> Leg:
    async def turn(client: httpx.AsyncClient, conversation: Conversation) -> Timing:
        started = time.perf_counter()
        async with client.stream("POST", conversation.url, json={"text": QUESTION}) as response:
            response.raise_for_status()
            first, tail = await read_stream(response, switchboard_text)
        ended = time.perf_counter()
        _, found, data = tail.rpartition(b"event: turn\ndata: ")
        out = msgspec.json.decode(data.split(b"\n", 1)[0]) if found else {}
        if not first or out.get("outcome") != "completed" or out.get("text") != answer:
            raise RuntimeError(f"{SWITCHBOARD}: the turn ended {out.get('outcome') or 'without a turn event'}")
        return Timing(first - started, ended - started, out["ttft_ms"] / 1000)

    async def open_conversation(client: httpx.AsyncClient) -> Conversation:
        body = {"name": "Bench", "instance_id": instance_id, "model_id": MODEL}
        response = await client.post(f"{origin}{SESSIONS}", json=body)
        response.raise_for_status()
        view = response.json()
        url = f"{origin}{SESSIONS}/{view['id']}/agents/{view['agents'][0]['id']}/messages"
        return Conversation(url=url)

    return Leg(SWITCHBOARD, turn, open_conversation, pid)


def sessions_api_missing(origin: str) -> str | None:
    """Why the Switchboard leg cannot be measured on this build, or None."""
    response = httpx.get(f"{origin}{SESSIONS}")
    if response.status_code in (404, 405):
        return f"GET {SESSIONS} answers {response.status_code}: this build has no sessions API"
    return None


def switchboard_instance(origin: str, upstream_url: str) -> str:
    """An OpenAI instance on the upstream, tested once so that its listed models are known."""
    with httpx.Client(base_url=origin, timeout=30) as api:
        body = {"name": "Bench", "provider_id": "openai", "endpoint": upstream_url, "api_key": KEY, "max_attempts": 1}
        created = api.post("/api/v1/instances", json=body)
        created.raise_for_status()
        instance_id: str = created.json()["id"]
        api.post(f"/api/v1/instances/{instance_id}/test").raise_for_status()
        return instance_id


# --- measuring -------------------------------------------------------------------------------------------------


@dataclass
class Stream:
    """One client stream of a leg: its conversation, renewed every `length` turns (renewal is not timed)."""

    leg: Leg
    length: int
    conversation: Conversation | None = None

    async def turn(self, client: httpx.AsyncClient) -> Timing:
        if self.conversation is None or self.conversation.turns >= self.length:
            self.conversation = await self.leg.open(client)
        timing = await self.leg.turn(client, self.conversation)
        self.conversation.turns += 1
        return timing

    async def turns(self, client: httpx.AsyncClient, count: int) -> list[Timing]:
        return [await self.turn(client) for _ in range(count)]


async def one_at_a_time(legs: list[Leg], turns: int, length: int, warmup: int) -> dict[str, list[Timing]]:
    """The legs take turns, one stream at a time, so load from elsewhere falls on all of them alike."""
    timings: dict[str, list[Timing]] = {leg.name: [] for leg in legs}
    async with httpx.AsyncClient(timeout=60) as client:
        streams = [Stream(leg, length) for leg in legs]
        for number in range(warmup + turns):
            for stream in streams:
                timing = await stream.turn(client)
                if number >= warmup:
                    timings[stream.leg.name].append(timing)
    return timings


@dataclass
class Concurrent:
    timings: list[Timing]
    idle_rss: int | None  # bytes
    peak_rss: int | None


async def concurrently(legs: list[Leg], streams: int, rounds: int, blocks: int, length: int) -> dict[str, Concurrent]:
    """Per leg `streams` client streams at once, each `rounds` turns in a row per block; the legs take turns by block.

    Each block starts with one untimed turn per stream, which opens its connection again: a connection left idle
    while the other legs run is closed by the server's keep-alive timeout. Each server's RSS is read before the
    first block (its peak is reset there) and its peak after the last.
    """
    limits = httpx.Limits(max_connections=streams + 10, max_keepalive_connections=streams + 10, keepalive_expiry=1)
    idle = {leg.name: reset_peak(leg.pid) for leg in legs}
    timings: dict[str, list[Timing]] = {leg.name: [] for leg in legs}
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(httpx.AsyncClient(timeout=120, limits=limits)) for _ in legs]
        lanes = [[Stream(leg, length) for _ in range(streams)] for leg in legs]
        for _ in range(blocks):
            for leg, client, leg_lanes in zip(legs, clients, lanes, strict=True):
                await asyncio.gather(*(lane.turn(client) for lane in leg_lanes))
                per_lane = await asyncio.gather(*(lane.turns(client, rounds) for lane in leg_lanes))
                timings[leg.name] += [timing for lane in per_lane for timing in lane]
    return {leg.name: Concurrent(timings[leg.name], idle[leg.name], peak_rss(leg.pid)) for leg in legs}


def tree(pid: int) -> list[int]:
    """The process and all its descendants."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in children:
            found += tree(int(child))
    return found


def status_kb(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


def reset_peak(pid: int | None) -> int | None:
    """Current RSS of the server's processes; their peak (VmHWM) is reset to it (Linux `clear_refs` 5)."""
    if pid is None:
        return None
    total = 0
    for member in tree(pid):
        Path(f"/proc/{member}/clear_refs").write_text("5")
        total += status_kb(member, "VmRSS")
    return total * 1024


def peak_rss(pid: int | None) -> int | None:
    return None if pid is None else sum(status_kb(member, "VmHWM") for member in tree(pid)) * 1024


# --- printing --------------------------------------------------------------------------------------------------


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def p99_ms(values: list[float]) -> float:
    return percentile(values, 0.99) * 1000


def table(title: str, timings: dict[str, list[Timing]]) -> None:
    print(f"\n{title}")
    print(f"  {'':32}{'TTFT median':>12}{'p99':>9}{'total median':>14}{'p99':>9}   (ms)")
    for name, values in timings.items():
        first = [timing.ttft for timing in values]
        whole = [timing.total for timing in values]
        print(f"  {name:32}{median_ms(first):12.2f}{p99_ms(first):9.2f}{median_ms(whole):14.2f}{p99_ms(whole):9.2f}")


def added(timings: dict[str, list[Timing]], base: str, target: str, met: Callable[[float, float], bool]) -> None:
    """Each leg's median and p99 minus the baseline's, with the verdict on Switchboard's added TTFT."""
    print(f"  added over {base} (each leg's median and p99 minus the direct leg's):")
    direct = timings[base]
    for name, values in timings.items():
        if name == base:
            continue
        cells = []
        for pick in ("ttft", "total"):
            ours = [getattr(timing, pick) for timing in values]
            theirs = [getattr(timing, pick) for timing in direct]
            cells += [median_ms(ours) - median_ms(theirs), p99_ms(ours) - p99_ms(theirs)]
        verdict = ""
        if name == SWITCHBOARD:
            verdict = f"   target: added TTFT {target}: {judged(met(cells[0], cells[1]), direct)}"
        print(f"    {name:30}{cells[0]:+12.2f}{cells[1]:+9.2f}{cells[2]:+14.2f}{cells[3]:+9.2f}{verdict}")
        before_upstream(values)


def judged(met: bool, direct: list[Timing]) -> str:
    """The verdict, unless the baseline is itself so slow that a difference of a few ms says nothing."""
    baseline = p99_ms([timing.ttft for timing in direct])
    if baseline > SATURATED_MS:
        return f"not judged (the direct leg's own TTFT p99 is {baseline:.0f} ms: the machine is saturated)"
    return "met" if met else "NOT met"


def before_upstream(values: list[Timing]) -> None:
    """Per turn, the client's TTFT minus the TTFT Switchboard recorded from its own upstream request on."""
    paired = [timing.ttft - timing.upstream_ttft for timing in values if timing.upstream_ttft is not None]
    if paired:
        print(f"    {'  of which before its upstream':30}{median_ms(paired):12.2f}{p99_ms(paired):9.2f}"
              "   (per turn: the client's TTFT minus the TTFT the turn recorded)")


def memory(results: dict[str, Concurrent], streams: int) -> None:
    print(f"  server memory: RSS of its process tree before the {streams} streams opened, its peak (VmHWM) over them:")
    for name, result in results.items():
        if result.idle_rss is None or result.peak_rss is None:
            continue
        per_stream = (result.peak_rss - result.idle_rss) / streams / 1024
        print(
            f"    {name:30}before {result.idle_rss / 2**20:6.1f} MB, peak {result.peak_rss / 2**20:6.1f} MB:"
            f" {per_stream:7.1f} KB per concurrent stream"
        )


# --- main ------------------------------------------------------------------------------------------------------


def measure(legs: list[Leg], args: argparse.Namespace) -> None:
    timings = asyncio.run(one_at_a_time(legs, args.turns, args.length, args.warmup))
    table(f"one stream at a time, {args.turns} turns per leg (the legs take turns, one turn each):", timings)
    added(timings, DIRECT, "median < 5 ms, p99 < 15 ms", lambda median, p99: median < 5 and p99 < 15)
    rounds = max(1, args.turns // args.streams // BLOCKS)
    results = asyncio.run(concurrently(legs, args.streams, rounds, BLOCKS, args.length))
    many = {name: result.timings for name, result in results.items()}
    each = f"{rounds * BLOCKS} turns each, {args.streams * rounds * BLOCKS} per leg"
    table(f"{args.streams} concurrent streams, {each} (the legs take turns {BLOCKS} times):", many)
    added(many, DIRECT, "p99 < 25 ms", lambda median, p99: p99 < 25)
    memory(results, args.streams)


def main(argv: list[str] | None = None) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description="Chat benchmark")
    parser.add_argument("--turns", type=int, default=300, help="timed turns per leg, one stream at a time")
    parser.add_argument("--streams", type=int, default=50, help="concurrent streams")
    parser.add_argument("--length", type=int, default=10, help="turns per conversation before a new one starts")
    parser.add_argument("--warmup", type=int, default=20, help="untimed turns per leg first")
    parser.add_argument("--no-litellm", action="store_true", help="leave the LiteLLM leg out")
    args = parser.parse_args(argv)
    print(f"answer: {len(ANSWER.split())} tokens streamed by the local upstream (tests.upstreams, OpenAI protocol)")
    with tempfile.TemporaryDirectory() as name, ExitStack() as servers:
        folder = Path(name)
        upstream_url = servers.enter_context(upstream(folder))
        legs = [openai_leg(DIRECT, upstream_url, {"authorization": f"Bearer {KEY}"}, None)]
        origin, pid = servers.enter_context(switchboard(folder))
        missing = sessions_api_missing(origin)
        if missing is None:
            legs.append(switchboard_leg(origin, switchboard_instance(origin, upstream_url), pid))
        python = None if args.no_litellm else litellm_python(LITELLM_VENV)
        if python is not None:
            print(f"LiteLLM {litellm_version(python)} proxy: one worker, no database, local cost map, telemetry off")
            litellm_origin, litellm_pid = servers.enter_context(litellm(folder, upstream_url, python))
            headers = {"authorization": f"Bearer {LITELLM_KEY}"}
            legs.append(openai_leg(LITELLM, f"{litellm_origin}/v1", headers, litellm_pid))
        measure(legs, args)
    if missing is not None:
        print(f"\n{SWITCHBOARD}: NOT MEASURED ({missing})")
    if python is None:
        reason = "--no-litellm" if args.no_litellm else f"installing it failed; see {LITELLM_VENV / 'install.log'}"
        print(f"\n{LITELLM}: NOT MEASURED ({reason})")


if __name__ == "__main__":
    main()
