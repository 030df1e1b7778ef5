"""The clients of the killed-mid-write tests (one server, or replicas sharing a log). Each creates instances with
keys, rotates keys, tests connections, opens sessions and sends chat turns, and keeps every answer that acknowledged
a write with the events it promised; a client whose server is killed goes on with another that is up.

Every request carries its own `x-request-id`, which the server records in each event it writes for it: what a
2xx promised is found in the log by that id. A request the kill cut off (no answer) promised nothing.
"""

from __future__ import annotations

import json
import random
import secrets
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from functools import cache

import httpx

from tests.upstreams.scenario import BEHAVIOUR_HEADER, DEFAULT_KEY

GOOD_KEY = DEFAULT_KEY  # the key the local upstream accepts
MODEL = "local-small"
STALLING = {BEHAVIOUR_HEADER: "stall"}
"""An instance with this header gets streams that pause after their first piece: its turns stay in flight a while."""
MAX_INSTANCES = 3
END_TYPE_OF = {
    "completed": "TurnCompleted", "failed": "TurnFailed", "cancelled": "TurnCancelled", "interrupted": "TurnInterrupted"
}
"""The event that ends a turn, by the outcome its `turn` frame names."""
END_TYPES = frozenset(END_TYPE_OF.values())


@dataclass(frozen=True)
class Need:
    """An event the log must hold under the request's id: of one of `types`, its data holding each of `fields`."""

    types: frozenset[str]
    fields: tuple[tuple[str, object], ...] = ()

    def met_by(self, type_: str, data: dict[str, object]) -> bool:
        return type_ in self.types and all(data.get(name) == value for name, value in self.fields)


def need(*types: str, **fields: object) -> Need:
    return Need(frozenset(types), tuple(fields.items()))


@dataclass(frozen=True)
class Ack:
    """A request answered with a 2xx (for a turn: its stream opened, or its `turn` frame came): what it promised,
    to be found under its request id or, for a retry, under the id of an earlier attempt."""

    what: str
    request_ids: tuple[str, ...]
    needs: tuple[Need, ...]
    anywhere: bool = False  # met by events under any request id: a turn's end recorded by another replica's sweep


@dataclass
class Owned:
    """An instance a client created, as far as its answers tell."""

    id: str
    name: str
    key: str | None  # "" once removed; None: a key change went unanswered, so which key it holds is not known
    key_version: int  # the version the last answered key change reported (0 once removed): the lowest it can show
    tested: bool = False
    deleting: bool = False  # a delete was sent: the instance may be gone


@dataclass(frozen=True)
class Chat:
    session_id: str
    agent_id: str
    instance_id: str


@dataclass
class Turn:
    """A message whose stream opened; `outcome` is the `turn` frame's, None when no frame came."""

    request_id: str
    chat: Chat
    outcome: str | None = None
    left: bool = False  # the client went away after the first piece of the answer: the server cancels the turn
    closed_as: str | None = None  # for a turn without a frame: the end event the log has for it, once found


@dataclass(frozen=True)
class Create:
    """A create whose answer the kill cut off: sent again with the same Idempotency-Key when the server is back."""

    body: dict[str, object]
    idempotency_key: str
    request_ids: tuple[str, ...]


@dataclass
class Ledger:
    """What the clients were told, across every run of theirs."""

    acks: list[Ack] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)  # instances whose delete was answered
    unanswered: int = 0  # requests the kill cut off
    refused: Counter[int] = field(default_factory=Counter)  # 4xx answers: nothing written
    faults: list[str] = field(default_factory=list)  # 5xx answers, and requests dropped while the server ran


class Servers:
    """The servers the clients send to: which are up (one is marked down before it is killed, so a request it cut
    off is told from a fault), and whether the clients are to stop after their request in flight."""

    def __init__(self, bases: Sequence[str]) -> None:
        self.bases = tuple(bases)
        self.down: set[str] = set()
        self.stopping = False

    def serving(self, base: str) -> bool:
        return not self.stopping and base not in self.down

    def pick(self, number: int) -> str | None:
        """A server for client `number`: its own share of them when that one is up, else another that is; None when
        none is up or the clients stop."""
        up = [base for base in self.bases if self.serving(base)]
        if not up:
            return None
        own = self.bases[number % len(self.bases)]
        return own if own in up else up[number % len(up)]


