"""What the instance page holds: the instance's configuration now (or as of a point of the log chosen on its
timeline), the timeline of its events newest first, and what changed between two points.

The chosen point and the comparison live in the address (`?id=…&as_of=N&compare=M|now`), so a reload or a fresh
tab shows the same; choosing them on the page is following a link, which runs `load` again."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import msgspec
import reflex as rx

from frontend import instances_api
from frontend.api import Client, Problem
from frontend.auth import client_for
from frontend.forms import REQUEST_FAILURES, describe_failure
from frontend.layout import page_range
from frontend.live import react_to
from frontend.pages.instances_state import (
    INSTANCE_PAGE,
    instance_href,
    key_words,
    last_test_words,
    shown_endpoint,
    shown_time,
)
from frontend.words import plural, words_for

TIMELINE_PAGE = 25
NOT_FOUND = 404
DELETED = "InstanceDeleted"
NOW = "now"
STREAM_EVENTS = ("Instance", "Credential", "Connection", "Endpoint")  # the types an instance's own stream holds
FIELD_LABELS = {
    "name": "Name",
    "provider_id": "Provider",
    "provider_type": "Provider type",
    "endpoint": "Endpoint",
    "timeout_ms": "Timeout (ms)",
    "max_attempts": "Attempts",
    "backoff_ms": "Backoff (ms)",
    "api_version": "API version",
    "status": "Status",
    "model_count": "Models",
    "created_at": "Created",
    "created_by": "Created by",
    "key_changed_at": "Key changed",
    "credential.last4": "Key (last four)",
    "credential.version": "Key version",
    "credential.fingerprint": "Key fingerprint",
    "credential.verified": "Key verified",
    "credential.set_at": "Key set",
    "credential.rotated_at": "Key rotated",
    "credential.origin": "Key confirmed for",
    "last_test.outcome": "Last test outcome",
    "last_test.http_status": "Last test HTTP status",
    "last_test.latency_ms": "Last test latency (ms)",
    "last_test.model_count": "Last test models",
    "last_test.message": "Last test message",
    "last_test.credential_version": "Last test key version",
    "last_test.tested_at": "Last tested",
}
TIME_FIELDS = frozenset({"created_at", "key_changed_at", "credential.set_at", "credential.rotated_at",
                         "last_test.tested_at"})
CODE_FIELDS = frozenset({"status", "last_test.outcome"})  # shown in words, as their badges say them
FINGERPRINT_SHOWN = 8  # a key's fingerprint is shown by its first characters, as token hashes are


@dataclass
class Fact:
    """One line of the configuration; `code` set: shown as a badge in words (a status or test outcome)."""

    label: str
    value: str
    name: str  # what tests and styles find it by: `fact-<name>`
    code: str = ""


@dataclass
class TimelineEntry:
    """One event of the instance, with links that show the configuration as of it and compare with it."""

    position: int
    time: str
    type: str
    actor: str
    summary: str
    outcome: str  # of a connection test or a failed verification; "" for other events
    as_of_href: str = ""  # "" when there is no configuration to show there (the deletion)
    compare_href: str = ""
    shown: bool = False  # the point the configuration is shown as of
    compared: bool = False  # the point it is compared with


@dataclass
class ChangedBy:
    """An event that changed a field: which one (`#12 InstanceUpdated`), and who caused it when."""

    event: str
    by: str


@dataclass
class ChangeRow:
    """A field that changed between two points: its values at each, and the events that changed it."""

    field: str
    before: str
    after: str
    changed_by: list[ChangedBy]


@dataclass(frozen=True)
class Address:
    """What the page's address asks for: the instance, the point its configuration is shown as of (0: now) and
    the point it is compared with ("", "now" or a log position)."""

    instance_id: str
    as_of: int = 0
    compare: str = ""

    def href(self) -> str:
        points = [("as_of", str(self.as_of))] if self.as_of else []
        points += [("compare", self.compare)] if self.compare else []
        query = urlencode(points)
        return instance_href(self.instance_id) + (f"&{query}" if query else "")


def point_problem(name: str, raw: str, head: int, allow_now: bool = False) -> str:
    """Why `raw` is not a point of the log to show (positions run from 1 to `head`), or "" when it is one."""
    if allow_now and raw == NOW:
        return ""
    if not (raw.isascii() and raw.isdecimal()) or int(raw) < 1:
        return f"“{raw[:40]}” is not a point of the log ({name} must be an event number such as 12)."
    if int(raw) > head:
        return f"There is no event #{raw} yet ({name}): the log ends at event #{head:,}."
    return ""


def retry_words(instance: instances_api.Instance) -> str:
    if instance.max_attempts <= 1:
        return "1 attempt, no retries"
    return f"up to {instance.max_attempts} attempts, {instance.backoff_ms:,} ms apart at first, doubling"


def facts_of(instance: instances_api.Instance) -> list[Fact]:
    """The configuration as the page lists it: never the key, only which one it is."""
    test = instance.last_test
    facts = [
        Fact("Status", instance.status, "status", code=instance.status),
        Fact("Name", instance.name, "name"),
        Fact("Provider", f"{instance.provider_id} · {instance.provider_type}", "provider"),
        Fact("Endpoint", shown_endpoint(instance), "endpoint"),
        Fact("Timeout", f"{instance.timeout_ms:,} ms", "timeout"),
        Fact("Retries", retry_words(instance), "retries"),
    ]
    if instance.api_version:
        facts.append(Fact("API version", instance.api_version, "api-version"))
    if instance.headers:
        headers = ", ".join(f"{name}: {value}" for name, value in instance.headers.items())
        facts.append(Fact("Headers", headers, "headers"))
    facts += [
        Fact("Key", key_words(instance), "key"),
        Fact("Last test", last_test_words(instance), "tested-at"),
    ]
    if test is not None:
        facts.append(Fact("Outcome", test.outcome, "outcome", code=test.outcome))
    models = "–" if instance.model_count is None else plural(instance.model_count, "model")
    return [*facts, Fact("Models", models, "models")]


def value_words(field: str, value: instances_api.Leaf) -> str:
    """A field's value as the comparison shows it; "–" where the field was not there."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if field == "endpoint" and value == "":
        return "provider default"
    if isinstance(value, int):
        return f"{value:,}"
    if field == "credential.fingerprint":
        return f"{str(value)[:FINGERPRINT_SHOWN]}…"
    if field in TIME_FIELDS:
        return shown_time(str(value))
    return words_for(str(value)) if field in CODE_FIELDS else str(value)


