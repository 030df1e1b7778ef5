"""The Audit page: the log, newest first, 50 events a page, narrowed by filters (type, actor, stream, time, words).
On the first page new events arrive live; on a later page the rows stay put and a bar says how many new events
match, leading back to the newest. A row opens a drawer with the event's payload and links to what it concerns;
the export links download every matching event."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import reflex as rx

from frontend.api import AuditFilters
from frontend.auth import client_for
from frontend.forms import REQUEST_FAILURES, describe_failure, error_callout
from frontend.layout import page_frame, page_intro, page_range, pager
from frontend.live import EventRow, event_row, react_to
from frontend.pages.instances_state import INSTANCE_PAGE
from frontend.words import plural

PAGE = 50
NEWER_COUNTED = 500  # the most new events counted for the bar on a later page (the API's largest page)
ROUTE = "/audit"
EXPORT = "/api/v1/audit/export"
COLUMNS = ("#", "Time (UTC)", "Type", "Summary", "Actor", "Stream")
FILTER_FIELDS = ("type", "actor", "stream", "since", "until", "q")
LINKED = (  # a key in an event's payload (or its stream's prefix), what it names and that thing's page
    ("instance_id", "instance-", "Instance", f"{INSTANCE_PAGE}?id="),
    ("session_id", "session-", "Session", "/sessions/view?id="),
    ("provider_id", "catalog-", "Provider", "/catalog/provider?id="),
)


@dataclass
class Concerned:
    """A thing an event concerns, with the page that shows it."""

    label: str
    href: str


def filters_from(form: dict[str, str]) -> AuditFilters:
    """The filter form's fields as an audit filter: several types split by commas or spaces; a time picked on the
    page is UTC, like the times the page shows."""

    def moment(value: str) -> str:
        value = value.strip()
        return f"{value}:00Z" if re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d", value) else value

    text = {name: form.get(name, "").strip() for name in FILTER_FIELDS}
    return AuditFilters(
        types=tuple(name for name in re.split(r"[,\s]+", text["type"]) if name),
        actor=text["actor"], stream=text["stream"], since=moment(text["since"]), until=moment(text["until"]),
        q=text["q"],
    )


def export_href(filters: AuditFilters, export_format: str) -> str:
    """The export of every event the filters match, as a same-origin address the browser downloads."""
    return f"{EXPORT}?{urlencode([*filters.params(), ('format', export_format)])}"


def _values(data: object, key: str) -> Iterator[str]:
    """Every text value under `key` anywhere in a decoded payload."""
    if isinstance(data, dict):
        for name, value in data.items():
            if name == key and isinstance(value, str) and value:
                yield value
            yield from _values(value, key)
    elif isinstance(data, list):
        for item in data:
            yield from _values(item, key)


def concerned(stream_id: str, data: object) -> list[Concerned]:
    """The instance, session and provider an event is about: its stream's, and those its payload names."""
    found: list[Concerned] = []
    for key, prefix, label, page in LINKED:
        ids = [stream_id.removeprefix(prefix)] if stream_id.startswith(prefix) else []
        for one in dict.fromkeys([*ids, *_values(data, key)]):
            found.append(Concerned(f"{label} {one}", page + quote(one, safe="")))
    return found


def pretty(payload: str) -> str:
    return json.dumps(json.loads(payload), indent=2, ensure_ascii=False)


