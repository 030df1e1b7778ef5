"""`switchboard audit query|export`: the API's audit query and export (the same filter, query and encoding
functions), a page as a table or JSON, and an export streamed a page at a time to stdout or a file."""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, get_args

import msgspec

from backend.audit.controller import MAX_PAGE
from backend.audit.export import ExportFormat, export_bytes
from backend.audit.names import Names
from backend.audit.query import AuditFilter, Order, checked_filter, every_match, query_page, selection
from backend.audit.schemas import MAX_POSITION, EventOut, event_out
from backend.cli.domain import services_for_cli
from backend.cli.output import Progress, Refused, moment, print_json, print_table, progress, refusal_of
from backend.errors import ValidationFailed
from backend.services import Services
from backend.settings import Settings

HEADERS = ("POSITION", "RECORDED AT", "STREAM", "TYPE", "ACTOR", "SUMMARY")


class QueriedPage(msgspec.Struct, frozen=True, kw_only=True):
    """What `audit query --json` prints: the page, the log's head, and the cursor that goes on (None at the end)."""

    events: list[EventOut]
    head: int
    next: dict[str, int] | None


def add_audit_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = commands.add_parser("audit", help="ask the log which events match, or export them")
    actions = audit.add_subparsers(dest="action", required=True)
    query = actions.add_parser("query", help="a page of matching events, newest first unless --order oldest")
    _add_filters(query)
    query.add_argument("--order", choices=get_args(Order), default="newest")
    query.add_argument("--limit", type=_bounded(1, MAX_PAGE), default=100, help=f"at most this many (<= {MAX_PAGE})")
    query.add_argument("--json", action="store_true", help="print JSON instead of a table")
    export = actions.add_parser("export", help="every matching event as NDJSON or CSV, oldest first")
    _add_filters(export)
    export.add_argument("--order", choices=get_args(Order), default="oldest")
    export.add_argument("--format", choices=get_args(ExportFormat), default="ndjson")
    export.add_argument("--output", type=Path, metavar="FILE", help="write here instead of stdout")


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stream", help="a stream id, or a prefix ending in '-' (instance-)")
    parser.add_argument("--type", action="append", default=[], help="an event type (repeatable)")
    parser.add_argument("--actor")
    parser.add_argument("--since", type=moment, help="recorded at or after this time (RFC 3339)")
    parser.add_argument("--until", type=moment, help="recorded before this time (RFC 3339)")
    parser.add_argument("--instance", help="an instance id: its stream and the events naming it")
    parser.add_argument("--session", help="a session id")
    parser.add_argument("--q", help="words that must all appear in the event (prefixes match)")
    parser.add_argument("--after", type=_bounded(0, MAX_POSITION), help="only positions above this")
    parser.add_argument("--before", type=_bounded(0, MAX_POSITION), help="only positions below this")


def _bounded(lowest: int, highest: int) -> Callable[[str], int]:
    def whole_number(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
        if not lowest <= number <= highest:
            raise argparse.ArgumentTypeError(f"{number} is not between {lowest} and {highest}")
        return number

    return whole_number


def audit_filter(args: argparse.Namespace) -> AuditFilter:
    """The filter from the arguments, checked by the API's own rules; a refusal is a bad argument (exit 2)."""
    try:
        return checked_filter(AuditFilter(
            stream=args.stream, types=tuple(args.type), actor=args.actor, since=args.since, until=args.until,
            instance=args.instance, session=args.session, q=args.q, after=args.after, before=args.before,
        ))
    except ValidationFailed as refused:
        raise Refused(str(refusal_of(refused)), code=2) from None


async def run_audit(settings: Settings, args: argparse.Namespace) -> int:
    wanted = audit_filter(args)
    if args.action == "query":
        return await _query(settings, wanted, args.order, args.limit, args.json)
    with _target(args.output) as out:
        written = await _export(settings, wanted, args.order, args.format, out)
    if args.output is not None:
        print(f"exported {written} events to {args.output}")
    return 0


async def _query(settings: Settings, wanted: AuditFilter, order: Order, limit: int, as_json: bool) -> int:
    async with services_for_cli(settings) as services:
        page = await query_page(services.store, services.search, wanted, order, limit)
        names = await services.names.now()
        events = [event_out(row, services.registry, names) for row in page.events]
        head = await services.store.head()
    onward = "before" if order == "newest" else "after"
    cursor = {onward: events[-1].position} if page.more and events else None
    if as_json:
        print_json(QueriedPage(events=events, head=head, next=cursor))
        return 0
    print_table(HEADERS, [_row(event) for event in events])
    if cursor:
        print(f"more: go on with --{onward} {cursor[onward]}", file=sys.stderr)
    return 0


def _row(event: EventOut) -> tuple[str, ...]:
    when = event.recorded_at.isoformat(timespec="seconds")
    return (str(event.position), when, event.stream_id, event.type, event.actor, event.summary)


@contextmanager
def _target(output: Path | None) -> Iterator[BinaryIO]:
    """The file named by --output (refused in one line when it cannot be written), else stdout."""
    if output is None:
        yield sys.stdout.buffer
        return
    try:
        opened = output.open("wb")
    except OSError as error:
        raise Refused(f"cannot write {output}: {error.strerror}", code=2) from None
    with opened:
        yield opened


async def _export(
    settings: Settings, wanted: AuditFilter, order: Order, export_format: ExportFormat, out: BinaryIO
) -> int:
    """Write the export a page at a time, counting the events on the bar; returns how many were written."""
    async with services_for_cli(settings) as services:
        names = await services.names.now()
        with progress("exporting") as bar:
            counted = _Counted(services, wanted, bar)
            async for chunk in export_bytes(counted.pages(order, names), export_format):
                out.write(chunk)
            out.flush()
    return counted.done


class _Counted:
    """The export's pages, passed on unchanged; each one written moves the bar (events written / matching)."""

    def __init__(self, services: Services, wanted: AuditFilter, bar: Progress) -> None:
        self.services = services
        self.store = services.store
        self.wanted = wanted
        self.bar = bar
        self.done = 0

    async def pages(self, order: Order, names: Names) -> AsyncIterator[list[EventOut]]:
        total = 0
        services = self.services
        async for page in every_match(self.store, services.search, self.wanted, order, services.registry, names):
            if self.bar.shown and not total:  # counted once the query has brought the search view up to date
                total = await self._matching()
            yield page
            self.done += len(page)
            self.bar(self.done, total)
        self.bar(self.done, self.done)  # complete: every event up to the head it read to is written

    async def _matching(self) -> int:
        """How many events the export will hold: those matching up to the head the export reads to."""
        head = await self.store.head()
        bounded = msgspec.structs.replace(self.wanted, before=min(self.wanted.before or head + 1, head + 1))
        found = selection(bounded, self.store.dialect)
        rows = await self.store.fetch(f"SELECT COUNT(*) FROM {found.source.tables} WHERE {found.condition}", found.params)
        return int(rows[0][0])