def change_row(change: instances_api.FieldChange) -> ChangeRow:
    name = change.field
    label = FIELD_LABELS.get(name) or (f"Header {name[len('headers.'):]}" if name.startswith("headers.") else name)
    changed_by = [
        ChangedBy(f"#{event.position} {event.type}", f"{event.actor} · {shown_time(event.recorded_at)}")
        for event in change.events
    ]
    return ChangeRow(label, value_words(name, change.before), value_words(name, change.after), changed_by)


def timeline_entry(event: instances_api.HistoryEvent) -> TimelineEntry:
    return TimelineEntry(
        event.position, shown_time(event.recorded_at), event.type, event.actor, event.summary, event.data.outcome
    )


def with_links(entry: TimelineEntry, address: Address) -> TimelineEntry:
    """The entry marked as the shown or compared point, with links to show the configuration as of it (dropping
    a comparison made from another point) and to compare the shown configuration with it."""
    position = entry.position
    as_of = "" if entry.type == DELETED else Address(address.instance_id, position).href()
    compare = Address(address.instance_id, address.as_of, str(position)).href()
    return TimelineEntry(
        position, entry.time, entry.type, entry.actor, entry.summary, entry.outcome, as_of, compare,
        shown=position == address.as_of, compared=str(position) == address.compare,
    )


async def moment(client: Client, position: int) -> str:
    """When the event at `position` was logged, as pages show times."""
    events = await client.events_up_to(position, 1)
    return shown_time(events[0].recorded_at) if events else "?"


