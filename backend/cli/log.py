"""`switchboard events`, `verify`, `views rebuild` and `views check`: reading, checking and replaying the log."""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec

from backend.audit.instance_refs import InstanceRefsView
from backend.audit.schemas import event_out
from backend.audit.search_view import AuditSearchView
from backend.auth import TokenView
from backend.cli.output import Refused, print_fields, print_json, progress
from backend.instances import InstanceListView
from backend.services import build_registry
from backend.sessions import SessionListView
from backend.settings import Settings
from backend.wording import plural
from events import CatchUpView, InlineView, ViewComparison
from events.chain import VerifyReport
from events.open import open_event_store


class Verified(msgspec.Struct, frozen=True, kw_only=True):
    """What `verify --json` prints."""

    ok: bool
    head_position: int
    head_hash: str
    first_bad_position: int | None
    reason: str


async def print_events(settings: Settings, after: int, type_: str | None, limit: int) -> None:
    registry = build_registry()
    async with open_event_store(settings.event_log, registry=registry) as store:
        out = sys.stdout.buffer
        while limit > 0:
            rows = await store.read(after=after, limit=min(limit, 500), type=type_)
            if not rows:
                return
            for row in rows:
                out.write(msgspec.json.encode(event_out(row, registry)) + b"\n")
            after, limit = rows[-1].position, limit - len(rows)


async def verify_log(database: str | Path) -> VerifyReport:
    """The chain of the log at `database`, checked in one snapshot, with a progress bar on a terminal."""
    async with open_event_store(database, registry=build_registry()) as store:
        with progress("verifying") as bar:
            return await store.verify(bar)


async def verify(settings: Settings, expect_head: str | None, as_json: bool) -> int:
    """Print the head position and hash; exit 1 on a break or when the expected head is not in the chain."""
    report = await verify_log(settings.event_log)
    if as_json:
        print_json(verified(report))
    elif report.ok:
        print(f"ok: {report.checked} events, hash chain intact")
        print_fields([("head position", str(report.checked)), ("head hash", report.head_hash)])
    if not report.ok:
        raise Refused(f"broken at position {report.first_bad_position}: {report.reason}")
    if expect_head is not None and expect_head.lower() != report.head_hash:
        await _check_expected_head(settings.event_log, expect_head.lower(), report)
    return 0


def verified(report: VerifyReport) -> Verified:
    return Verified(
        ok=report.ok, head_position=report.checked if report.ok else 0, head_hash=report.head_hash if report.ok else "",
        first_bad_position=report.first_bad_position, reason=report.reason,
    )


async def _check_expected_head(database: str | Path, expected: str, report: VerifyReport) -> None:
    """An expected head that is an earlier position of the verified chain is fine: the log grew since."""
    async with open_event_store(database, registry=build_registry()) as store:
        sql = "SELECT position FROM events WHERE hash = ? AND position <= ?"
        rows = await store.fetch(sql, (expected, report.checked))
    if not rows:
        raise Refused(f"the head hash {report.head_hash} at position {report.checked} does not match {expected}, "
                      "and no earlier position has it")
    later = report.checked - int(rows[0][0])
    print(f"the expected head is position {rows[0][0]}; {later} events came after it", file=sys.stderr)


def stored_views() -> tuple[dict[str, InlineView], dict[str, CatchUpView]]:
    """The views kept in the database, by name: those updated with each append, and those following the log."""
    registry = build_registry()
    inline: list[InlineView] = [
        InstanceListView(registry), TokenView(registry), SessionListView(registry), InstanceRefsView(),
    ]
    following: list[CatchUpView] = [AuditSearchView(registry)]
    return {view.name: view for view in inline}, {view.name: view for view in following}


def chosen_views(name: str | None) -> tuple[list[InlineView | CatchUpView], list[InlineView]]:
    """The stored view called `name`, or all of them, and which of those are inline (refused: a name no view has)."""
    inline, following = stored_views()
    views: dict[str, InlineView | CatchUpView] = {**inline, **following}
    if name is not None and name not in views:
        raise Refused(f"no view {name!r}; the views are {', '.join(sorted(views))}", code=2)
    chosen = [views[name]] if name else list(views.values())
    return chosen, [view for view in inline.values() if view in chosen]


async def rebuild_views(settings: Settings, name: str | None) -> int:
    """Replay the whole log into one view or every stored view, each in one transaction."""
    chosen, kept_inline = chosen_views(name)
    registry = build_registry()
    async with open_event_store(settings.event_log, registry=registry, inline_views=kept_inline) as store:
        head = await store.head()
        for view in chosen:
            await store.rebuild(view)
            print(f"rebuilt {view.name} from {head} events")
    return 0


async def check_views(settings: Settings, name: str | None, as_json: bool) -> int:
    """Set one view or every stored view beside a replay of the log into it; exit 1 when any differs.

    Each replay runs in a transaction that is undone, so the views stay as they were; appends wait meanwhile. A view
    whose code version changed is first rebuilt as the store opens, as for `views rebuild`.
    """
    chosen, kept_inline = chosen_views(name)
    registry = build_registry()
    async with open_event_store(settings.event_log, registry=registry, inline_views=kept_inline) as store:
        results = [await store.compare_with_rebuild(view) for view in chosen]
    if as_json:
        print_json(results)
    else:
        for result in results:
            print(f"{result.view}: {_comparison_line(result)}")
    differing = [result.view for result in results if not result.equal]
    if differing:
        raise Refused(f"{', '.join(differing)} differ from a rebuild; `switchboard views rebuild` replaces them")
    return 0


def _comparison_line(result: ViewComparison) -> str:
    rows = plural(result.rows, "row")
    if result.equal:
        return f"{rows}, equal to a rebuild from the log"
    return f"{rows}, {result.missing} missing and {result.extra} extra beside a rebuild from the log"
