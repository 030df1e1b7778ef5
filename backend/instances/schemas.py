"""What the instance routes take and answer (request bodies, models listing, environment import)."""

from __future__ import annotations

from typing import Literal

import msgspec
from msgspec import UNSET, UnsetType

DEFAULT_TIMEOUT_MS = 30_000
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_BACKOFF_MS = 500
DEFAULT_CONTEXT_WINDOW = 8_192
DEFAULT_MAX_TOKENS = 4_096


class CreateInstance(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A new connection; an empty endpoint means the catalog provider's own, `api_key` is optional."""

    name: str
    provider_id: str
    endpoint: str = ""
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff_ms: int = DEFAULT_BACKOFF_MS
    headers: dict[str, str] = {}
    api_version: str = ""
    api_key: str | None = None


class UpdateInstance(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The settings to change; absent fields stay. An empty or null endpoint returns to the catalog's.

    Moving the endpoint to another origin while the instance has a key needs that key again (`api_key`)
    or `keep_credential: true` to send the stored key there.
    """

    name: str | UnsetType = UNSET
    endpoint: str | None | UnsetType = UNSET
    timeout_ms: int | UnsetType = UNSET
    max_attempts: int | UnsetType = UNSET
    backoff_ms: int | UnsetType = UNSET
    headers: dict[str, str] | UnsetType = UNSET
    api_version: str | UnsetType = UNSET
    api_key: str | UnsetType = UNSET
    keep_credential: bool = False


class ConfirmEndpoint(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Confirm the key for the endpoint's current origin; `origin`, when given, must be that origin."""

    origin: str | None = None


class SetCredential(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A key to store (or to rotate to); with `verify` it must pass a connection test first."""

    api_key: str
    verify: bool = False


ModelAvailability = Literal["available", "not_offered", "not_in_catalog", "untested"]


class InstanceModel(msgspec.Struct, frozen=True, kw_only=True):
    """One model as seen through an instance: in the catalog, listed by the endpoint, or both."""

    id: str
    name: str
    availability: ModelAvailability
    in_catalog: bool
    listed_by_endpoint: bool


class InstanceModels(msgspec.Struct, frozen=True, kw_only=True):
    """The catalog's models for the instance's provider joined with the endpoint's last listing.

    `tested` is False until a connection test succeeded: catalog models are then `untested`.
    A `not_in_catalog` model is added to the instance's provider (as a custom provider, or a custom
    override of a shipped one) with a POST to `add_model_path` and `{"model_id": ...}` as its body.
    """

    instance_id: str
    provider_id: str
    tested: bool
    models: list[InstanceModel]
    add_model_path: str


class AddModel(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A model the endpoint listed, to add to the instance's provider; its price is recorded as unknown."""

    model_id: str
    name: str = ""
    context_window: int = DEFAULT_CONTEXT_WINDOW
    default_max_tokens: int = DEFAULT_MAX_TOKENS


class EnvCandidate(msgspec.Struct, frozen=True, kw_only=True):
    """One instance the environment would create: its name and the key's last four characters only.

    `exists`: an instance of that provider with the same endpoint already has this key (for OLLAMA_HOST: that
    endpoint); `invalid`: the value breaks the key rules. An empty `endpoint` means the provider's own,
    `default_endpoint` (resolved; "" when it resolves to nothing).
    `creates_provider`: the catalog has no Ollama provider yet, so one is added from its Ollama template.
    `sends_to`: the origin (scheme, host, port) the key (or requests) will be sent to; None when the
    endpoint resolves to nothing, and then the candidate is `invalid`.
    """

    name: str
    provider_id: str
    variable: str
    last4: str | None
    endpoint: str
    action: Literal["create", "exists", "invalid"]
    existing_instance_id: str | None = None
    creates_provider: bool = False
    sends_to: str | None = None
    default_endpoint: str = ""


class EnvPreview(msgspec.Struct, frozen=True, kw_only=True):
    candidates: list[EnvCandidate]


class EnvImportResult(msgspec.Struct, frozen=True, kw_only=True):
    """What applying the import did: the ids of the instances created and of those already present."""

    created: list[str]
    existing: list[str]

