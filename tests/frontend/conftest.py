"""Fixtures for the web app's tests: the local upstream server stands in for the API where a real peer is needed."""

from tests.upstreams.fixtures import upstream, upstream_server

__all__ = ["upstream", "upstream_server"]
