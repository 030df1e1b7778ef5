"""Fixtures for report tests: the real app on a real SQLite file, turns through the local upstream servers."""

from __future__ import annotations

from tests.sessions.conftest import client, settings
from tests.upstreams.fixtures import upstream, upstream_server

__all__ = ["client", "settings", "upstream", "upstream_server"]
