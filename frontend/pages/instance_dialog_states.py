"""What the Instances page's dialogs hold and do: add or edit, rotate key, delete and models."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import NotRequired, TypedDict
from urllib.parse import urlsplit

import reflex as rx

from frontend import instances_api
from frontend.api import Problem
from frontend.auth import client_for
from frontend.forms import (
    REQUEST_FAILURES,
    RequestFailure,
    describe_failure,
    split_problem,
)
from frontend.pages.instances_state import InstancesState
from frontend.words import default_endpoint_words, plural

FORM_FIELDS = ("name", "endpoint", "timeout_ms", "api_key")
DEFAULT_TIMEOUT_MS = "30000"
KEYLESS_TYPES = ("ollama",)
SHOWN_PROVIDERS = 60
CONFLICT = 409
CHANGED_ELSEWHERE = "It was changed elsewhere in the meantime: close this dialog and try again."


@dataclass
class ProviderChoice:
    id: str
    name: str
    type: str
    models: str  # "1 model", "14 models"


class InstanceForm(TypedDict, total=False):
    """The Add / Edit dialog's fields; `api_key` and `keep_credential` only when asked for."""

    name: str
    endpoint: str
    timeout_ms: str
    api_key: str
    keep_credential: bool


class RotateForm(TypedDict):
    api_key: str
    verify: NotRequired[bool]  # the checkbox submits nothing when unticked


@dataclass
class ModelRow:
    id: str
    name: str
    availability: str


def is_keyless(provider: instances_api.ProviderDetail) -> bool:
    """Local servers take no key: Ollama, and any provider whose catalog entry names no key variable."""
    return provider.type in KEYLESS_TYPES or not (provider.api_key or "").strip()


def endpoint_hint(provider: instances_api.ProviderDetail) -> str:
    """The placeholder for the endpoint field: the provider's default URL (resolved when the catalog says
    where its placeholder points), else the variable it is read from."""
    endpoint = provider.resolved_endpoint or provider.api_endpoint
    if endpoint.startswith("$"):
        return default_endpoint_words(f"from {endpoint}")
    return default_endpoint_words(endpoint or "none")


def matching_providers(providers: list[ProviderChoice], query: str) -> list[ProviderChoice]:
    """Providers whose id, name or type hold every word of the query; id or name matches first."""
    words = query.casefold().split()

    def holds(text: str) -> bool:
        return all(word in text.casefold() for word in words)

    found = [p for p in providers if holds(f"{p.id} {p.name} {p.type}")]
    return sorted(found, key=lambda p: not holds(f"{p.id} {p.name}"))


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of an http(s) URL, default port left out, as the API shows origins; "" otherwise."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ""
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        return ""
    shown = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{shown}" if port in (None, default) else f"{scheme}://{shown}:{port}"


def moves_key(key_origin: str, typed: str, endpoint: str, default_origin: str) -> bool:
    """Whether editing the endpoint from `endpoint` to `typed` sends the key (confirmed for `key_origin`)
    elsewhere; an empty endpoint means the catalog default, `default_origin` ("" when not known)."""
    if not key_origin or typed.strip() == endpoint.strip():
        return False
    destination = origin_of(typed) if typed.strip() else default_origin
    return destination != key_origin


def parse_timeout(text: str) -> int | None:
    value = text.strip()
    return int(value) if value.isdigit() else None


class DialogState(rx.State, mixin=True):
    """Whether a dialog is open, and what it shows when the API refuses: errors next to fields, the rest on top.

    A mixin: each dialog's state gets its own copy of these fields.
    """

    is_open: bool = False
    errors: dict[str, str] = {}
    general_error: str = ""

    @rx.event
    def show(self, opened: bool) -> None:
        self.is_open = opened

    def _clear(self) -> None:
        self.errors = {}
        self.general_error = ""

    def _refused(self, failure: RequestFailure, fields: tuple[str, ...]) -> None:
        if not isinstance(failure, Problem):
            self.errors, self.general_error = {}, describe_failure(failure)
            return
        self.errors, self.general_error = split_problem(failure, fields)
        if failure.status == CONFLICT and self.general_error:
            self.general_error += f". {CHANGED_ELSEWHERE}"


