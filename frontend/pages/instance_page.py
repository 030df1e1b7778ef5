"""An instance's page (/instances/view?id=…): its configuration, the timeline of its history (live, newest first,
paged), the configuration as of any point chosen on it, and what changed between two points — also once deleted."""

from __future__ import annotations

import reflex as rx

from frontend.forms import error_callout
from frontend.layout import page_frame, pager
from frontend.pages.instance_page_state import (
    ChangeRow,
    Fact,
    InstancePageState,
    TimelineEntry,
)
from frontend.words import code_badge

State = InstancePageState
WRAP = {"overflow_wrap": "anywhere", "min_width": "0"}


def link_button(label: str | rx.Var[str], href: rx.Var[str], **props: object) -> rx.Component:
    """A link to another view of this page that looks like a small button."""
    return rx.button(rx.link(label, href=href), as_child=True, size="1", variant="soft", **props)


def _header() -> rx.Component:
    return rx.flex(
        rx.link("← Instances", href="/instances", size="2"),
        rx.flex(
            rx.heading(State.name, size="5", id="instance-title", **WRAP),
            rx.cond(State.deleted, rx.badge("Deleted", color_scheme="red", size="2", id="instance-deleted")),
            align="center", spacing="3", wrap="wrap",
        ),
        rx.text(rx.code(State.instance_id, variant="ghost"), size="1", color_scheme="gray"),
        rx.cond(
            State.deleted,
            rx.callout(
                State.deleted + " Its history and its last configuration stay in the log.",
                icon="trash-2", color_scheme="red", size="1", id="deleted-notice",
            ),
        ),
        direction="column", spacing="2", margin_bottom="var(--space-4)",
    )


def _fact(fact: Fact) -> rx.Component:
    value = rx.cond(
        fact.code,
        code_badge(fact.code, class_name="fact-" + fact.name, custom_attrs={"data-code": fact.code}),
        rx.text(fact.value, class_name="fact-" + fact.name, **WRAP),
    )
    return rx.data_list.item(
        rx.data_list.label(fact.label, min_width="96px"),
        rx.data_list.value(value, **WRAP),
    )


def _configuration() -> rx.Component:
    as_of = State.as_of > 0
    return rx.card(
        rx.flex(
            rx.flex(
                rx.heading("Configuration", size="3"),
                rx.badge(State.shown_as, color_scheme=rx.cond(as_of, "amber", "gray"), id="shown-as",
                         white_space="normal"),
                align="center", spacing="2", wrap="wrap",
            ),
            rx.cond(
                as_of,
                rx.flex(
                    link_button("Back to now", State.now_href, id="back-to-now"),
                    link_button("Compare with now", State.compare_now_href, id="compare-now"),
                    spacing="2", wrap="wrap",
                ),
            ),
            rx.cond(State.config_error, rx.callout(State.config_error, icon="info", size="1", id="config-error")),
            rx.data_list.root(rx.foreach(State.facts, _fact), size="1", id="instance-facts"),
            direction="column", spacing="3",
        ),
        id="instance-config",
        min_width="0",
    )


def _changed_by(row: ChangeRow) -> rx.Component:
    return rx.flex(
        rx.foreach(
            row.changed_by,
            lambda changed: rx.box(
                rx.text(changed.event, size="1", weight="medium"),
                rx.text(changed.by, size="1", color_scheme="gray"),
            ),
        ),
        direction="column", spacing="1", class_name="change-by",
    )


def _change_line(row: ChangeRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row.field, weight="medium")),
        rx.table.cell(row.before, class_name="change-before", overflow_wrap="anywhere"),
        rx.table.cell(row.after, class_name="change-after", overflow_wrap="anywhere"),
        rx.table.cell(_changed_by(row)),
        class_name="change-row",
    )


def _change_item(row: ChangeRow) -> rx.Component:
    """A change as stacked lines, for a phone."""
    return rx.flex(
        rx.text(row.field, size="2", weight="medium"),
        rx.text(rx.text.span("Before: ", color_scheme="gray"), row.before, size="2", **WRAP),
        rx.text(rx.text.span("After: ", color_scheme="gray"), row.after, size="2", **WRAP),
        _changed_by(row),
        direction="column", spacing="1", padding_y="var(--space-2)", border_bottom="1px solid var(--gray-4)",
        class_name="change-item",
    )


def _changes() -> rx.Component:
    columns = (("Field", "20%"), ("Before", "27%"), ("After", "27%"), ("Changed by", "26%"))  # the values share alike
    return rx.fragment(
        rx.tablet_and_desktop(
            rx.table.root(
                rx.table.header(rx.table.row(*(rx.table.column_header_cell(c, width=w) for c, w in columns))),
                rx.table.body(rx.foreach(State.changes, _change_line), id="change-rows"),
                size="1", width="100%", id="change-table",
            ),
            margin_top="var(--space-3)",
        ),
        rx.mobile_only(rx.foreach(State.changes, _change_item), id="change-items", margin_top="var(--space-2)"),
    )


