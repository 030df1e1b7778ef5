"""The app's tests run again with the log on PostgreSQL: `settings` names a schema of the test's own (skipped, saying
why, when no server answers), and the fixtures the borrowed tests ask for are taken from their own folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.secret import Secret
from backend.settings import Settings
from tests.audit_query.conftest import api, seeded
from tests.auth.conftest import tokens
from tests.instances.test_view import services
from tests.reports.test_cost_report import ran
from tests.sessions.conftest import client
from tests.upstreams.fixtures import foreign, foreign_server, upstream, upstream_server

__all__ = [
    "api", "client", "foreign", "foreign_server", "ran", "seeded", "services", "tokens", "upstream", "upstream_server",
]


MASTER = Secret("the-postgres-tests-shared-master-key")  # a shared database's vault needs one given


def on_postgres(data_dir: Path, postgres_url: str) -> Settings:
    return Settings(data_dir=data_dir, database_url=Secret(postgres_url), master_key=MASTER)


@pytest.fixture
def settings(tmp_path: Path, postgres_url: str) -> Settings:
    return on_postgres(tmp_path / "data", postgres_url)
