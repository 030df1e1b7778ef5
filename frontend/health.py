"""Whether the service is healthy, for the banner the page frame shows while a view or follower has stopped."""

from __future__ import annotations

import httpx
import msgspec
import reflex as rx

from frontend import api
from frontend.auth import client_for


class _Problem(msgspec.Struct, frozen=True):
    name: str
    error: str


class _Health(msgspec.Struct, frozen=True):
    status: str
    problems: list[_Problem] = []


class HealthState(rx.State):
    """What stopped following the event log, as "name: error" lines (none while health is ok)."""

    problems: list[str] = []

    @rx.event
    async def check(self) -> None:
        """Ask the API's health; an unreachable API is the live badge's to show, so it changes nothing here."""
        try:
            raw = await client_for(self).get_json("/api/v1/health")
        except (api.Problem, api.SignInRequired, httpx.HTTPError):
            return
        health = msgspec.json.decode(raw, type=_Health)
        self.problems = [f"{problem.name}: {problem.error}" for problem in health.problems]


def health_banner() -> rx.Component:
    """A callout under the header while health is degraded, naming what stopped and why (checked as each page
    loads)."""
    return rx.box(
        rx.cond(
            HealthState.problems.length() > 0,
            rx.callout.root(
                rx.callout.icon(rx.icon("triangle-alert")),
                rx.callout.text(
                    "Part of Switchboard stopped following the event log, so what some pages show may be out of date. ",
                    rx.foreach(HealthState.problems, lambda line: rx.text(line, as_="div", size="1")),
                ),
                color_scheme="amber",
                size="1",
                id="health-banner",
            ),
        ),
        padding_top=rx.cond(HealthState.problems.length() > 0, "var(--space-3)", "0"),
    )