def _comparison() -> rx.Component:
    nothing = rx.callout("Nothing changed between these points.", icon="equal", size="1", id="no-changes")
    return rx.cond(
        State.comparing,
        rx.card(
            rx.flex(
                rx.heading("What changed", size="3"),
                rx.spacer(),
                link_button("Close", State.uncompare_href, color_scheme="gray", id="close-compare"),
                align="center", spacing="2",
            ),
            rx.text(State.diff_title, size="2", color_scheme="gray", id="diff-title", margin_top="var(--space-1)"),
            rx.cond(State.changes.length() > 0, _changes(), rx.box(nothing, margin_top="var(--space-3)")),
            id="instance-diff",
            min_width="0",
        ),
    )


def _entry_actions(entry: TimelineEntry) -> rx.Component:
    shown = rx.badge("Shown as of this point", color_scheme="amber", class_name="entry-shown")
    as_of = rx.cond(
        entry.shown,
        shown,
        rx.cond(entry.as_of_href, link_button("Show as of this point", entry.as_of_href, class_name="entry-as-of")),
    )
    compare = rx.cond(
        entry.compared,
        rx.badge("Compared", color_scheme="blue", class_name="entry-compared"),
        rx.cond(entry.shown, rx.fragment(), link_button("Compare", entry.compare_href, class_name="entry-compare")),
    )
    return rx.flex(as_of, compare, spacing="2", wrap="wrap", align="center")


def _entry(entry: TimelineEntry) -> rx.Component:
    marked = entry.shown | entry.compared
    return rx.flex(
        rx.flex(
            rx.badge(entry.type, variant="soft", class_name="entry-type"),
            rx.cond(entry.outcome, code_badge(entry.outcome, class_name="entry-outcome")),
            rx.spacer(),
            rx.text("#", entry.position, " · ", entry.time, size="1", color_scheme="gray", class_name="entry-time"),
            align="center", spacing="2", wrap="wrap",
        ),
        rx.text(entry.summary, size="2", class_name="entry-summary", **WRAP),
        rx.text(entry.actor, size="1", color_scheme="gray", class_name="entry-actor", **WRAP),
        _entry_actions(entry),
        direction="column",
        spacing="1",
        padding="var(--space-2) var(--space-3)",
        border_left=rx.cond(marked, "3px solid var(--amber-9)", "3px solid var(--gray-5)"),
        background=rx.cond(marked, "var(--amber-2)", "transparent"),
        class_name="timeline-entry",
        custom_attrs={"data-position": entry.position},
    )


def _timeline() -> rx.Component:
    newer = rx.cond(
        State.newer > 0,
        rx.button(
            rx.icon("arrow-up", size=16), State.newer_text,
            on_click=State.newest_page, variant="soft", width="100%", id="newer-events",
        ),
    )
    return rx.card(
        rx.flex(
            rx.flex(
                rx.heading("Timeline", size="3"),
                rx.spacer(),
                pager(State.range_text, State.first > 0, State.more, State.previous_page, State.next_page),
                align="center", spacing="3", wrap="wrap",
            ),
            rx.text("Every event of this instance, newest first; new ones appear as they are logged.",
                    size="2", color_scheme="gray"),
            newer,
            rx.flex(rx.foreach(State.entries, _entry), direction="column", spacing="2", id="timeline"),
            direction="column", spacing="3",
        ),
        min_width="0",
    )


def _instance() -> rx.Component:
    return rx.box(
        _header(),
        rx.cond(State.point_error, rx.callout(State.point_error, icon="triangle_alert", color_scheme="amber",
                                              size="1", id="point-error", margin_bottom="var(--space-3)")),
        error_callout(State.error),
        rx.grid(
            rx.flex(_configuration(), _comparison(), direction="column", spacing="4", min_width="0"),
            _timeline(),
            columns=rx.breakpoints(initial="1", lg="minmax(0, 3fr) minmax(0, 2fr)"),  # room for a comparison
            spacing="4",
            align_items="start",
        ),
    )


def _not_found() -> rx.Component:
    return rx.box(
        rx.callout(State.missing, icon="search-x", color_scheme="amber", id="instance-not-found"),
        rx.link("Back to Instances", href="/instances", id="back-to-instances", display="inline-block",
                margin_top="16px"),
    )


def instance_page() -> rx.Component:
    return page_frame(
        "Instance",
        rx.cond(State.loaded, _instance(), rx.cond(State.missing, _not_found(), error_callout(State.error))),
    )
