"""Turn leases: a turn in flight belongs to the replica running it for as long as that replica renews its lease.

Several replicas share one log, so none may close another's turns at start-up. Each replica takes a lease on
a turn before it records `TurnStarted`, renews its leases every sweep, and sweeps: an open turn whose lease
expired, or that has none (a turn from before leases), is closed as `TurnInterrupted` under the turn's one end
id, so replicas sweeping together store one end. Expiry times are the replicas' wall clocks, which must agree
to well within a lease.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Sequence

import anyio
import msgspec

from backend.sessions.events import TurnInterrupted, stream_of, turn_end_id
from backend.sessions.view import SessionListView
from events import EventStore, Metadata
from events.sql import ViewTransaction

log = logging.getLogger(__name__)

LEASES = "turn_leases"
CREATE = (
    f"CREATE TABLE IF NOT EXISTS {LEASES} (turn_id TEXT PRIMARY KEY, replica TEXT NOT NULL, "
    "expires_at DOUBLE PRECISION NOT NULL){options}"
)


class LeaseTiming(msgspec.Struct, frozen=True, kw_only=True):
    """How long a lease lasts unrenewed, and how often a replica renews its leases and sweeps."""

    lease_s: float = 15.0
    sweep_s: float = 5.0

    def __post_init__(self) -> None:
        if not 0 < self.sweep_s < self.lease_s:
            raise ValueError("a lease must outlast the interval it is renewed at")


class OpenTurn(msgspec.Struct, frozen=True):
    session_id: str
    agent_id: str
    turn_id: str


def replica_name() -> str:
    """This process among the replicas: host, process id and a random part (a restarted process is another)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class TurnLeases:
    """This replica's leases in the store's `turn_leases` table."""

    def __init__(
        self, store: EventStore, timing: LeaseTiming, replica: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.timing = timing
        self.replica = replica
        self.clock = clock

    async def create_table(self) -> None:
        await self.store.write_transaction(_create)

    async def take(self, turn_id: str) -> None:
        """Lease a turn to this replica; taken before its `TurnStarted` is appended, so no sweep finds it bare."""
        sql = f"INSERT INTO {LEASES} (turn_id, replica, expires_at) VALUES (?, ?, ?)"
        await self._write(sql, (turn_id, self.replica, self._expiry()))

    async def release(self, turn_id: str) -> None:
        await self._write(f"DELETE FROM {LEASES} WHERE turn_id = ?", (turn_id,))

    async def renew(self) -> None:
        """Push back the expiry of every lease this replica holds."""
        await self._write(f"UPDATE {LEASES} SET expires_at = ? WHERE replica = ?", (self._expiry(), self.replica))

    async def held(self, turn_ids: Sequence[str]) -> set[str]:
        """Those of the turns whose lease has not expired."""
        if not turn_ids:
            return set()
        marks = ",".join("?" * len(turn_ids))
        rows = await self.store.fetch(
            f"SELECT turn_id FROM {LEASES} WHERE turn_id IN ({marks}) AND expires_at > ?", (*turn_ids, self.clock()))
        return {str(row[0]) for row in rows}

    async def forget_expired(self) -> None:
        """Drop leases expired for a whole lease: their turns were swept meanwhile (or never started)."""
        await self._write(f"DELETE FROM {LEASES} WHERE expires_at < ?", (self.clock() - self.timing.lease_s,))

    def _expiry(self) -> float:
        return self.clock() + self.timing.lease_s

    async def _write(self, sql: str, params: Sequence[object]) -> None:
        async def work(tx: ViewTransaction) -> None:
            await tx.execute(sql, params)

        await self.store.write_transaction(work)


async def _create(tx: ViewTransaction) -> None:
    await tx.execute(CREATE.format(options=tx.dialect.table_options))


async def open_turns(store: EventStore, view: SessionListView) -> list[OpenTurn]:
    return [
        OpenTurn(row.session.id, agent_id, started.turn_id)
        for row in await view.with_open_turns(store)
        for agent_id, started in row.open_turns.items()
    ]


async def sweep(
    leases: TurnLeases, view: SessionListView, metadata: Metadata, *, running: Sequence[str] = (), everything: bool = False
) -> int:
    """`TurnInterrupted` for each open turn whose lease expired or that has none, except the turns this replica is
    `running`; with `everything`, for every open turn (a single process starting on its own log). Answers how many
    ends this replica stored: another replica closing the same turn first makes this one's append a duplicate."""
    store = leases.store
    found = [turn for turn in await open_turns(store, view) if turn.turn_id not in running]
    held = set() if everything else await leases.held([turn.turn_id for turn in found])
    closed = 0
    for turn in found:
        if turn.turn_id in held:
            continue
        result = await store.append(
            stream_of(turn.session_id), [TurnInterrupted(agent_id=turn.agent_id, turn_id=turn.turn_id)],
            metadata=metadata, event_ids=[turn_end_id(turn.turn_id)],
        )
        closed += not result.duplicate
    await leases.forget_expired()
    return closed


async def keep_leases(
    leases: TurnLeases, view: SessionListView, metadata: Metadata, running: Callable[[], Sequence[str]]
) -> None:
    """Every sweep interval, renew this replica's leases (while it runs turns) and sweep; runs until cancelled."""
    while True:
        await anyio.sleep(leases.timing.sweep_s)
        try:
            if running():
                await leases.renew()
            await sweep(leases, view, metadata, running=running())
        except Exception as error:  # the store may be briefly unreachable: the next interval tries again
            log.warning("turn leases not kept this interval: %s", type(error).__name__)