class AuditState(rx.State):
    """One page of the matching events below `anchor`, the log's head when the newest page was loaded."""

    rows: list[EventRow] = []
    anchor: int = 0
    first: int = 0  # how many matching events are newer than the page's first row, back from `anchor`
    more: bool = False  # whether older events match
    newer: int = 0  # matching events logged after `anchor`, not shown yet
    filtered: bool = False
    ndjson_href: str = EXPORT + "?format=ndjson"
    csv_href: str = EXPORT + "?format=csv"
    error: str = ""
    detail_open: bool = False
    detail: EventRow = EventRow(0, "", "", "", "", "")
    detail_payload: str = ""
    detail_links: list[Concerned] = []
    _filters: AuditFilters = AuditFilters()
    _pages: list[int] = []  # the `before` cursor of each page from the newest to the one shown
    _payloads: dict[int, str] = {}  # the shown events' payloads by position

    @rx.var
    def range_text(self) -> str:
        if not self.filtered:
            return page_range(self.first, len(self.rows), self.anchor)
        if not self.rows:
            return "No matching events"
        return f"{self.first + 1:,}-{self.first + len(self.rows):,} matching"

    @rx.var
    def newer_text(self) -> str:
        more = "+" if self.newer >= NEWER_COUNTED else ""
        return f"{plural(self.newer, 'new event')}{more} — show the newest"

    @rx.event
    async def load(self) -> None:
        await self._show_newest()

    @rx.event
    async def newest(self) -> None:
        await self._show_newest()

    @rx.event
    async def apply_filters(self, form: dict[str, str]) -> None:
        self._set_filters(filters_from(form))
        await self._show_newest()

    @rx.event
    async def clear_filters(self) -> None:
        self._set_filters(AuditFilters())
        await self._show_newest()

    @rx.event
    async def previous_page(self) -> None:
        """Back a page; back on the first page that is the newest events, as when the page was opened."""
        if len(self._pages) <= 2:
            await self._show_newest()
        else:
            await self._show(self._pages[-2], self.first - PAGE, self._pages[:-1])

    @rx.event
    async def next_page(self) -> None:
        if self.more and self.rows:
            await self._show(self.rows[-1].position, self.first + PAGE, [*self._pages, self.rows[-1].position])

    @rx.event
    async def logged(self) -> None:
        """A new event: the first page takes it in; a later page keeps its rows and counts the new matches."""
        if self.router.url.path.rstrip("/") != ROUTE:  # the built site serves pages as folders: "/audit/"
            return
        if self.first == 0:
            await self._show_newest()
            return
        try:
            page = await client_for(self).audit_events(self._filters, after=self.anchor, limit=NEWER_COUNTED)
        except REQUEST_FAILURES as failure:
            self.error = describe_failure(failure)
            return
        self.newer = len(page.events)

    @rx.event
    def open_detail(self, position: int) -> None:
        shown = [row for row in self.rows if row.position == position]
        if not shown or position not in self._payloads:
            return
        self.detail, raw = shown[0], self._payloads[position]
        self.detail_payload = pretty(raw)
        self.detail_links = concerned(self.detail.stream, json.loads(raw))
        self.detail_open = True

    @rx.event
    def show_detail(self, is_open: bool) -> None:
        self.detail_open = is_open

    def _set_filters(self, filters: AuditFilters) -> None:
        self._filters, self.filtered = filters, filters != AuditFilters()
        self.ndjson_href, self.csv_href = export_href(filters, "ndjson"), export_href(filters, "csv")

    async def _show_newest(self) -> None:
        try:
            self.anchor = await client_for(self).log_head()
        except REQUEST_FAILURES as failure:
            self.error = describe_failure(failure)
            return
        self.newer = 0
        await self._show(self.anchor + 1, 0, [self.anchor + 1])

    async def _show(self, before: int, first: int, pages: list[int]) -> None:
        try:
            page = await client_for(self).audit_events(self._filters, before=before, limit=PAGE)
        except REQUEST_FAILURES as failure:
            self.rows, self.more, self.error = [], False, describe_failure(failure)
            return
        self._payloads = {event.position: bytes(event.data).decode() for event in page.events}
        self.rows, self.first, self._pages = [event_row(event) for event in page.events], first, pages
        self.more, self.error = page.next is not None, ""


def _event_row(row: EventRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row.position),
        rx.table.cell(row.time, white_space="nowrap"),
        rx.table.cell(rx.badge(row.type, variant="soft")),
        rx.table.cell(row.summary, min_width="16rem"),
        rx.table.cell(row.actor),
        rx.table.cell(rx.code(row.stream, variant="ghost"), white_space="nowrap"),
        on_click=AuditState.open_detail(row.position),
        cursor="pointer",
        class_name="event-row",
    )


def _event_item(row: EventRow) -> rx.Component:
    """An event as stacked lines, for a phone: what happened first, then who and where."""
    return rx.flex(
        rx.flex(
            rx.badge(row.type, variant="soft"),
            rx.spacer(),
            rx.text("#", row.position, " · ", row.time, size="1", color_scheme="gray"),
            align="center",
            spacing="2",
            wrap="wrap",
        ),
        rx.text(row.summary, size="2", overflow_wrap="anywhere", class_name="event-summary"),
        rx.text(row.actor, " · ", row.stream, size="1", color_scheme="gray", overflow_wrap="anywhere"),
        direction="column",
        spacing="1",
        padding_y="var(--space-3)",
        border_bottom="1px solid var(--gray-4)",
        on_click=AuditState.open_detail(row.position),
        cursor="pointer",
        class_name="event-item",
    )


def _newer_bar() -> rx.Component:
    return rx.cond(
        AuditState.newer > 0,
        rx.button(
            rx.icon("arrow-up", size=16), AuditState.newer_text,
            on_click=AuditState.newest, variant="soft", width="100%", id="newer-events",
        ),
    )


