"""Fixtures for the reliability tests: the local upstream servers that stand in for providers."""

from tests.upstreams.fixtures import upstream, upstream_server

__all__ = ["upstream", "upstream_server"]
