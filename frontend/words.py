"""The one place that turns the API's codes (outcomes, availability, statuses) into words people understand.

Every page shows a code through `code_badge`: the word, coloured, with the code itself in a tooltip.
"""

from __future__ import annotations

import reflex as rx

from backend.wording import plural as plural  # re-exported: pages count with the same words as the API

# code -> (words, colour); a code missing here is shown as it is, in grey
WORDS: dict[str, tuple[str, str]] = {
    # connection tests and turn failures (backend.providers.contract.Outcome)
    "ok": ("Connected", "green"),
    "auth_failed": ("Key refused", "red"),
    "not_found": ("Endpoint or model not found", "red"),
    "rate_limited": ("Rate limited", "amber"),
    "timeout": ("Timed out", "amber"),
    "unreachable": ("Endpoint unreachable", "red"),
    "server_error": ("Provider error", "red"),
    "bad_response": ("Unexpected answer", "red"),
    "not_supported": ("Not supported by this provider", "gray"),
    # model availability on an instance
    "available": ("Available", "green"),
    "not_offered": ("Not offered by this endpoint", "gray"),
    "not_in_catalog": ("Not in the catalog", "amber"),
    "untested": ("Untested", "gray"),
    # instance status
    "connected": ("Connected", "green"),
    "error": ("Error", "red"),
    "testing": ("Testing…", "blue"),
    # turn outcomes
    "completed": ("Completed", "green"),
    "failed": ("Failed", "red"),
    "cancelled": ("Stopped", "amber"),
    "interrupted": ("Interrupted", "amber"),
    # agent status
    "ready": ("Ready", "green"),
    "running": ("Running", "blue"),
    "instance_deleted": ("Instance deleted", "red"),
    # environment import actions
    "create": ("Will be created", "green"),
    "exists": ("Already present", "gray"),
    "invalid": ("Not a usable value", "red"),
}


def default_endpoint_words(url: str) -> str:
    """How every page names an instance's or a provider's default endpoint: with the URL it resolves to."""
    return f"provider default: {url}"


def words_for(code: str) -> str:
    """The words for a code known when the page is built or in an event handler."""
    return WORDS[code][0] if code in WORDS else code


def code_words(code: rx.Var[str]) -> rx.Var[str]:
    """The words for a code held in state."""
    return rx.match(code, *((key, words) for key, (words, _) in WORDS.items()), code)


def code_colour(code: rx.Var[str], fallback: str = "gray") -> rx.Var[str]:
    return rx.match(code, *((key, colour) for key, (_, colour) in WORDS.items()), fallback)


def code_badge(code: rx.Var[str], **props: object) -> rx.Component:
    """A badge with the code's words, coloured by what it means, and the code itself in a tooltip."""
    return rx.tooltip(
        rx.badge(code_words(code), color_scheme=code_colour(code), **props),
        content=code,
    )