class InstancePageState(rx.State):
    """The instance the address names: its configuration at the chosen point, its timeline a page at a time
    (newest first, `first` entries above the page), and the comparison asked for."""

    instance_id: str = ""
    loaded: bool = False
    missing: str = ""  # why there is no instance to show
    name: str = ""
    deleted: str = ""  # when and by whom it was deleted; "" while it exists
    as_of: int = 0
    compare: str = ""
    shown_as: str = ""  # which configuration the panel shows: now, as of a point, or the last before deletion
    facts: list[Fact] = []
    point_error: str = ""  # the address names a point that is not one
    config_error: str = ""  # there is no configuration at the chosen point
    comparing: bool = False
    diff_title: str = ""
    changes: list[ChangeRow] = []
    entries: list[TimelineEntry] = []
    first: int = 0
    total: int = 0  # the instance's events when the newest page was loaded
    newer: int = 0  # its events logged since, while a later page is shown
    more: bool = False
    error: str = ""
    _pages: list[int] = []  # the `before` cursor of each page from the newest (0) to the one shown
    _newest: int = 0  # the position of the instance's newest event seen

    @rx.var
    def range_text(self) -> str:
        return page_range(self.first, len(self.entries), self.total)

    @rx.var
    def newer_text(self) -> str:
        return f"{plural(self.newer, 'new event')} — show the newest"

    @rx.var
    def now_href(self) -> str:
        return Address(self.instance_id).href()

    @rx.var
    def compare_now_href(self) -> str:
        return Address(self.instance_id, self.as_of, NOW).href()

    @rx.var
    def uncompare_href(self) -> str:
        return Address(self.instance_id, self.as_of).href()

    @rx.event
    async def load(self) -> None:
        """Show what the address asks for; the timeline stays on the page it was on while the instance is the
        same one."""
        query = self.router.url.query_parameters
        instance_id = query.get("id", "")
        if instance_id != self.instance_id or not self.loaded:
            self.reset()
            self.instance_id = instance_id
        if not instance_id:
            self.missing = "No instance chosen: pick one on the Instances page."
            return
        client = client_for(self)
        if await self._read_address(client, query.get("as_of", ""), query.get("compare", "")):
            await self._refresh(client)

    @rx.event
    async def logged(self) -> None:
        """An instance event was logged somewhere: if it is one of this instance's, show it."""
        if self.router.url.path.rstrip("/") != INSTANCE_PAGE or not self.loaded:
            return
        client = client_for(self)
        try:
            newest = await instances_api.history_page(client, self.instance_id, 1)
        except REQUEST_FAILURES as failure:
            self.error = describe_failure(failure)
            return
        if newest and newest[0].position != self._newest:
            await self._refresh(client)

    @rx.event
    async def newest_page(self) -> None:
        await self._turn_page([0])

    @rx.event
    async def next_page(self) -> None:
        if self.more and self.entries:
            await self._turn_page([*self._pages, self.entries[-1].position])

    @rx.event
    async def previous_page(self) -> None:
        """Back a page; back on the first page that is the newest events, as when the page was opened."""
        await self._turn_page(self._pages[:-1] or [0])

    async def _turn_page(self, pages: list[int]) -> None:
        """Show the timeline's page below the last cursor of `pages` (0: the newest page)."""
        try:
            await self._show_page(client_for(self), pages[-1] or None, pages)
        except REQUEST_FAILURES as failure:
            self.error = describe_failure(failure)
            return
        self._mark()

    async def _read_address(self, client: Client, as_of: str, compare: str) -> bool:
        """Take the points the address names; a point that is not one is said, and the page shows now instead."""
        self.as_of, self.compare, self.point_error = 0, "", ""
        if not as_of and not compare:
            return True
        try:
            head = await client.log_head()
        except REQUEST_FAILURES as failure:
            self.error = describe_failure(failure)
            return False
        problems = [point_problem("as_of", as_of, head) if as_of else "",
                    point_problem("compare", compare, head, allow_now=True) if compare else ""]
        self.point_error = " ".join(problem for problem in problems if problem)
        self.as_of = int(as_of) if as_of and not problems[0] else 0
        self.compare = compare if compare and not problems[1] else ""
        return True

    async def _refresh(self, client: Client) -> None:
        """The timeline (the newest page again, or a count of what is newer than the page shown), the instance's
        state, its configuration at the chosen point and the comparison."""
        try:
            if self.first == 0:
                await self._show_page(client, None, [0])
            else:
                newest = (await instances_api.history_page(client, self.instance_id, 1))[0]
                self._take_newest(newest)
                self.newer = max(0, newest.version - self.total)
            await self._show_configuration(client)
            await self._show_comparison(client)
        except Problem as problem:
            if problem.status == NOT_FOUND and not self.loaded:
                self.missing = f"There is no instance “{self.instance_id}”."
                return
            self.error = describe_failure(problem)
            return
        except REQUEST_FAILURES as failure:
            self.error = describe_failure(failure)
            return
        self.loaded, self.error = True, ""
        self._mark()

    async def _show_page(self, client: Client, before: int | None, pages: list[int]) -> None:
        events = await instances_api.history_page(client, self.instance_id, TIMELINE_PAGE, before)
        if not events:
            return
        if before is None:
            self._take_newest(events[0])
            self.total, self.newer = events[0].version, 0
        self.first = self.total - events[0].version
        self.entries = [timeline_entry(event) for event in events]
        self.more, self._pages = events[-1].version > 1, pages

    async def _show_configuration(self, client: Client) -> None:
        """The configuration at the chosen point; with none chosen, now, or for a deleted instance the last one.

        The name on top is always the latest one."""
        latest = await instances_api.get_instance(client, self.instance_id, self._last_point())
        self.name, self.config_error = latest.name, ""
        if not self.as_of:
            self.shown_as = "Its last configuration, before it was deleted" if self.deleted else "Now"
            self.facts = facts_of(latest)
            return
        self.shown_as = f"As of {await moment(client, self.as_of)} (event #{self.as_of})"
        try:
            then = await instances_api.get_instance(client, self.instance_id, self.as_of)
        except Problem as problem:
            if problem.status != NOT_FOUND:
                raise
            self.facts, self.config_error = [], f"Nothing to show as of event #{self.as_of}: {problem.detail}."
            return
        self.facts = facts_of(msgspec.structs.replace(then, key_missing=False))  # the vault now says nothing of then

    def _last_point(self) -> int | None:
        """Where the latest configuration is: now, or for a deleted instance just before its deletion."""
        return self._newest - 1 if self.deleted else None

    async def _show_comparison(self, client: Client) -> None:
        """What changed between the shown configuration's point and the compared one, earlier to later."""
        self.comparing, self.changes, self.diff_title = False, [], ""
        if not self.compare:
            return
        shown = self.as_of or self._last_point()
        other = None if self.compare == NOW else int(self.compare)
        if shown is None and other is None:
            return
        start, end = sorted((shown, other), key=lambda point: float("inf") if point is None else point)
        assert start is not None  # sorted: now comes last, and they are not both now
        changes = await instances_api.instance_diff(client, self.instance_id, start, end)
        self.changes = [change_row(change) for change in changes]
        ending = "now" if end is None else f"{await moment(client, end)} (event #{end})"
        self.diff_title = f"From {await moment(client, start)} (event #{start}) to {ending}"
        self.comparing = True

    def _take_newest(self, newest: instances_api.HistoryEvent) -> None:
        self._newest, self.deleted = newest.position, _deletion_words(newest)

    def _mark(self) -> None:
        address = Address(self.instance_id, self.as_of, self.compare)
        self.entries = [with_links(entry, address) for entry in self.entries]


def _deletion_words(newest: instances_api.HistoryEvent) -> str:
    if newest.type != DELETED:
        return ""
    return f"Deleted {shown_time(newest.recorded_at)} by {newest.actor} (event #{newest.position})."


react_to(STREAM_EVENTS, InstancePageState.logged)