class InstanceFormState(DialogState, rx.State):
    """The Add instance dialog (step 1: provider, step 2: settings) and the Edit dialog (settings only)."""

    editing_id: str = ""
    editing_version: int = 0
    step: int = 1
    query: str = ""
    providers: list[ProviderChoice] = []
    provider_id: str = ""
    provider_name: str = ""
    endpoint_placeholder: str = ""
    keyless: bool = False
    name: str = ""
    endpoint: str = ""
    timeout_ms: str = DEFAULT_TIMEOUT_MS
    saving: bool = False
    key_origin: str = ""
    default_origin: str = ""
    typed_endpoint: str = ""
    key_refused: bool = False

    @rx.var
    def asks_key_again(self) -> bool:
        """Editing the endpoint of an instance with a key to another origin: the key again, or keep it."""
        if self.editing_id == "":
            return False
        return self.key_refused or moves_key(self.key_origin, self.typed_endpoint, self.endpoint, self.default_origin)

    @rx.var
    def shown_providers(self) -> list[ProviderChoice]:
        return matching_providers(self.providers, self.query)[:SHOWN_PROVIDERS]

    @rx.var
    def asks_key(self) -> bool:
        """A new instance of a provider that takes a key; keys of existing ones are changed by rotation."""
        return self.editing_id == "" and not self.keyless

    @rx.event
    async def open_add(self) -> None:
        self._clear()
        self.editing_id, self.step, self.query, self.is_open = "", 1, "", True
        self.name, self.endpoint, self.timeout_ms = "", "", DEFAULT_TIMEOUT_MS
        try:
            summaries = await instances_api.catalog_providers(client_for(self))
        except REQUEST_FAILURES as failure:
            self._refused(failure, ())
            return
        self.providers = [ProviderChoice(p.id, p.name, p.type, plural(p.model_count, "model")) for p in summaries]

    @rx.event
    async def choose(self, provider_id: str) -> None:
        try:
            provider = await instances_api.catalog_provider(client_for(self), provider_id)
        except REQUEST_FAILURES as failure:
            self._refused(failure, ())
            return
        self.provider_id, self.provider_name = provider.id, provider.name
        self.endpoint_placeholder = endpoint_hint(provider)
        self.keyless = is_keyless(provider)
        self.name = provider.name
        self.step = 2

    @rx.event
    def back(self) -> None:
        self._clear()
        self.step = 1

    @rx.event
    def search(self, query: str) -> None:
        self.query = query

    @rx.event
    def open_edit(
        self, instance_id: str, name: str, endpoint: str, timeout_ms: int, version: int,
        key_origin: str, current_origin: str, provider_default: str,
    ) -> None:
        self._clear()
        self.editing_id, self.editing_version, self.step, self.is_open = instance_id, version, 2, True
        self.name, self.endpoint, self.timeout_ms = name, endpoint, str(timeout_ms)
        self.endpoint_placeholder = provider_default
        self.key_origin, self.typed_endpoint = key_origin, endpoint
        self.default_origin = "" if endpoint else current_origin
        self.key_refused = False

    @rx.event
    def type_endpoint(self, endpoint: str) -> None:
        self.typed_endpoint = endpoint

    @rx.event
    async def save(self, form: InstanceForm) -> AsyncIterator[rx.event.EventSpec | None]:
        """Create or change the instance; on refusal keep the dialog open with the errors shown."""
        self._clear()
        timeout_ms = parse_timeout(form.get("timeout_ms", ""))
        if timeout_ms is None:
            self.errors = {"timeout_ms": "must be a whole number of milliseconds"}
            return
        self.saving = True
        yield None
        try:
            await self._send(form, timeout_ms)
        except REQUEST_FAILURES as failure:
            self._refused(failure, FORM_FIELDS)
            self.key_refused = self.key_refused or "keep_credential" in self.errors.get("endpoint", "")
            return
        finally:
            self.saving = False
        self.is_open = False
        yield InstancesState.reload()

    async def _send(self, form: InstanceForm, timeout_ms: int) -> None:
        fields: dict[str, object] = {"name": form.get("name", ""), "endpoint": form.get("endpoint", "").strip()}
        fields["timeout_ms"] = timeout_ms
        if self.editing_id:
            before = {"name": self.name, "endpoint": self.endpoint, "timeout_ms": parse_timeout(self.timeout_ms)}
            changes = {key: value for key, value in fields.items() if before[key] != value}
            changes.update(self._key_choice(form))
            if changes:
                await instances_api.update_instance(client_for(self), self.editing_id, self.editing_version, changes)
            return
        key = form.get("api_key", "")
        extra = {"api_key": key} if key and not self.keyless else {}
        await instances_api.create_instance(client_for(self), {**fields, "provider_id": self.provider_id, **extra})

    def _key_choice(self, form: InstanceForm) -> dict[str, object]:
        """For an endpoint moved to another origin: the key given again, else keeping the stored one."""
        if not self.asks_key_again:
            return {}
        key = form.get("api_key", "")
        if key:
            return {"api_key": key}
        return {"keep_credential": True} if form.get("keep_credential", False) else {}


