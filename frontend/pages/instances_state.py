"""The Instances page's list: one card per instance, reloaded live, and running connection tests."""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import quote

import reflex as rx

from frontend import instances_api, sessions_api
from frontend.auth import client_for
from frontend.forms import REQUEST_FAILURES, describe_failure
from frontend.live import react_to
from frontend.words import default_endpoint_words

NEVER = "never"
INSTANCE_PAGE = "/instances/view"  # ?id=<instance id>: the instance's configuration and the timeline of its history


@dataclass
class InstanceCard:
    """What one card shows; `status` is connected, error, untested or testing.

    `endpoint_status` is ok, changed or unresolved; `key_origin` is where the key was confirmed to go,
    `current_origin` where requests go now. `last_test` is when it was tested, or that the key changed since;
    `no_key`: the provider needs a key and none is stored; `key` says which key it has (never the key itself).
    """

    id: str
    name: str
    provider_id: str
    provider_type: str
    endpoint: str
    timeout_ms: int
    version: int
    status: str
    outcome: str
    message: str
    tested_at: str
    latency: str
    model_count: str
    key_last4: str
    endpoint_status: str
    current_origin: str
    key_origin: str
    shown_endpoint: str = ""
    provider_default: str = ""
    no_key: bool = False
    key: str = ""
    href: str = ""  # the instance's page
    used_by: str = ""  # the names of the sessions whose agents talk through it


def instance_href(instance_id: str) -> str:
    return f"{INSTANCE_PAGE}?id={quote(instance_id, safe='')}"


def shown_time(iso: str) -> str:
    """`2026-11-24T02:50:01.123+00:00` as `2026-11-24 02:50:01 UTC`."""
    return iso.replace("T", " ")[:19] + " UTC"


def sessions_by_instance(sessions: list[sessions_api.Session]) -> dict[str, str]:
    """For each instance, the names of the sessions (not archived) with an agent on it."""
    names: dict[str, list[str]] = {}
    for session in sessions:
        if session.archived:
            continue
        for instance_id in dict.fromkeys(agent.instance_id for agent in session.agents if agent.instance_id):
            names.setdefault(instance_id, []).append(session.name)
    return {instance_id: ", ".join(used) for instance_id, used in names.items()}


def last_test_words(instance: instances_api.Instance) -> str:
    """When the instance was last tested, or that its key changed since (and whether the new key was verified)."""
    changed = instance.key_changed_at
    if changed is not None:
        what = "Key changed" if instance.credential else "Key removed"
        verified = instance.credential is not None and instance.credential.verified
        return f"{what} {shown_time(changed)}, {'verified with the provider' if verified else 'not tested yet'}"
    return shown_time(instance.last_test.tested_at) if instance.last_test else NEVER


def provider_default(instance: instances_api.Instance) -> str:
    """The provider's default endpoint as the URL it resolves to."""
    return default_endpoint_words(instance.default_endpoint or "unresolved")


def shown_endpoint(instance: instances_api.Instance) -> str:
    """The endpoint as set, or the provider's default named with its URL."""
    return instance.endpoint or provider_default(instance)


def key_words(instance: instances_api.Instance) -> str:
    """Which key the instance has: its last four characters, or that it has none (and whether it needs one)."""
    credential = instance.credential
    if credential is None:
        return "none" if instance.key_required else "none (not needed)"
    shown = f"•••• {credential.last4}"
    return f"{shown} — key missing: set it again" if instance.key_missing else shown


def card_of(instance: instances_api.Instance, testing: bool, used_by: str = "") -> InstanceCard:
    test = instance.last_test
    return InstanceCard(
        id=instance.id,
        name=instance.name,
        provider_id=instance.provider_id,
        provider_type=instance.provider_type,
        endpoint=instance.endpoint,
        timeout_ms=instance.timeout_ms,
        version=instance.version,
        status="testing" if testing else instance.status,
        outcome=test.outcome if test else "",
        message=test.message if test and test.outcome != "ok" else "",
        tested_at=last_test_words(instance),
        latency=f"{test.latency_ms:.0f} ms" if test else "–",
        model_count=str(instance.model_count) if instance.model_count is not None else "–",
        key_last4=instance.credential.last4 if instance.credential else "",
        shown_endpoint=shown_endpoint(instance),
        provider_default=provider_default(instance),
        no_key=instance.key_required and instance.credential is None,
        key=key_words(instance),
        href=instance_href(instance.id),
        endpoint_status=instance.endpoint_status,
        current_origin=instance.current_origin or "",
        key_origin=(instance.credential.origin or "") if instance.credential else "",
        used_by=used_by,
    )


class InstancesState(rx.State):
    """Every instance as a card; reloaded whenever an instance event is logged anywhere."""

    cards: list[InstanceCard] = []
    testing: list[str] = []
    loaded: bool = False
    error: str = ""

    async def _load(self) -> None:
        try:
            instances = await instances_api.list_instances(client_for(self))
            used_by = sessions_by_instance(await sessions_api.list_sessions(client_for(self)))
        except REQUEST_FAILURES as failure:
            self.error = describe_failure(failure)
            return
        self.cards = [card_of(i, i.id in self.testing, used_by.get(i.id, "")) for i in instances]
        self.loaded = True
        self.error = ""

    @rx.event
    async def reload(self) -> None:
        await self._load()

    @rx.event
    async def confirm_endpoint(self, instance_id: str, version: int, origin: str) -> None:
        """Confirm the key may go where the card says the endpoint now points."""
        try:
            await instances_api.confirm_endpoint(client_for(self), instance_id, version, origin)
        except REQUEST_FAILURES as failure:
            self.error = describe_failure(failure)
            return
        await self._load()

    @rx.event(background=True)
    async def test(self, instance_id: str) -> None:
        """Show the card as testing, run the connection test, then show its result.

        A background task, so the page stays usable and live while a slow endpoint is tested.
        """
        async with self:
            self.testing = [*self.testing, instance_id]
            self.cards = [replace(card, status="testing") if card.id == instance_id else card for card in self.cards]
        failure_message = ""
        try:
            await instances_api.run_test(client_for(self), instance_id)
        except REQUEST_FAILURES as failure:
            failure_message = describe_failure(failure)
        async with self:
            self.testing = [other for other in self.testing if other != instance_id]
            await self._load()
            self.error = failure_message or self.error


INSTANCE_EVENTS = (
    "Instance",
    "Credential",
    "Connection",
    "Endpoint",
    "Custom",
    "Catalog",
    "Session",
    "Agent",
)
react_to(INSTANCE_EVENTS, InstancesState.reload)
