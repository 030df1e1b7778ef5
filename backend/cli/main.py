"""The `switchboard` command line: serving, the log (events, verify, views), backup, restore, vault, tokens, domains."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import get_args

from backend.audit.events import SERVICE_STREAM, VaultRekeyed
from backend.auth.commands import add_token_commands, cli_actor, run_token_command, unprotected_reason
from backend.catalog.views import SortKey
from backend.cli.audit import add_audit_commands, run_audit
from backend.cli.backup import backup, restore
from backend.cli.domain import run_catalog_search, run_instances, run_sessions
from backend.cli.log import check_views, print_events, rebuild_views, verify
from backend.cli.migrate import migrate
from backend.cli.output import OneLineParser, Refused, moment
from backend.cli.report import report_cost
from backend.instances.master_key import VaultKeyError
from backend.instances.rekey import NEW_MASTER_VARIABLE, Rekeyed, reseal_all, switch_master
from backend.instances.vault_lock import VaultBusy
from backend.instances.vault_storage import open_key_blobs
from backend.services import build_registry
from backend.settings import Settings, origins_from_env, secret_setting
from backend.wording import plural
from events import Metadata, NotAnEventStore
from events.open import is_database_url, open_event_store
from events.schema import check_file

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent


def run_web(settings: Settings) -> int:
    """Serve UI and API on one port through Reflex's production server."""
    env = {**os.environ, "REFLEX_TELEMETRY_ENABLED": "false", "SWITCHBOARD_DATA_DIR": str(settings.data_dir)}
    env["SWITCHBOARD_PORT"] = str(settings.port)
    env["SWITCHBOARD_HOST"] = settings.host
    env.update(event_socket_address(os.environ))
    args = [
        sys.executable, "-m", "reflex", "run", "--env", "prod", "--single-port",
        "--backend-host", settings.host, "--backend-port", str(settings.port),
    ]
    os.chdir(PROJECT_ROOT)
    os.execvpe(args[0], args, env)


def event_socket_address(environment: Mapping[str, str]) -> dict[str, str]:
    """Where pages open the web app's event socket: the first allowed origin when origins were given (the address
    users type, a reverse proxy in front of several replicas), else Reflex's own choice of this server's port."""
    given = environment.get("SWITCHBOARD_ALLOWED_ORIGINS", "").strip()
    return {"REFLEX_API_URL": origins_from_env(environment)[0]} if given else {}


def run_api(settings: Settings) -> int:
    """Serve the REST API alone (no web app)."""
    import uvicorn

    from backend.app import create_app

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
    return 0


async def _rekey(settings: Settings) -> int:
    """Re-encrypt the vault under the new master key; refused while a server holds the data folder."""
    try:
        async with open_key_blobs(settings) as blobs, blobs.holding(exclusive=True):
            rekeyed = await reseal_all(settings, blobs, secret_setting(os.environ.get(NEW_MASTER_VARIABLE)))
            await _record_rekey(settings, rekeyed)
            await switch_master(settings, blobs, rekeyed)
    except (VaultBusy, VaultKeyError) as error:
        print(f"switchboard: {error}", file=sys.stderr)
        return 2
    print(_rekey_report(settings, rekeyed))
    return 0


async def _record_rekey(settings: Settings, rekeyed: Rekeyed) -> None:
    """Append `VaultRekeyed`, unless an interrupted run already recorded this same move."""
    async with open_event_store(settings.event_log, registry=build_registry()) as store:
        earlier = await store.read(stream=SERVICE_STREAM, type=VaultRekeyed.__name__, limit=10_000)
        decoded = [store.registry.decode(row) for row in earlier]
        if any(isinstance(event, VaultRekeyed) and event.key_id == rekeyed.key_id for event in decoded):
            return
        event = VaultRekeyed(
            count=rekeyed.moved, unreadable=len(rekeyed.unreadable),
            key_id=rekeyed.key_id, previous_key_id=rekeyed.previous_key_id,
        )
        await store.append(SERVICE_STREAM, [event], metadata=Metadata(actor=cli_actor()))


