"""`switchboard instances|catalog|sessions ...`: the same service functions the API calls, beside a running server."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from backend.auth.commands import cli_actor
from backend.catalog.schema import Model
from backend.catalog.search import ModelQuery
from backend.cli.output import Refused, print_fields, print_json, print_table, refusal_of
from backend.errors import ProblemError
from backend.instances.commands import create_instance
from backend.instances.confirmation import present
from backend.instances.connection import run_connection_test
from backend.instances.credentials import set_credential
from backend.instances.schemas import CreateInstance, SetCredential
from backend.instances.view import InstanceView
from backend.services import Services, open_services
from backend.sessions.instance_use import delete_used_instance
from backend.sessions.view import SessionView
from backend.settings import Settings
from events import Metadata


@asynccontextmanager
async def services_for_cli(settings: Settings) -> AsyncIterator[Services]:
    """The service's parts without serving; a domain refusal becomes the command's one line."""
    try:
        async with open_services(settings, serving=False) as services:
            yield services
    except* (ProblemError, Refused) as group:  # the services' task group wraps what the command raised
        raise _first(group) from None


def _first(group: BaseExceptionGroup[ProblemError | Refused]) -> Refused:
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return refusal_of(error) if isinstance(error, ProblemError) else error  # type: ignore[return-value]


async def run_instances(settings: Settings, args: argparse.Namespace) -> int:
    metadata = Metadata(actor=cli_actor())
    async with services_for_cli(settings) as services:
        instances = services.instances
        if args.action == "list":
            shown = [present(instances, row.instance) for row in await instances.view.all(instances.store)]
            return _instances_out(shown, args.json)
        if args.action == "add":
            command = CreateInstance(
                name=args.name, provider_id=args.provider, endpoint=args.endpoint or "", headers=dict(args.header),
                api_key=_read_key() if args.key_stdin else None,
            )
            created = await create_instance(instances, command, metadata, None)
            return _instance_out(present(instances, created), args.json)
        instance_id = await _instance_id(services, args.instance)
        if args.action == "show":
            return _instance_out(present(instances, (await instances.row(instance_id)).instance), args.json)
        if args.action == "test":
            tested = present(instances, await run_connection_test(instances, instance_id, metadata))
            _instance_out(tested, args.json)
            return 0 if tested.last_test and tested.last_test.outcome == "ok" else 1
        if args.action == "rotate":
            secret = SetCredential(api_key=_read_key(), verify=args.verify)
            return _instance_out(present(instances, await set_credential(instances, instance_id, secret, metadata)),
                                 args.json)
        await delete_used_instance(services.sessions, instance_id, metadata, args.if_version, args.force)
        print(f"deleted instance {instance_id}")
        return 0


async def run_catalog_search(settings: Settings, args: argparse.Namespace) -> int:
    query = ModelQuery(
        q=args.query, providers=frozenset(args.provider), can_reason=args.can_reason or None,
        min_context=args.min_context, max_price_in=args.max_price_in, max_price_out=args.max_price_out,
        sort=args.sort, limit=args.limit,
    )
    async with services_for_cli(settings) as services:
        page = services.catalog.search(query)
    if args.json:
        print_json(page)
        return 0
    rows = [(hit.provider_id, hit.model.id, hit.model.name, f"{hit.model.context_window:,}",
             *_prices(hit.model)) for hit in page.items]
    print_table(("PROVIDER", "MODEL", "NAME", "CONTEXT", "IN $/1M", "OUT $/1M"), rows)
    print(f"{len(page.items)} of {page.total} models", file=sys.stderr)
    return 0


async def run_sessions(settings: Settings, args: argparse.Namespace) -> int:
    async with services_for_cli(settings) as services:
        sessions = services.sessions
        if args.action == "list":
            rows = await sessions.view.page(sessions.store, args.limit, 0)
            shown = await sessions.shown([row.session for row in rows])
            if args.json:
                print_json(shown)
            else:
                headers = ("ID", "NAME", "AGENTS", "TURNS", "COST USD", "LAST ACTIVITY")
                print_table(headers, [_session_row(session) for session in shown])
            return 0
        session = await sessions.session(args.session)
    if args.json:
        print_json(session)
        return 0
    print_fields([("id", session.id), ("name", session.name), ("archived", str(session.archived)),
                  ("turns", str(session.turns)), ("tokens in/out", f"{session.input_tokens}/{session.output_tokens}"),
                  ("cost usd", _cost(session)),
                  ("created", f"{session.created_at:%Y-%m-%d %H:%M} by {session.created_by}")])
    print_table(("AGENT", "NAME", "INSTANCE", "MODEL", "TURNS", "STATUS"), [
        (a.id, a.name, a.instance_name, a.model_id, str(a.turns), a.status) for a in session.agents])
    return 0


async def _instance_id(services: Services, wanted: str) -> str:
    """An instance named by id or by its exact name."""
    rows = await services.instances.view.all(services.store)
    for row in rows:
        if wanted in (row.instance.id, row.instance.name):
            return row.instance.id
    return wanted  # the service answers for an unknown id


def _read_key() -> str:
    """A key from a prompt on a terminal, else the first line of stdin; never from the command line."""
    key = getpass.getpass("API key: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
    if not key:
        raise Refused("no API key given on stdin", code=2)
    return key


def _instances_out(shown: list[InstanceView], as_json: bool) -> int:
    if as_json:
        print_json(shown)
        return 0
    print_table(("ID", "NAME", "PROVIDER", "STATUS", "KEY", "LAST TEST", "ENDPOINT"), [
        (one.id, one.name, one.provider_id, one.status, _key(one), _last_test(one),
         one.endpoint or one.default_endpoint) for one in shown])
    return 0


def _instance_out(instance: InstanceView, as_json: bool) -> int:
    if as_json:
        print_json(instance)
        return 0
    print_fields([
        ("id", instance.id), ("name", instance.name),
        ("provider", f"{instance.provider_id} ({instance.provider_type})"),
        ("endpoint", instance.endpoint or f"{instance.default_endpoint} (the provider's)"),
        ("status", instance.status), ("key", _key(instance)), ("last test", _last_test(instance)),
        ("timeout", f"{instance.timeout_ms} ms, {instance.max_attempts} attempts, backoff {instance.backoff_ms} ms"),
        ("version", str(instance.version)),
        ("created", f"{instance.created_at:%Y-%m-%d %H:%M} by {instance.created_by}"),
    ])
    return 0


def _key(instance: InstanceView) -> str:
    credential = instance.credential
    return f"...{credential.last4} v{credential.version}" if credential else "none"


def _last_test(instance: InstanceView) -> str:
    test = instance.last_test
    if test is None:
        return "never"
    status = f" {test.http_status}" if test.http_status else ""
    return f"{test.outcome}{status} {test.latency_ms:.0f} ms at {test.tested_at:%Y-%m-%d %H:%M}"


def _session_row(session: SessionView) -> tuple[str, ...]:
    return (session.id, session.name, str(len(session.agents)), str(session.turns), _cost(session),
            f"{session.last_activity:%Y-%m-%d %H:%M}")


def _cost(session: SessionView) -> str:
    unknown = f" (+{session.unknown_cost_turns} unpriced turns)" if session.unknown_cost_turns else ""
    return f"{session.cost_usd:.4f}{unknown}"


def _prices(model: Model) -> tuple[str, str]:
    """Input and output price per 1M tokens; `?` when nobody knows them."""
    if model.price_status == "unknown":
        return "?", "?"
    return f"{model.cost_per_1m_in:g}", f"{model.cost_per_1m_out:g}"
