"""The `switchboard` command: serve the web app and API, the API alone, read and verify the log, rekey the vault, manage tokens."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec

from backend.audit.events import SERVICE_STREAM, VaultRekeyed
from backend.audit.schemas import event_out
from backend.auth.commands import add_token_commands, cli_actor, run_token_command, unprotected_reason
from backend.instances.master_key import VaultKeyError
from backend.instances.rekey import NEW_MASTER_VARIABLE, Rekeyed, reseal_all, switch_master
from backend.instances.vault_lock import VaultBusy, holding_vault
from backend.services import build_registry
from backend.settings import Settings, secret_setting
from backend.wording import plural
from events import Metadata, NotAnEventStore, SQLiteEventStore
from events.schema import check_file

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def run_web(settings: Settings) -> int:
    """Serve UI and API on one port through Reflex's production server."""
    env = {**os.environ, "REFLEX_TELEMETRY_ENABLED": "false", "SWITCHBOARD_DATA_DIR": str(settings.data_dir)}
    env["SWITCHBOARD_PORT"] = str(settings.port)
    env["SWITCHBOARD_HOST"] = settings.host
    args = [
        sys.executable, "-m", "reflex", "run", "--env", "prod", "--single-port",
        "--backend-host", settings.host, "--backend-port", str(settings.port),
    ]
    os.chdir(PROJECT_ROOT)
    os.execvpe(args[0], args, env)


def run_api(settings: Settings) -> int:
    """Serve the REST API alone (no web app)."""
    import uvicorn

    from backend.app import create_app

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
    return 0


async def _print_events(settings: Settings, after: int, type_: str | None, limit: int) -> None:
    registry = build_registry()
    async with SQLiteEventStore.open(settings.database_path, registry=registry) as store:
        out = sys.stdout.buffer
        while limit > 0:
            rows = await store.read(after=after, limit=min(limit, 500), type=type_)
            if not rows:
                return
            for row in rows:
                out.write(msgspec.json.encode(event_out(row, registry)) + b"\n")
            after, limit = rows[-1].position, limit - len(rows)


async def _verify(settings: Settings) -> int:
    async with SQLiteEventStore.open(settings.database_path, registry=build_registry()) as store:
        report = await store.verify()
    if report.ok:
        print(f"ok: {report.checked} events, hash chain intact")
        return 0
    print(f"broken at position {report.first_bad_position}: {report.reason}", file=sys.stderr)
    return 1


async def _rekey(settings: Settings) -> int:
    """Re-encrypt the vault under the new master key; refused while a server holds the data folder."""
    try:
        with holding_vault(settings.vault_lock, exclusive=True):
            rekeyed = reseal_all(settings, secret_setting(os.environ.get(NEW_MASTER_VARIABLE)))
            await _record_rekey(settings, rekeyed)
            switch_master(settings, rekeyed)
    except (VaultBusy, VaultKeyError) as error:
        print(f"switchboard: {error}", file=sys.stderr)
        return 2
    print(_rekey_report(settings, rekeyed))
    return 0


async def _record_rekey(settings: Settings, rekeyed: Rekeyed) -> None:
    """Append `VaultRekeyed`, unless an interrupted run already recorded this same move."""
    async with SQLiteEventStore.open(settings.database_path, registry=build_registry()) as store:
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
        lines.append(f"left {plural(len(rekeyed.unreadable), 'unreadable file')} as they were: {', '.join(rekeyed.unreadable)}")
    if rekeyed.generated:
        lines.append(f"the new master key is in {settings.key_file}; start the server without SWITCHBOARD_MASTER_KEY")
    else:
        lines.append(f"start the server with SWITCHBOARD_MASTER_KEY set to the value of {NEW_MASTER_VARIABLE}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="serve the web app and the API on one port")
    commands.add_parser("api", help="serve the REST API alone")
    events = commands.add_parser("events", help="print events as JSON lines")
    events.add_argument("--after", type=int, default=0, help="only events after this position")
    events.add_argument("--type", default=None, help="only events of this type")
    events.add_argument("--limit", type=int, default=sys.maxsize, help="at most this many")
    commands.add_parser("verify", help="recompute the hash chain; name the first broken position")
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


def _refusal(command: str, settings: Settings) -> str | None:
    """Why the command cannot start on this data folder, in one line, or None."""
    path = settings.database_path
    if command in ("events", "verify", "vault") and not path.exists():
        return f"no event log at {path} (set SWITCHBOARD_DATA_DIR)"
    try:
        check_file(path)
    except NotAnEventStore as error:
        return f"{error}; it was left untouched"
    if command in ("run", "api"):
        return asyncio.run(unprotected_reason(settings))
    return None


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
    if args.command == "vault":
        return asyncio.run(_rekey(settings))
    if args.command == "events":
        asyncio.run(_print_events(settings, args.after, args.type, args.limit))
        return 0
    if args.command == "token":
        return asyncio.run(run_token_command(settings, args))
    return asyncio.run(_verify(settings))


if __name__ == "__main__":
    sys.exit(main())
