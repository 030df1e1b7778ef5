"""Fixtures for replica tests: the local upstream servers the replicas' turns stream from."""

from tests.upstreams.fixtures import upstream, upstream_server

__all__ = ["upstream", "upstream_server"]
