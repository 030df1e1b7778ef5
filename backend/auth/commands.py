"""`switchboard token create|list|revoke`, and the check that serving beyond loopback has an admin token.

These run in their own process beside a running server: both write the same log, and the server's
token view sees what they append at once. Only `create` ever prints a token, once, alone on stdout.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from backend.auth.permissions import ROLES
from backend.auth.service import Tokens
from backend.auth.view import TokenInfo, TokenView
from backend.errors import ProblemError
from backend.services import build_registry, open_token_key, prepare_data_dir
from backend.settings import Settings
from events import Metadata
from events.open import open_event_store


def add_token_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token = commands.add_parser("token", help="issue, list and revoke API tokens")
    actions = token.add_subparsers(dest="token_command", required=True)
    create = actions.add_parser("create", help="issue a token and print it (shown this once only)")
    create.add_argument("name", help="who or what will use it, e.g. alice or ci")
    create.add_argument("--role", required=True, choices=ROLES, help="what it may do")
    actions.add_parser("list", help="every token: id, name, role, hash prefix (never the token)")
    revoke = actions.add_parser("revoke", help="stop a token from working")
    revoke.add_argument("name_or_id", help="the token's name or id")


def cli_actor() -> str:
    """`cli:<os user>`: who runs the command, as the log records it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"cli:{user}"


@asynccontextmanager
async def open_tokens(settings: Settings) -> AsyncIterator[Tokens]:
    prepare_data_dir(settings)
    registry = build_registry()
    view = TokenView(registry)
    async with (
        open_token_key(settings) as key,
        open_event_store(settings.event_log, registry=registry, inline_views=[view]) as store,
    ):
        yield Tokens.open(store, view, settings, key)


async def run_token_command(settings: Settings, args: argparse.Namespace) -> int:
    metadata = Metadata(actor=cli_actor())
    async with open_tokens(settings) as tokens:
        try:
            if args.token_command == "create":
                info, token = await tokens.issue(args.name, args.role, metadata)
                print(token)
                print(f"issued {_line(info)}; the token above is shown only this once", file=sys.stderr)
            elif args.token_command == "revoke":
                info = await tokens.revoke(await tokens.active(args.name_or_id, by_name=True), metadata)
                print(f"revoked {_line(info)}")
            else:
                _print_table(await tokens.all())
        except ProblemError as error:
            reasons = "; ".join(f"{problem.field}: {problem.message}" for problem in error.errors)
            print(f"switchboard: {error}{f' ({reasons})' if reasons else ''}", file=sys.stderr)
            return 1
    return 0


async def unprotected_reason(settings: Settings) -> str | None:
    """Why `run`/`api` must not serve on this host (beyond loopback, no admin token), or None."""
    async with open_tokens(settings) as tokens:
        return await tokens.unprotected(settings.host)


def _line(info: TokenInfo) -> str:
    return f"token {info.name!r} (role {info.role}, id {info.id}, hash {info.hash_prefix})"


def _print_table(infos: list[TokenInfo]) -> None:
    rows = [("ID", "NAME", "ROLE", "HASH", "CREATED", "BY", "STATUS")]
    for info in infos:
        status = f"revoked {info.revoked_at:%Y-%m-%d %H:%M} by {info.revoked_by}" if info.revoked_at else "active"
        rows.append((info.id, info.name, info.role, info.hash_prefix, f"{info.created_at:%Y-%m-%d %H:%M}", info.created_by, status))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
