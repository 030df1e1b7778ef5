"""Events on an instance's stream (`instance-<id>`): its settings, its credential and its connection tests.

Credential events carry a keyed fingerprint, the last four characters and a version — never the key.
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

from backend.providers.contract import Outcome
from events import Event

STREAM_PREFIX = "instance-"


def stream_of(instance_id: str) -> str:
    return f"{STREAM_PREFIX}{instance_id}"


class SettingsChange(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Some of an instance's settings; the fields left unset did not change."""

    name: str | UnsetType = UNSET
    endpoint: str | UnsetType = UNSET
    timeout_ms: int | UnsetType = UNSET
    max_attempts: int | UnsetType = UNSET
    backoff_ms: int | UnsetType = UNSET
    headers: dict[str, str] | UnsetType = UNSET
    api_version: str | UnsetType = UNSET


class InstanceCreated(Event, frozen=True, kw_only=True):
    """A connection was configured. An empty endpoint means the catalog provider's own."""

    instance_id: str
    name: str
    provider_id: str
    provider_type: str
    endpoint: str
    timeout_ms: int
    max_attempts: int
    backoff_ms: int
    headers: dict[str, str]
    api_version: str = ""

    def summary(self) -> str:
        return f"Instance {self.name!r} created for provider {self.provider_id}"


class InstanceUpdated(Event, frozen=True, kw_only=True):
    """Settings changed; `before` and `after` hold only the fields that changed.

    `keep_credential`: the endpoint moved to another origin and the user chose to send the stored key
    there (`credential_origin`).
    """

    instance_id: str
    before: SettingsChange
    after: SettingsChange
    keep_credential: bool = False
    credential_origin: str | None = None

    def summary(self) -> str:
        changed = ", ".join(name for name in self.after.__struct_fields__ if getattr(self.after, name) is not UNSET)
        return f"Instance {self.instance_id} changed: {changed}"


class InstanceDeleted(Event, frozen=True, kw_only=True):
    """The instance is gone; its credential file was destroyed with it."""

    instance_id: str
    name: str
    credential_destroyed: bool

    def summary(self) -> str:
        return f"Instance {self.name!r} deleted"


class CredentialSet(Event, frozen=True, kw_only=True):
    """A key was stored for an instance that had none, for the endpoint origin it may be sent to.

    `origin` is None only in events recorded before origins were kept.
    """

    instance_id: str
    fingerprint: str
    last4: str
    credential_version: int
    verified: bool
    origin: str | None = None

    def summary(self) -> str:
        return f"Key …{self.last4} (v{self.credential_version}) set on instance {self.instance_id}"


class CredentialRotated(Event, frozen=True, kw_only=True):
    """A new key replaced the previous one."""

    instance_id: str
    fingerprint: str
    last4: str
    credential_version: int
    previous_fingerprint: str
    previous_version: int
    verified: bool
    origin: str | None = None

    def summary(self) -> str:
        return (
            f"Key of instance {self.instance_id} rotated to …{self.last4} "
            f"(v{self.previous_version} → v{self.credential_version})"
        )


class EndpointConfirmed(Event, frozen=True, kw_only=True):
    """The user confirmed that the instance's key may be sent to the endpoint's current origin."""

    instance_id: str
    origin: str
    previous_origin: str | None

    def summary(self) -> str:
        return f"Key of instance {self.instance_id} confirmed for {self.origin} (was {self.previous_origin})"


class CredentialRemoved(Event, frozen=True, kw_only=True):
    """The instance's key was destroyed."""

    instance_id: str
    fingerprint: str
    credential_version: int

    def summary(self) -> str:
        return f"Key v{self.credential_version} removed from instance {self.instance_id}"


class CredentialVerificationFailed(Event, frozen=True, kw_only=True):
    """A new key was tried against the provider and refused; the previous key (if any) stays active."""

    instance_id: str
    fingerprint: str
    last4: str
    outcome: Outcome
    http_status: int | None
    message: str

    def summary(self) -> str:
        return f"New key …{self.last4} for instance {self.instance_id} failed verification: {self.outcome}"


class ConnectionTested(Event, frozen=True, kw_only=True):
    """A cheap, unbilled models listing against the instance's endpoint, and what it found.

    `model_ids`: the sorted ids listed, or None when an ok test listed the same ids as the last list recorded
    (tests stored before that rule carry the list every time; both fold alike).
    """

    instance_id: str
    outcome: Outcome
    http_status: int | None
    latency_ms: float
    model_count: int
    model_ids: list[str] | None = None
    message: str
    credential_version: int | None

    def summary(self) -> str:
        return f"Connection test of instance {self.instance_id}: {self.outcome} in {self.latency_ms:.0f} ms"


EVENT_TYPES: tuple[type[Event], ...] = (
    InstanceCreated,
    InstanceUpdated,
    InstanceDeleted,
    CredentialSet,
    CredentialRotated,
    CredentialRemoved,
    CredentialVerificationFailed,
    ConnectionTested,
    EndpointConfirmed,
)
