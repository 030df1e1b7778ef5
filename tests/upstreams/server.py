"""All upstream protocols on one port: the ASGI app, its control routes, and uvicorn run in a thread."""

import asyncio
import dataclasses
import math
import socket
import struct
import threading
import time
from dataclasses import dataclass
from email.utils import formatdate
from typing import get_args

import uvicorn

from tests.upstreams import anthropic_api, azure_api, gemini_api, ollama_api, openai_api
from tests.upstreams.asgi import (
    FaultPlan,
    JsonReply,
    Receive,
    Reply,
    Request,
    Reset,
    Scope,
    Send,
    read_request,
    send_reply,
)
from tests.upstreams.dialect import Dialect
from tests.upstreams.scenario import BEHAVIOURS, ERROR_STATUS, FAULTS, Behaviour, RetryAfter, Scenario

DIALECTS: tuple[Dialect, ...] = (
    openai_api.DIALECT,
    anthropic_api.DIALECT,
    gemini_api.DIALECT,
    azure_api.DIALECT,
    ollama_api.DIALECT,
)
CONTROL_PREFIX = "/_upstream"
SETTABLE = (
    "key",
    "models",
    "reply",
    "thinking",
    "behaviour",
    "script",
    "retry_after_s",
    "retry_after_as",
    "delay_s",
    "keepalive_s",
    "error_message",
    "pieces_before_fault",
    "cache_read_tokens",
    "cache_write_tokens",
)


@dataclass(frozen=True)
class Urls:
    """Base URLs to put in a Connection (or an SDK client) for each protocol."""

    origin: str
    openai: str
    anthropic: str
    gemini: str
    azure: str
    ollama: str
    control: str

    @classmethod
    def at(cls, origin: str) -> "Urls":
        return cls(
            origin=origin,
            openai=f"{origin}/openai/v1",
            anthropic=f"{origin}/anthropic",
            gemini=f"{origin}/gemini",
            azure=f"{origin}/azure",
            ollama=f"{origin}/ollama",
            control=f"{origin}{CONTROL_PREFIX}",
        )