def _filter_input(label: str, name: str, placeholder: str = "", **props: object) -> rx.Component:
    return rx.flex(
        rx.el.label(rx.text(label, size="1", weight="medium"), html_for=f"filter-{name}"),
        rx.input(id=f"filter-{name}", name=name, placeholder=placeholder, width="100%", **props),
        direction="column",
        spacing="1",
        min_width="0",
    )


def _filters() -> rx.Component:
    return rx.form(
        rx.grid(
            _filter_input("Type", "type", "e.g. InstanceCreated, SessionCreated"),
            _filter_input("Actor", "actor", "who did it"),
            _filter_input("Stream", "stream", "an id, or a prefix such as instance-"),
            _filter_input("Since (UTC)", "since", type="datetime-local"),
            _filter_input("Until (UTC)", "until", type="datetime-local"),
            _filter_input("Words", "q", "in the payload"),
            columns=rx.breakpoints(initial="1", sm="2", md="3"),
            spacing="3",
            width="100%",
        ),
        rx.flex(  # two groups that wrap whole, so no button sits alone on a line
            rx.flex(
                rx.button(rx.icon("filter", size=16), "Filter", type="submit", id="filter-apply"),
                rx.button(
                    "Clear", type="reset", variant="soft", color_scheme="gray", on_click=AuditState.clear_filters,
                    id="filter-clear",
                ),
                spacing="3",
            ),
            rx.spacer(),
            rx.flex(
                _export_link("NDJSON", AuditState.ndjson_href, "export-ndjson"),
                _export_link("CSV", AuditState.csv_href, "export-csv"),
                spacing="3",
            ),
            spacing="3",
            align="center",
            wrap="wrap",
            margin_top="var(--space-3)",
        ),
        on_submit=AuditState.apply_filters,
        id="audit-filters",
        margin_bottom="var(--space-4)",
    )


def _export_link(label: str, href: rx.Var[str], link_id: str) -> rx.Component:
    """A plain link (same origin, so the browser sends its cookie) that downloads the matching events: a document
    request, not the app's own routing between its pages."""
    return rx.button(
        rx.link(rx.icon("download", size=16), label, href=href, reload_document=True, download="", id=link_id),
        as_child=True, variant="soft", color_scheme="gray",
    )


def _detail_link(link: Concerned) -> rx.Component:
    return rx.el.a(link.label, href=link.href, class_name="detail-link", style={"overflow_wrap": "anywhere"})


def _detail_drawer() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(rx.badge(AuditState.detail.type, variant="soft", size="3")),
            rx.dialog.description(
                "#", AuditState.detail.position, " · ", AuditState.detail.time, " · ", AuditState.detail.actor,
                " · ", AuditState.detail.stream, size="2", color_scheme="gray", overflow_wrap="anywhere",
            ),
            rx.text(AuditState.detail.summary, size="2", margin_top="var(--space-2)"),
            rx.flex(rx.foreach(AuditState.detail_links, _detail_link), spacing="3", wrap="wrap",
                    margin_y="var(--space-3)", id="detail-links"),
            rx.el.pre(
                AuditState.detail_payload, id="detail-payload",
                style={"overflow": "auto", "max_height": "50vh", "font_size": "12px", "padding": "var(--space-3)",
                       "background": "var(--gray-3)", "border_radius": "var(--radius-2)", "margin": "0"},
            ),
            rx.flex(rx.dialog.close(rx.button("Close", variant="soft", color_scheme="gray", id="detail-close")),
                    justify="end", margin_top="var(--space-3)"),
            width="100%",
            max_width="min(720px, calc(100vw - 2 * var(--space-4)))",
            id="event-detail",
        ),
        open=AuditState.detail_open,
        on_open_change=AuditState.show_detail,
    )


def audit_page() -> rx.Component:
    return page_frame(
        "Audit",
        _filters(),
        page_intro(
            "Every change, newest first. New events appear as they are logged.",
            pager(
                AuditState.range_text, AuditState.first > 0, AuditState.more,
                AuditState.previous_page, AuditState.next_page,
            ),
            margin_bottom="var(--space-3)",
        ),
        error_callout(AuditState.error),
        _newer_bar(),
        rx.tablet_and_desktop(
            rx.table.root(  # its own scroll area: on a narrow tablet the table scrolls sideways inside it
                rx.table.header(rx.table.row(*(rx.table.column_header_cell(c) for c in COLUMNS))),
                rx.table.body(rx.foreach(AuditState.rows, _event_row), id="event-rows"),
                width="100%",
                id="event-table",
            ),
            margin_top="var(--space-3)",
        ),
        rx.mobile_only(rx.foreach(AuditState.rows, _event_item), id="event-items", margin_top="var(--space-3)"),
        _detail_drawer(),
    )


react_to(("",), AuditState.logged)