def _rekey_report(settings: Settings, rekeyed: Rekeyed) -> str:
    lines = [f"re-encrypted {plural(rekeyed.moved, 'credential file')} under master key {rekeyed.key_id}"]
    if rekeyed.unreadable:
        left = plural(len(rekeyed.unreadable), "unreadable file")
        lines.append(f"left {left} as they were: {', '.join(rekeyed.unreadable)}")
    if rekeyed.generated:
        lines.append(f"the new master key is in {settings.key_file}; start the server without SWITCHBOARD_MASTER_KEY")
    else:
        lines.append(f"start the server with SWITCHBOARD_MASTER_KEY set to the value of {NEW_MASTER_VARIABLE}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="switchboard", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="serve the web app and the API on one port")
    commands.add_parser("api", help="serve the REST API alone")
    events = commands.add_parser("events", help="print events as JSON lines")
    events.add_argument("--after", type=int, default=0, help="only events after this position")
    events.add_argument("--type", default=None, help="only events of this type")
    events.add_argument("--limit", type=int, default=sys.maxsize, help="at most this many")
    verify = commands.add_parser("verify", help="recompute the hash chain; print the head position and hash")
    verify.add_argument("--expect-head", metavar="HASH", help="also check the chain holds this head hash")
    _add_json(verify)
    views = commands.add_parser("views", help="stored read views")
    view_actions = views.add_subparsers(dest="action", required=True)
    view_actions.add_parser("rebuild", help="replay the log into one view or all").add_argument("name", nargs="?")
    check = view_actions.add_parser("check", help="compare one view or all with a replay of the log; exit 1 on a difference")
    check.add_argument("name", nargs="?")
    _add_json(check)
    backup = commands.add_parser("backup", help="copy the log and the vault into a new folder, while a server runs")
    backup.add_argument("path", type=Path, help="a new or empty folder")
    backup.add_argument("--include-master-key", action="store_true", help="also copy master.key (read the warning)")
    restore = commands.add_parser("restore", help="restore a backup into an empty data folder, then verify it")
    restore.add_argument("path", type=Path, help="a folder written by `switchboard backup`")
    restore.add_argument("--force", action="store_true", help="replace the log and vault of a non-empty data folder")
    migrate = commands.add_parser("migrate", help="copy the data folder's log and vault into an empty PostgreSQL schema")
    migrate.add_argument("--to", required=True, metavar="URL", help="postgresql://user@host:port/database[?search_path=]")
    _add_instance_commands(commands)
    _add_catalog_commands(commands)
    _add_session_commands(commands)
    _add_report_commands(commands)
    add_audit_commands(commands)
    vault = commands.add_parser("vault", help="manage the credential vault")
    vault_commands = vault.add_subparsers(dest="vault_command", required=True)
    vault_commands.add_parser(
        "rekey",
        help=f"re-encrypt every key under a new master key: {NEW_MASTER_VARIABLE}, or a generated key file",
        description=(
            f"The current master key comes from SWITCHBOARD_MASTER_KEY or the key file, as for the server; the new "
            f"one from {NEW_MASTER_VARIABLE} (a passphrase of 16+ characters or base64:<32 bytes>), else a new "
            "random key file replaces master.key. Stop the server first. An interrupted rekey resumes when run again."
        ),
    )
    add_token_commands(commands)
    return parser


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _add_instance_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    actions = commands.add_parser("instances", help="list, show, add, test, rotate, delete instances")
    each = actions.add_subparsers(dest="action", required=True)
    _add_json(each.add_parser("list", help="every instance"))
    add = each.add_parser("add", help="create an instance (the key, if any, from stdin)")
    add.add_argument("name")
    add.add_argument("--provider", required=True, help="catalog provider id, e.g. openai")
    add.add_argument("--endpoint", help="base URL; the provider's own when left out")
    add.add_argument("--header", type=_header, action="append", default=[], metavar="NAME=VALUE")
    add.add_argument("--key-stdin", action="store_true", help="read the API key from stdin (or a prompt)")
    _add_json(add)
    for name, help_ in (("show", "one instance"), ("test", "test the connection (lists models)"),
                        ("rotate", "set or rotate the key, read from stdin (or a prompt)"),
                        ("delete", "delete it and destroy its key")):
        action = each.add_parser(name, help=help_)
        action.add_argument("instance", help="id or name")
        _add_json(action)
        if name == "rotate":
            action.add_argument("--verify", action="store_true", help="test the new key before it replaces the old")
        if name == "delete":
            action.add_argument("--force", action="store_true", help="even while sessions use it")
            action.add_argument("--if-version", type=int, help="only if the instance is still at this version")


def _add_catalog_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    catalog = commands.add_parser("catalog", help="the model catalog")
    search = catalog.add_subparsers(dest="action", required=True).add_parser("search", help="find models")
    search.add_argument("query", nargs="?", default="", help="words in the model id or name")
    search.add_argument("--provider", action="append", default=[], help="only this provider (repeatable)")
    search.add_argument("--can-reason", action="store_true")
    search.add_argument("--min-context", type=int)
    search.add_argument("--max-price-in", type=float)
    search.add_argument("--max-price-out", type=float)
    search.add_argument("--sort", default="name", choices=get_args(SortKey))
    search.add_argument("--limit", type=int, default=50)
    _add_json(search)


def _add_session_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sessions = commands.add_parser("sessions", help="sessions and their totals")
    each = sessions.add_subparsers(dest="action", required=True)
    listing = each.add_parser("list", help="the most recently active first")
    listing.add_argument("--limit", type=int, default=100)
    _add_json(listing)
    show = each.add_parser("show", help="one session with its agents")
    show.add_argument("session", help="session id")
    _add_json(show)


def _add_report_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = commands.add_parser("report", help="reports over the log")
    cost = report.add_subparsers(dest="action", required=True).add_parser("cost", help="what the turns cost")
    cost.add_argument("--group-by", default="day", help="instance, model, provider, session, actor or day")
    cost.add_argument("--since", type=moment, help="turns that ended at or after this time (RFC 3339)")
    cost.add_argument("--until", type=moment, help="turns that ended before this time (RFC 3339)")
    cost.add_argument("--split-by", help="also split each group by one of the others, e.g. each day by instance")
    _add_json(cost)


def _header(value: str) -> tuple[str, str]:
    name, equals, content = value.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"{value!r} is not NAME=VALUE")
    return name, content


