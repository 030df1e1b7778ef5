"""Fixtures for replica tests: the local upstream servers the replicas' turns stream from, and replicas of
`switchboard api` on one PostgreSQL schema."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.api.conftest import free_port
from tests.reliability.live_api import LiveApi, server_environment
from tests.upstreams.fixtures import upstream, upstream_server

__all__ = ["upstream", "upstream_server"]
MASTER = "replicas-share-this-master-secret"
LEASE_S, SWEEP_S = 2.0, 0.5


@contextmanager
def running_replicas(folder: Path, postgres_url: str, names: str, **extra: str) -> Iterator[list[LiveApi]]:
    """One `switchboard api` process per letter of `names` on the schema, with short turn leases, stopped after."""
    apis = [
        LiveApi(server_environment(
            folder / name, free_port(), SWITCHBOARD_DATABASE_URL=postgres_url, SWITCHBOARD_MASTER_KEY=MASTER,
            SWITCHBOARD_TURN_LEASE_S=str(LEASE_S), SWITCHBOARD_TURN_SWEEP_S=str(SWEEP_S), **extra,
        ), folder / f"{name}.log")
        for name in names
    ]
    try:
        for api in apis:
            api.start()
        yield apis
    finally:
        for api in apis:
            api.stop()
