"""Names for the ids that event summaries mention, so the audit log and history lists read "instance 'Prod'"
and "provider Anthropic" rather than hex ids (the ids stay in each event's stream and data).

A summary names an instance as "instance <id>", an agent as "agent <id>" and a provider as "provider <id>";
`Names.put_in` swaps in the name of each id it knows and leaves any other text alone, above all the names
people typed, which summaries quote as Python's repr does ('...' or "..."), so a session called
'switch provider openai to local' keeps its name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:  # the services import every domain, this module's readers among them
    from backend.services import Services

MENTION = re.compile(
    r"""(?=['"IiAaPp])"""
    r"""(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\b(instance|agent|provider) ([\w-]+(?:\.[\w-]+)*))""",
    re.IGNORECASE,
)
"""A quoted span (matched first, left alone) or a mention of an id. The lookahead lets the scan pass over every
character that cannot start either at once (a summary is searched about three times as fast)."""
QUOTED = ("instance", "agent")  # names people typed are quoted; provider names are proper names already


@dataclass(frozen=True)
class Names:
    """Instance, agent and provider names by id, looked up once for a whole page of events."""

    instances: Mapping[str, str] = field(default_factory=dict)
    agents: Mapping[str, str] = field(default_factory=dict)
    providers: Mapping[str, str] = field(default_factory=dict)

    def put_in(self, summary: str) -> str:
        if not (self.instances or self.agents or self.providers):
            return summary  # no name to put in
        return MENTION.sub(self._named, summary)

    def _named(self, mention: re.Match[str]) -> str:
        word, ident = mention.group(1), mention.group(2)
        if word is None:
            return mention.group(0)  # a quoted name, as typed
        kind = word.lower()
        known = {"instance": self.instances, "agent": self.agents, "provider": self.providers}[kind].get(ident)
        if known is None:
            return mention.group(0)
        return f"{word} {known!r}" if kind in QUOTED else f"{word} {known}"


async def names_of(services: Services) -> Names:
    """Every live instance's, agent's and catalog provider's name: three lookups, however many events."""
    sessions = await services.sessions.view.all(services.store)
    return Names(
        instances=await services.sessions.instance_names(),
        agents={agent.id: agent.name for row in sessions for agent in row.session.agents},
        providers={provider.id: provider.name for provider in services.catalog.providers()},
    )


@cache
def naming_since() -> str:
    """The query for an event that may name something anew between two positions: any event but turns and key
    changes, which name nothing new. Under chat load a log gains little else."""
    from backend.instances.events import (  # the domains' controllers import this module
        ConnectionTested,
        CredentialRemoved,
        CredentialRotated,
        CredentialSet,
        CredentialVerificationFailed,
        EndpointConfirmed,
    )
    from backend.sessions.events import (
        MessageAdded,
        TurnCancelled,
        TurnCompleted,
        TurnFailed,
        TurnInterrupted,
        TurnStarted,
        TurnStopRequested,
    )

    nameless = (
        MessageAdded, TurnStarted, TurnCompleted, TurnFailed, TurnCancelled, TurnStopRequested, TurnInterrupted,
        ConnectionTested,
        CredentialSet, CredentialRotated, CredentialRemoved, EndpointConfirmed, CredentialVerificationFailed,
    )
    types = ", ".join(f"'{kind.__name__}'" for kind in nameless)
    return f"SELECT 1 FROM events WHERE position > ? AND position <= ? AND type NOT IN ({types}) LIMIT 1"


class NameBook:
    """The names as of a log position, shared by every request and live feed of the service: looked up again
    only once the log has moved past the position they were looked up at with an event that may name something
    (`naming_since`), by one caller while the others wait. A live feed replaying a long backlog looks them up
    once, and never waits on a lookup between its frames.

    Looking them up reads every session, so doing it whenever the log moved made each audit read under chat load
    cost in proportion to all the sessions ever held."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._head = -1
        self._names = Names()
        self._lookup = anyio.Lock()

    async def now(self) -> Names:
        """The names as of the log's head now."""
        return await self.at(await self._services.store.head())

    async def at(self, position: int) -> Names:
        """Names at least as recent as `position`."""
        if position <= self._head:
            return self._names
        async with self._lookup:
            if position > self._head:
                store = self._services.store
                head = await store.head()
                if self._head < 0 or await store.fetch(naming_since(), (self._head, head)):
                    self._names = await names_of(self._services)
                self._head = head
        return self._names
