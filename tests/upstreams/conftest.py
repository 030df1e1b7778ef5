"""Fixtures for the upstream faithfulness tests."""

from tests.upstreams.fixtures import refused_urls, upstream, upstream_server

__all__ = ["refused_urls", "upstream", "upstream_server"]
