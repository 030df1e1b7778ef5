"""How the service counts things in words, for summaries, messages and pages alike."""

from __future__ import annotations


def plural(count: int, noun: str) -> str:
    """`1 model`, `2 models`, `1,534 models`."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"