class RotateState(DialogState, rx.State):
    """The Set / Rotate key dialog: a new key, tested against the provider first when the form says `verify`."""

    instance_id: str = ""
    instance_name: str = ""
    last4: str = ""
    saving: bool = False

    @rx.event
    def open_for(self, instance_id: str, name: str, last4: str) -> None:
        self._clear()
        self.instance_id, self.instance_name, self.last4 = instance_id, name, last4
        self.is_open = True

    @rx.event
    async def save(self, form: RotateForm) -> AsyncIterator[rx.event.EventSpec | None]:
        """Store the key; a failed verification keeps the dialog open with the provider's answer."""
        self._clear()
        self.saving = True
        yield None
        try:
            verify = form.get("verify", False)
            await instances_api.set_credential(client_for(self), self.instance_id, form["api_key"], verify)
        except REQUEST_FAILURES as failure:
            self._refused(failure, ("api_key",))
            return
        finally:
            self.saving = False
        self.is_open = False
        yield InstancesState.reload()


class DeleteState(DialogState, rx.State):
    """The confirmation before an instance (and its stored key) is deleted."""

    instance_id: str = ""
    instance_name: str = ""
    version: int = 0

    @rx.event
    def open_for(self, instance_id: str, name: str, version: int) -> None:
        self._clear()
        self.instance_id, self.instance_name, self.version, self.is_open = instance_id, name, version, True

    @rx.event
    async def confirm(self) -> rx.event.EventSpec | None:
        self._clear()
        try:
            await instances_api.delete_instance(client_for(self), self.instance_id, self.version)
        except REQUEST_FAILURES as failure:
            self._refused(failure, ())
            return None
        self.is_open = False
        return InstancesState.reload()


class ModelsState(DialogState, rx.State):
    """The catalog's models for an instance joined with what its endpoint listed at the last test."""

    instance_id: str = ""
    instance_name: str = ""
    tested: bool = False
    rows: list[ModelRow] = []

    def _show(self, models: instances_api.InstanceModels) -> None:
        self.tested = models.tested
        self.rows = [ModelRow(m.id, m.name, m.availability) for m in models.models]

    @rx.event
    async def open_for(self, instance_id: str, name: str) -> None:
        self._clear()
        self.instance_id, self.instance_name, self.rows, self.is_open = instance_id, name, [], True
        try:
            self._show(await instances_api.instance_models(client_for(self), instance_id))
        except REQUEST_FAILURES as failure:
            self._refused(failure, ())

    @rx.event
    async def add(self, model_id: str) -> None:
        self._clear()
        try:
            self._show(await instances_api.add_listed_model(client_for(self), self.instance_id, model_id))
        except REQUEST_FAILURES as failure:
            self._refused(failure, ())
