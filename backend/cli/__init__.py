"""The `switchboard` command; `main` is the console entry point."""

from backend.cli.main import main

__all__ = ["main"]
