"""What both writers keep about a group of appends decided together, and the log state they remember between
groups."""

from __future__ import annotations

from events.errors import ConcurrencyConflict, EventIdReused
from events.event import AppendResult
from events.planning import GroupState, LogTip, Planned
from events.queue import PendingAppend
from events.views import InlineView

MAX_CACHED_STREAMS = 100_000

Outcome = Planned | AppendResult | Exception


class LogCache:
    """The log's tip and stream versions as of this writer's last group; valid only while no other connection
    appends (a group decided from it is then refused by the database and decided again from the log)."""

    def __init__(self, tip: LogTip) -> None:
        self.tip = tip
        self.versions: dict[str, int] = {}


class Group:
    """Appends decided together: each one's outcome, and the log's state after them."""

    __slots__ = ("appends", "outcomes", "state")

    def __init__(self, appends: list[PendingAppend], outcomes: list[Outcome], state: GroupState) -> None:
        self.appends = appends
        self.outcomes = outcomes
        self.state = state

    @property
    def planned(self) -> list[Planned]:
        return [outcome for outcome in self.outcomes if isinstance(outcome, Planned)]

    def answer(self) -> None:
        """Give every caller its answer, in one go."""
        for append, outcome in zip(self.appends, self.outcomes, strict=True):
            append.finish(outcome.result if isinstance(outcome, Planned) else outcome)


class GroupPlanner:
    """Deciding groups against a state, and remembering the state after them; for a writer with inline views."""

    _views: tuple[InlineView, ...]
    _cache: LogCache | None

    def _decide(self, state: GroupState, appends: list[PendingAppend]) -> Group:
        """Each append in order against the state, accepted ones advancing it."""
        outcomes: list[Outcome] = []
        for append in appends:
            outcome = self._plan(state, append)
            if isinstance(outcome, Planned):
                state.advance(outcome)
            outcomes.append(outcome)
        return Group(appends, outcomes, state)

    def _plan(self, state: GroupState, append: PendingAppend) -> Outcome:
        try:
            return state.plan(append.request, with_stored=bool(self._views))
        except (ConcurrencyConflict, EventIdReused) as error:
            return error

    def _remember(self, state: GroupState) -> None:
        if self._cache is None or len(self._cache.versions) > MAX_CACHED_STREAMS:
            self._cache = LogCache(state.tip)
        self._cache.tip = state.tip
        self._cache.versions.update(state.versions)
