"""What each protocol module provides: its path prefix, routes, auth check and error body shape."""

import re
from collections.abc import Callable
from dataclasses import dataclass

from tests.upstreams.asgi import JsonReply, Reply, Request
from tests.upstreams.scenario import Scenario

Handler = Callable[[Request, dict[str, str], Scenario], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


def route(method: str, pattern: str, handler: Handler) -> Route:
    return Route(method, re.compile(pattern), handler)


@dataclass(frozen=True)
class Dialect:
    prefix: str
    routes: tuple[Route, ...]
    refuse: Callable[[Request, Scenario], JsonReply | None]  # the service's own auth (and version) checks
    error: Callable[[int, str | None], JsonReply]  # an error body for a status; None means the usual text

    def find(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        rest = path[len(self.prefix) :]
        for candidate in self.routes:
            matched = candidate.pattern.fullmatch(rest)
            if matched and candidate.method == method:
                return candidate, matched.groupdict()
        return None
