"""Service settings, read once from the environment."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Where data lives and how the service is reached."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 3000
    catalog_url: str = ""
    master_key: str | None = None

    @property
    def database_path(self) -> Path:
        return self.data_dir / "events.sqlite3"

    @property
    def credentials_dir(self) -> Path:
        return self.data_dir / "credentials"

    @property
    def key_file(self) -> Path:
        return self.data_dir / "master.key"

    @property
    def token_key_file(self) -> Path:
        """The key API token hashes are made with; separate from the vault's master key."""
        return self.data_dir / "token.key"

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            data_dir=Path(env.get("SWITCHBOARD_DATA_DIR", "data")).resolve(),
            host=env.get("SWITCHBOARD_HOST", "127.0.0.1"),
            port=int(env.get("SWITCHBOARD_PORT", "3000")),
            catalog_url=env.get("SWITCHBOARD_CATALOG_URL", ""),
            master_key=env.get("SWITCHBOARD_MASTER_KEY") or None,
        )