class Client:
    """One client: its own instances and sessions, kept from one run to the next, and a random mix of requests."""

    def __init__(
        self, number: int, servers: Servers, token: str, endpoint: str, rng: random.Random, ledger: Ledger
    ) -> None:
        self.number = number
        self.servers = servers
        self.token = token
        self.endpoint = endpoint
        self.rng = rng
        self.ledger = ledger
        self.instances: list[Owned] = []
        self.chats: list[Chat] = []
        self.unanswered_create: Create | None = None
        self._made = 0

    async def run(self) -> None:
        """Send requests one after another while a server is up, moving to another when this one is killed, until
        the clients stop; a request a kill cut off promised nothing, and is counted."""
        base = self.servers.pick(self.number)
        while base is not None:
            cut_off = await self._run_on(base)
            if not cut_off:
                return
            base = self.servers.pick(self.number)

    async def _run_on(self, base: str) -> bool:
        """Requests to one server while it serves; True when its kill cut one off (go on elsewhere)."""
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30, verify=_tls()) as http:
            while self.servers.serving(base):
                try:
                    await self._step(http)
                except httpx.TransportError as error:
                    if base not in self.servers.down:
                        self.ledger.faults.append(f"client {self.number}: no answer while {base} ran: {error!r}")
                        return False
                    self.ledger.unanswered += 1
                    return True
        return base in self.servers.down

    async def _step(self, http: httpx.AsyncClient) -> None:
        if self.unanswered_create is not None:
            await self._send_create(http, self.unanswered_create)
            return
        live = [instance for instance in self.instances if not instance.deleting]
        tested = [instance for instance in live if instance.tested]
        unused = [instance for instance in live if all(chat.instance_id != instance.id for chat in self.chats)]
        choices: list[tuple[float, Callable[[], Coroutine[None, None, None]]]] = [
            (4.0 if len(live) < 1 else 1.0 if len(live) < MAX_INSTANCES else 0.0, lambda: self._create(http)),
            (1.5 if live else 0.0, lambda: self._rotate(http, self.rng.choice(live))),
            (1.5 if live else 0.0, lambda: self._test(http, self.rng.choice(live))),
            (0.3 if live else 0.0, lambda: self._remove_key(http, self.rng.choice(live))),
            (0.5 if live else 0.0, lambda: self._rename(http, self.rng.choice(live))),
            (1.0 if tested and len(self.chats) < 3 else 0.0, lambda: self._open_session(http, self.rng.choice(tested))),
            (5.0 if self.chats else 0.0, lambda: self._send_turn(http, self.rng.choice(self.chats))),
            (0.3 if unused and len(live) > 1 else 0.0, lambda: self._delete(http, self.rng.choice(unused))),
        ]
        weights = [weight for weight, _ in choices]
        _, step = self.rng.choices(choices, weights)[0]
        await step()

    def _request_id(self) -> str:
        return f"c{self.number}-{secrets.token_hex(6)}"

    async def _create(self, http: httpx.AsyncClient) -> None:
        self._made += 1
        name = f"client {self.number} instance {self._made} {secrets.token_hex(3)}"
        body = {
            "name": name, "provider_id": "openai", "endpoint": self.endpoint, "api_key": GOOD_KEY, "max_attempts": 1,
            "headers": STALLING if self.rng.random() < 0.5 else {},
        }
        await self._send_create(http, Create(body, secrets.token_hex(8), ()))

    async def _send_create(self, http: httpx.AsyncClient, create: Create) -> None:
        """Send a create, a retry of an unanswered one being the same request under a new request id."""
        rid = self._request_id()
        attempt = Create(create.body, create.idempotency_key, (*create.request_ids, rid))
        self.unanswered_create = attempt
        headers = {"x-request-id": rid, "idempotency-key": create.idempotency_key}
        answer = await http.post("/api/v1/instances", json=create.body, headers=headers)
        self.unanswered_create = None
        if self._acknowledged(answer):
            instance_id, name = answer.json()["id"], str(create.body["name"])
            self.ledger.acks.append(Ack(
                "instance created" if len(attempt.request_ids) == 1 else "instance created on a retry",
                attempt.request_ids,
                (need("InstanceCreated", instance_id=instance_id, name=name),
                 need("CredentialSet", instance_id=instance_id, credential_version=1)),
            ))
            self.instances.append(Owned(instance_id, name, GOOD_KEY, 1))

    async def _rotate(self, http: httpx.AsyncClient, instance: Owned) -> None:
        """Alternate between the good key and a new wrong one; after an unanswered change, always a new one, so a
        change is never the no-op of setting the key the instance already holds."""
        key = GOOD_KEY if instance.key not in (None, GOOD_KEY) else f"sk-wrong-{secrets.token_hex(8)}"
        instance.key = None
        rid = self._request_id()
        path = f"/api/v1/instances/{instance.id}/credential"
        answer = await http.put(path, json={"api_key": key}, headers={"x-request-id": rid})
        if self._acknowledged(answer):
            version = answer.json()["credential"]["version"]
            self._ack("key changed", rid, need("CredentialSet", "CredentialRotated", instance_id=instance.id,
                                               credential_version=version))
            instance.key, instance.key_version = key, version

    async def _remove_key(self, http: httpx.AsyncClient, instance: Owned) -> None:
        """A removal records CredentialRemoved when the instance has a key; without one it records nothing."""
        had_key = instance.key not in (None, "")
        instance.key, instance.key_version = None, 0
        rid = self._request_id()
        answer = await http.delete(f"/api/v1/instances/{instance.id}/credential", headers={"x-request-id": rid})
        if self._acknowledged(answer):
            instance.key = ""
            if had_key:
                self._ack("key removed", rid, need("CredentialRemoved", instance_id=instance.id))

    async def _rename(self, http: httpx.AsyncClient, instance: Owned) -> None:
        rid = self._request_id()
        name = f"{instance.name.rsplit(' ', 1)[0]} {secrets.token_hex(3)}"
        body = {"name": name}
        answer = await http.patch(f"/api/v1/instances/{instance.id}", json=body, headers={"x-request-id": rid})
        if self._acknowledged(answer):
            self._ack("instance renamed", rid, need("InstanceUpdated", instance_id=instance.id))

    async def _test(self, http: httpx.AsyncClient, instance: Owned) -> None:
        rid = self._request_id()
        answer = await http.post(f"/api/v1/instances/{instance.id}/test", headers={"x-request-id": rid})
        if self._acknowledged(answer):
            self._ack("connection tested", rid, need("ConnectionTested", instance_id=instance.id))
            instance.tested = instance.tested or answer.json()["status"] == "connected"

    async def _open_session(self, http: httpx.AsyncClient, instance: Owned) -> None:
        rid = self._request_id()
        body = {"name": f"client {self.number} chat", "instance_id": instance.id, "model_id": MODEL}
        answer = await http.post("/api/v1/sessions", json=body, headers={"x-request-id": rid})
        if self._acknowledged(answer):
            created = answer.json()
            chat = Chat(created["id"], created["agents"][0]["id"], instance.id)
            self._ack("session created", rid, need("SessionCreated", session_id=chat.session_id),
                      need("AgentCreated", agent_id=chat.agent_id))
            self.chats.append(chat)

    async def _send_turn(self, http: httpx.AsyncClient, chat: Chat) -> None:
        """The stream opens once the message and the turn's start are recorded; its `turn` frame comes once the
        turn's end is. Now and then the client goes away after the first piece of the answer."""
        rid = self._request_id()
        text = f"message {rid}"
        path = f"/api/v1/sessions/{chat.session_id}/agents/{chat.agent_id}/messages"
        leaves = self.rng.random() < 0.1
        async with http.stream("POST", path, json={"text": text}, headers={"x-request-id": rid}) as answer:
            if not self._acknowledged(answer):
                return
            self._ack("turn started", rid, need("MessageAdded", agent_id=chat.agent_id, text=text),
                      need("TurnStarted", agent_id=chat.agent_id))
            turn = Turn(rid, chat)
            self.ledger.turns.append(turn)
            async for event, data in _frames(answer):
                if event == "delta" and leaves:
                    turn.left = True
                    return
                if event == "turn":
                    ended = json.loads(data)
                    self._ack_end(rid, ended["outcome"], need(END_TYPE_OF[ended["outcome"]], turn_id=ended["turn_id"]))
                    turn.outcome = ended["outcome"]

    async def _delete(self, http: httpx.AsyncClient, instance: Owned) -> None:
        instance.deleting = True
        rid = self._request_id()
        answer = await http.delete(f"/api/v1/instances/{instance.id}", headers={"x-request-id": rid})
        if self._acknowledged(answer):
            self._ack("instance deleted", rid, need("InstanceDeleted", instance_id=instance.id))
            self.ledger.deleted.append(instance.id)

    def _acknowledged(self, answer: httpx.Response) -> bool:
        """True for a 2xx; a refusal (4xx) wrote nothing and is counted, a server error is a fault."""
        if answer.is_success:
            return True
        if answer.status_code >= 500:
            self.ledger.faults.append(f"{answer.request.method} {answer.request.url.path}: {answer.status_code}")
        else:
            self.ledger.refused[answer.status_code] += 1
        return False

    def _ack(self, what: str, request_id: str, *needs: Need) -> None:
        self.ledger.acks.append(Ack(what, (request_id,), needs))

    def _ack_end(self, request_id: str, outcome: str, end: Need) -> None:
        """A turn told `interrupted` was closed by another replica's sweep while it ran here (its lease had lapsed):
        its end is that sweep's, under no request of the client's."""
        if outcome == "interrupted":
            self.ledger.acks.append(Ack("turn ended as interrupted by another replica", (request_id,), (end,), True))
        else:
            self._ack("turn ended", request_id, end)


@cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every client (none is used over plain HTTP, but each new httpx client would otherwise
    load the CA bundle again, which holds up the event loop for tens of milliseconds)."""
    return ssl.create_default_context()


async def _frames(answer: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """The server-sent events of a stream, as (event, data)."""
    event = ""
    async for line in answer.aiter_lines():
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield event, line.removeprefix("data: ")