READS_A_LOG = (
    "events", "verify", "vault", "views", "backup", "instances", "catalog", "sessions", "report", "audit", "migrate",
)


def _refusal(command: str, settings: Settings) -> str | None:
    """Why the command cannot start on this data folder, in one line, or None."""
    if settings.shared_database and not is_database_url(settings.event_log):
        return "SWITCHBOARD_DATABASE_URL must be a PostgreSQL URL (postgresql://user@host:port/database)"
    if settings.shared_database and command in ("backup", "restore"):
        return f"{command} copies a data folder's SQLite log; a PostgreSQL log is backed up with pg_dump"
    refusal = None if settings.shared_database else _file_refusal(command, settings.database_path)
    if refusal is None and command in ("run", "api"):
        return asyncio.run(unprotected_reason(settings))
    return refusal


def _file_refusal(command: str, path: Path) -> str | None:
    """Why the SQLite file at `path` cannot serve the command (a log in a database, SWITCHBOARD_DATABASE_URL, has
    no file: its store checks its schema as it opens)."""
    if command in READS_A_LOG and not path.exists():
        return f"no event log at {path} (set SWITCHBOARD_DATA_DIR)"
    if command == "restore":
        return None
    try:
        check_file(path)
    except NotAnEventStore as error:
        return f"{error}; it was left untouched"
    return None


def _dispatch(args: argparse.Namespace, settings: Settings) -> Coroutine[None, None, int]:
    commands: dict[str, Callable[[], Coroutine[None, None, int]]] = {
        "vault": lambda: _rekey(settings),
        "events": lambda: _events(settings, args),
        "token": lambda: run_token_command(settings, args),
        "verify": lambda: verify(settings, args.expect_head, args.json),
        "views": lambda: _views(settings, args),
        "backup": lambda: backup(settings, args.path, args.include_master_key),
        "restore": lambda: restore(settings, args.path, args.force),
        "instances": lambda: run_instances(settings, args),
        "catalog": lambda: run_catalog_search(settings, args),
        "sessions": lambda: run_sessions(settings, args),
        "report": lambda: report_cost(settings, args),
        "audit": lambda: run_audit(settings, args),
        "migrate": lambda: migrate(settings, args.to),
    }
    return commands[args.command]()


async def _views(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "check":
        return await check_views(settings, args.name, args.json)
    return await rebuild_views(settings, args.name)


async def _events(settings: Settings, args: argparse.Namespace) -> int:
    await print_events(settings, args.after, args.type, args.limit)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings.from_env()
    refusal = _refusal(args.command, settings)
    if refusal:
        print(f"switchboard: {refusal}", file=sys.stderr)
        return 2
    if args.command == "run":
        return run_web(settings)
    if args.command == "api":
        return run_api(settings)
    try:
        return asyncio.run(_dispatch(args, settings))
    except Refused as refused:
        print(f"switchboard: {refused}", file=sys.stderr)
        return refused.code


if __name__ == "__main__":
    sys.exit(main())
