"""Service settings, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from backend.secret import Secret

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def loopback_origins(port: int) -> tuple[str, ...]:
    """The origins a browser uses for the app on this machine: http://127.0.0.1:<port> and the like."""
    return tuple(f"http://{host}:{port}" for host in LOOPBACK_HOSTS)


def origins_from_env(env: Mapping[str, str]) -> tuple[str, ...]:
    """SWITCHBOARD_ALLOWED_ORIGINS (comma separated), else the loopback origins of SWITCHBOARD_PORT.

    Small and free of heavy imports, so rxconfig.py can read the same list for Reflex's socket.
    """
    listed = tuple(
        origin.strip().rstrip("/") for origin in env.get("SWITCHBOARD_ALLOWED_ORIGINS", "").split(",")
    )
    return tuple(origin for origin in listed if origin) or loopback_origins(int(env.get("SWITCHBOARD_PORT", "3000")))


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Where data lives and how the service is reached."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 3000
    catalog_url: str = ""
    master_key: Secret | None = None  # masked in repr; revealed only to derive the vault's keys
    allowed_origins: tuple[str, ...] = ()
    """Origins whose pages may write and open websockets; empty means the loopback origins of `port`."""
    database_url: Secret | None = None
    """A PostgreSQL URL (`postgresql://...`) holding the log, shared by several replicas; None keeps it in `data_dir`."""
    turn_lease_s: float = 15.0
    """How long a replica's claim on a turn it runs lasts unrenewed, before another replica may interrupt it."""
    turn_sweep_s: float = 5.0
    """How often each replica renews its turn leases and looks for open turns whose lease expired."""
    turn_stop_wait_s: float = 5.0
    """How long a Stop sent to a replica that does not run the turn waits for the turn's end before answering 202."""

    def __post_init__(self) -> None:
        if not self.allowed_origins:
            msgspec.structs.force_setattr(self, "allowed_origins", loopback_origins(self.port))

    @property
    def allowed_hosts(self) -> frozenset[str]:
        """Host names a request may name in `Host`: loopback, the bound address, the allowed origins' hosts."""
        origin_hosts = (urlsplit(origin).netloc.rpartition("@")[2] for origin in self.allowed_origins)
        names = (*LOOPBACK_HOSTS, self.host, *origin_hosts)
        return frozenset(host_name(name) for name in names)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "events.sqlite3"

    @property
    def event_log(self) -> str:
        """Where the log is: the PostgreSQL URL when one is set, else the SQLite file in the data folder."""
        return self.database_url.reveal() if self.database_url is not None else str(self.database_path)

    @property
    def shared_database(self) -> bool:
        """Whether the log is in PostgreSQL, shared with other replicas (keys and secrets then live there too)."""
        return self.database_url is not None

    @property
    def credentials_dir(self) -> Path:
        return self.data_dir / "credentials"

    @property
    def key_file(self) -> Path:
        return self.data_dir / "master.key"

    @property
    def master_key_file(self) -> Path | None:
        """Where the master key may come from when it is not given: none with a shared database, whose replicas
        must all be given the same one."""
        return None if self.shared_database else self.key_file

    @property
    def vault_header(self) -> Path:
        return self.data_dir / "vault.json"

    @property
    def vault_lock(self) -> Path:
        return self.data_dir / "vault.lock"

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
            master_key=secret_setting(env.get("SWITCHBOARD_MASTER_KEY")),
            allowed_origins=origins_from_env(env),
            database_url=secret_setting(env.get("SWITCHBOARD_DATABASE_URL")),
            turn_lease_s=float(env.get("SWITCHBOARD_TURN_LEASE_S", "15")),
            turn_sweep_s=float(env.get("SWITCHBOARD_TURN_SWEEP_S", "5")),
            turn_stop_wait_s=float(env.get("SWITCHBOARD_TURN_STOP_WAIT_S", "5")),
        )


def secret_setting(value: str | None) -> Secret | None:
    """An environment variable holding a secret, masked; unset or empty is None."""
    return Secret(value) if value else None


def host_name(host: str) -> str:
    """The host name of a `Host` value or netloc, lower case, without port: `[::1]:3000` -> `[::1]`."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1]
    if ":" in host and host.count(":") == 1:
        return host.partition(":")[0]
    return f"[{host}]" if ":" in host else host