class UpstreamApp:
    """Routes a request to its protocol, plays the scenario's behaviour, and records what it saw.
    `connections` is uvicorn's set of open connections (its protocol objects), to reset one: the server that
    runs the app hands it over once it exists."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.connections: set[asyncio.Protocol] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = await read_request(scope, receive)
        if request.path.startswith(CONTROL_PREFIX + "/"):
            await send_reply(send, receive, control(request, self.scenario), FaultPlan())
            return
        reset = self.resetter(scope)
        answered = await self.answer(request, reset)
        if answered is None:
            await reset()  # hang up: no answer at all
            return
        reply, fault = answered
        await send_reply(send, receive, reply, fault)

    async def answer(self, request: Request, reset: Reset) -> tuple[Reply, FaultPlan] | None:
        """The reply and the fault to play on it; None: hang up without answering."""
        dialect = next((d for d in DIALECTS if request.path.startswith(d.prefix + "/")), None)
        if dialect is None:
            return JsonReply({"error": f"no upstream serves {request.path}"}, 404), FaultPlan()
        self.scenario.requests.append(request)
        behaviour = self.scenario.next_behaviour(request)
        found = dialect.find(request.method, request.path)
        if found is None:
            return dialect.error(404, None), FaultPlan()
        refusal = dialect.refuse(request, self.scenario)
        if refusal is not None:
            return refusal, FaultPlan()
        if behaviour == "hang_up":
            return None
        if behaviour in ERROR_STATUS:
            return self.forced_error(dialect, behaviour), FaultPlan()
        resets = self.scenario.resets
        if behaviour == "slow":
            await asyncio.sleep(self.scenario.delay_s)
            if self.scenario.resets != resets:  # the test that sent it is over: leave the next one's scenario alone
                return dialect.error(500, "the scenario was reset while this request waited"), FaultPlan()
        route, params = found
        reply = route.handler(request, params, self.scenario)
        if behaviour == "stream_error" and isinstance(reply, JsonReply) and reply.status < 400:
            return JsonReply(dialect.error(500, self.scenario.error_message).body), FaultPlan()  # an error, status 200
        plan = FaultPlan(
            FAULTS.get(behaviour, "none"),
            self.scenario.delay_s,
            self.scenario.pieces_before_fault,
            self.scenario.keepalive_s,
            reset,
            lambda: self.scenario.resets == resets,
        )
        return reply, plan

    def forced_error(self, dialect: Dialect, behaviour: Behaviour) -> JsonReply:
        status = ERROR_STATUS[behaviour]
        reply = dialect.error(status, self.scenario.error_message)
        if status != 429:
            return reply
        return dataclasses.replace(reply, headers=retry_after(self.scenario.retry_after_s, self.scenario.retry_after_as))

    def resetter(self, scope: Scope) -> Reset:
        """Resets the connection `scope` came on: SO_LINGER 0 makes closing it send RST instead of FIN."""
        client = tuple(scope["client"] or ())

        async def reset() -> None:
            for protocol in list(self.connections):
                transport = getattr(protocol, "transport", None)
                if getattr(protocol, "client", None) == client and isinstance(transport, asyncio.Transport):
                    transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    transport.abort()
            await asyncio.sleep(0)  # uvicorn learns the connection is lost before the app returns

        return reset


def retry_after(seconds: float, form: RetryAfter) -> dict[str, str]:
    """The retry-after header: seconds, or the HTTP date that many seconds from now (rounded up), or none."""
    if form == "absent":
        return {}
    if form in ("http_date", "http_date_no_zone"):
        return {"retry-after": formatdate(math.ceil(time.time() + seconds), usegmt=form == "http_date")}
    return {"retry-after": f"{seconds:g}"}


def control(request: Request, scenario: Scenario) -> JsonReply:
    """GET|POST /_upstream/scenario, POST /_upstream/reset, GET /_upstream/requests, GET /_upstream/reasoning."""
    action = (request.method, request.path.removeprefix(CONTROL_PREFIX))
    if action == ("POST", "/scenario"):
        problem = _update(scenario, request.json() or {})
        if problem:
            return JsonReply({"error": problem}, 400)
    elif action == ("POST", "/reset"):
        scenario.reset()
    elif action == ("GET", "/requests"):
        return JsonReply([_described(seen) for seen in scenario.requests])
    elif action == ("GET", "/reasoning"):
        return JsonReply(scenario.reasoning)
    elif action != ("GET", "/scenario"):
        return JsonReply({"error": "unknown control route"}, 404)
    return JsonReply({name: getattr(scenario, name) for name in SETTABLE})


def _update(scenario: Scenario, changes: dict) -> str | None:
    unknown = set(changes) - set(SETTABLE)
    named = [changes.get("behaviour", "ok"), *changes.get("script", [])]
    forms = get_args(RetryAfter)
    if unknown or any(name not in BEHAVIOURS for name in named) or changes.get("retry_after_as", "seconds") not in forms:
        return f"settable: {', '.join(SETTABLE)}; behaviours: {', '.join(BEHAVIOURS)}; retry_after_as: {', '.join(forms)}"
    for name, value in changes.items():
        setattr(scenario, name, value)
    return None


def _described(request: Request) -> dict:
    body = request.body.decode("utf-8", "replace")
    return {
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "headers": request.headers,
        "body": body,
        "json": request.parsed(),
        "received_at": request.received_at,
    }


class UpstreamServer:
    """uvicorn on 127.0.0.1 (a free port unless one is given); `start` runs it in a thread, `serve` in front."""

    def __init__(self, scenario: Scenario | None = None, port: int = 0, host: str = "127.0.0.1") -> None:
        self.scenario = scenario or Scenario()
        self._socket = socket.create_server((host, port))
        # uvicorn sets no TCP_NODELAY on a socket it is handed: without it, every answer on a kept-alive
        # connection waits about 40 ms for the client's delayed ACK
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.port: int = self._socket.getsockname()[1]
        self.urls = Urls.at(f"http://{host}:{self.port}")
        self._app = UpstreamApp(self.scenario)
        config = uvicorn.Config(
            self._app,
            http="h11",
            ws="none",
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._app.connections = self._server.server_state.connections
        self._thread: threading.Thread | None = None

    def open_connections(self) -> int:
        """How many client connections are open on this server now."""
        return len(self._server.server_state.connections)

    def start(self) -> "UpstreamServer":
        self._thread = threading.Thread(target=self.serve, name=f"upstream-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the upstream server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def serve(self) -> None:
        self._server.run(sockets=[self._socket])

    def stop(self) -> None:
        """Stop listening: afterwards connections to this port are refused."""
        self._server.should_exit = True
        self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> "UpstreamServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
