"""How commands speak: one-line refusals (exit 2 for bad arguments), tables or JSON, a progress bar on a terminal."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import NoReturn

import msgspec

from backend.errors import ProblemError

BAR_WIDTH = 30


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose complaints are one line on stderr, exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"switchboard: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(2)


def moment(value: str) -> datetime:
    """An RFC 3339 time argument; one without its UTC offset is refused rather than guessed."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} needs its UTC offset, e.g. {value}Z")
    return parsed


class Refused(Exception):
    """A command cannot go ahead; the message is the one line said, `code` the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def refusal_of(error: ProblemError) -> Refused:
    """A domain refusal as the CLI says it: the detail and each field's problem."""
    reasons = "; ".join(f"{problem.field}: {problem.message}" for problem in error.errors)
    return Refused(f"{error}{f' ({reasons})' if reasons else ''}")


def print_json(value: object) -> None:
    sys.stdout.buffer.write(msgspec.json.encode(value) + b"\n")
    sys.stdout.flush()


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns padded to their widest cell; the last column is not padded."""
    table = [tuple(headers), *(tuple(row) for row in rows)]
    widths = [max(len(row[column]) for row in table) for column in range(len(headers) - 1)]
    for row in table:
        print("  ".join([*(cell.ljust(width) for cell, width in zip(row, widths)), row[-1]]).rstrip())


def print_fields(fields: Sequence[tuple[str, str]]) -> None:
    """`name: value` lines, names aligned."""
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        print(f"{name.ljust(width)}  {value}")


class Progress:
    """A bar on stderr when it is a terminal; nothing at all when piped."""

    def __init__(self, label: str, shown: bool) -> None:
        self.label = label
        self.shown = shown

    def __call__(self, done: int, total: int) -> None:
        if not self.shown:
            return
        filled = BAR_WIDTH * done // total if total else BAR_WIDTH
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        sys.stderr.write(f"\r{self.label} [{bar}] {done:,}/{max(total, done):,}")
        sys.stderr.flush()


@contextmanager
def progress(label: str) -> Iterator[Progress]:
    """A progress bar for long work, ended with a newline once the block is done."""
    bar = Progress(label, sys.stderr.isatty())
    try:
        yield bar
    finally:
        if bar.shown:
            sys.stderr.write("\n")
