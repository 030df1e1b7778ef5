"""Turn leases: a turn in flight belongs to the replica running it for as long as that replica renews its lease.

Several replicas share one log, so none may close another's turns at start-up. Each replica takes a lease on
a turn before it records `TurnStarted`, renews its leases every sweep, and sweeps: an open turn whose lease
expired, or that has none (a turn from before leases), is first claimed (one statement that succeeds for one
replica only) and then closed as `TurnInterrupted` under the turn's one end id. A renewal extends only leases
that have not expired, so a lease once claimed is never brought back: the replica whose turn it was learns from
its renewal that the turn is gone and stops it. Expiry times are the replicas' wall clocks, which must agree
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

    async def renew(self) -> set[str]:
        """Push back the expiry of every unexpired lease this replica holds; the turns renewed. A turn of this
        replica's missing from them has lost its lease (it expired, and another replica may have claimed it)."""
        sql = f"UPDATE {LEASES} SET expires_at = ? WHERE replica = ? AND expires_at > ? RETURNING turn_id"
        return set(await self._claimed(sql, (self._expiry(), self.replica, self.clock())))

    async def claim(self, turn_id: str) -> bool:
        """Take an expired lease, or the lease of a turn that has none, for this replica; whether it was taken.
        Of replicas claiming together one alone gets it, and a lease renewed in time is never taken."""
        expired = f"UPDATE {LEASES} SET replica = ?, expires_at = ? WHERE turn_id = ? AND expires_at <= ? RETURNING turn_id"
        missing = (
            f"INSERT INTO {LEASES} (turn_id, replica, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (turn_id) DO NOTHING RETURNING turn_id"
        )

        async def work(tx: ViewTransaction) -> bool:
            if await tx.fetch(expired, (self.replica, self._expiry(), turn_id, self.clock())):
                return True
            return bool(await tx.fetch(missing, (turn_id, self.replica, self._expiry())))

        return await self.store.write_transaction(work)

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

    async def _claimed(self, sql: str, params: Sequence[object]) -> list[str]:
        """The turn ids a `... RETURNING turn_id` statement answers, run in a write transaction."""
        async def work(tx: ViewTransaction) -> list[str]:
            return [str(row[0]) for row in await tx.fetch(sql, params)]

        return await self.store.write_transaction(work)


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
    """`TurnInterrupted` for each open turn whose lease expired or that has none and that this replica claimed,
    except the turns this replica is `running`; with `everything`, for every open turn (a single process starting
    on its own log). Answers how many ends this replica stored: the replica running a turn may store its own
    `TurnInterrupted` first, on learning that its lease was taken, making this one's append a duplicate."""
    store = leases.store
    found = [turn for turn in await open_turns(store, view) if turn.turn_id not in running]
    held = set() if everything else await leases.held([turn.turn_id for turn in found])  # a read spares most claims
    closed = 0
    for turn in found:
        if not everything and (turn.turn_id in held or not await leases.claim(turn.turn_id)):
            continue
        result = await store.append(
            stream_of(turn.session_id), [TurnInterrupted(agent_id=turn.agent_id, turn_id=turn.turn_id)],
            metadata=metadata, event_ids=[turn_end_id(turn.turn_id)],
        )
        closed += not result.duplicate
    await leases.forget_expired()
    return closed


async def keep_leases(
    leases: TurnLeases, view: SessionListView, metadata: Metadata, running: Callable[[], Sequence[str]],
    lost: Callable[[set[str]], None],
) -> None:
    """Every sweep interval, keep the leases once; runs until cancelled."""
    while True:
        await anyio.sleep(leases.timing.sweep_s)
        try:
            await keep_once(leases, view, metadata, running, lost)
        except Exception as error:  # the store may be briefly unreachable: the next interval tries again
            log.warning("turn leases not kept this interval: %s", type(error).__name__)


async def keep_once(
    leases: TurnLeases, view: SessionListView, metadata: Metadata, running: Callable[[], Sequence[str]],
    lost: Callable[[set[str]], None],
) -> None:
    """Renew this replica's leases (while it runs turns), hand the running turns whose lease was not renewed to
    `lost`, and sweep. A turn is in `running` only once its lease is taken, so one missing from the renewal
    either ended meanwhile (its lease released) or lost its lease."""
    before = set(running())
    if before:
        renewed = await leases.renew()
        if before - renewed:
            lost(before - renewed)
    await sweep(leases, view, metadata, running=running())
