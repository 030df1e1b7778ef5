"""The catalog's commands and queries: the one object the HTTP layer and other domains call.

It loads the shipped seed, applies the catalog events already in the log, applies each event
it appends at once (read-your-writes) and follows the log for writes from other processes.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal, NoReturn

import httpx
import msgspec

from backend.catalog.catwalk import CatwalkInput, draft_from_catwalk, encode_catwalk
from backend.catalog.events import (
    EVENT_TYPES,
    REFRESH_STREAM,
    CatalogRefreshed,
    CustomModelAdded,
    CustomProviderCreated,
    CustomProviderDeleted,
    CustomProviderUpdated,
    RefreshCounts,
    SkippedProvider,
    custom_stream,
)
from backend.catalog.refresh import (
    CatalogServiceFailed,
    convert_listed,
    diff_catalogs,
    fetch_providers,
    providers_endpoint,
)
from backend.catalog.schema import Model, Provider, ProviderDraft, as_draft
from backend.catalog.search import ModelPage, ModelQuery, search_models
from backend.catalog.seed import SEED_DIR, SeedLoad, load_seed
from backend.catalog.templates import TEMPLATES, Template
from backend.catalog.validation import provider_problems, settle_price_status
from backend.catalog.views import (
    CatalogIndex,
    CatalogState,
    ProviderDetail,
    ProviderSummary,
    ProviderView,
    is_catalog_stream,
    provider_detail,
)
from backend.errors import Conflict, FieldError, NotFound, ValidationFailed
from backend.settings import Settings
from backend.wording import plural
from events import ConcurrencyConflict, Event, EventIdReused, EventRegistry, EventStore, Metadata, StoredEvent
from events.event import type_name

log = logging.getLogger(__name__)
EVENT_ID_NAMESPACE = uuid.UUID("5b0c3a9e-4f0e-4c1e-9a57-6a1f3c2d8e10")
READ_PAGE = 1000
FOLLOWER_NAME = "catalog"  # how health names the catalog's follower of the log
DEFAULT_REFRESH_TIMEOUT = 10.0
CATALOG_TYPES = tuple(type_name(event_class) for event_class in EVENT_TYPES)

SaveStatus = Literal["created", "updated", "unchanged"]
InstanceNames = Callable[[str], Awaitable[list[str]]]
"""The names of the instances using a provider id (the instances domain provides it)."""


async def no_instances(_provider_id: str) -> list[str]:
    return []


class SaveOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What saving a custom provider did, and the provider as it now shows."""

    status: SaveStatus
    provider: ProviderView


class RefreshOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """A refresh that reached the service: `updated` (event recorded) or `not_modified` (304)."""

    status: Literal["updated", "not_modified"]
    url: str
    etag: str | None
    counts: RefreshCounts
    skipped: list[SkippedProvider] = []


def event_ids(idempotency_key: str | None, stream_id: str, count: int) -> list[str] | None:
    """Stable event ids from a client's Idempotency-Key, so a retried request writes nothing new."""
    if idempotency_key is None:
        return None
    return [
        str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{idempotency_key}\n{stream_id}\n{index}"))
        for index in range(count)
    ]


class CatalogService:
    """Providers and models: shipped, refreshed and custom; searched, edited, imported, exported."""

    def __init__(
        self,
        store: EventStore,
        settings: Settings,
        http: httpx.AsyncClient,
        state: CatalogState,
        seed: SeedLoad,
        refresh_timeout: float,
        instance_names: InstanceNames,
    ) -> None:
        self._store = store
        self._settings = settings
        self._http = http
        self._state = state
        self._position = 0
        self._follower: asyncio.Task[None] | None = None
        self.seed = seed.providers
        """The shipped providers as loaded, before any refresh: the catalog at position 0."""
        self.warnings = seed.warnings
        self.refresh_timeout = refresh_timeout
        self.instance_names = instance_names

    @classmethod
    async def open(
        cls,
        store: EventStore,
        settings: Settings,
        http: httpx.AsyncClient,
        *,
        seed_dir: Path = SEED_DIR,
        refresh_timeout: float = DEFAULT_REFRESH_TIMEOUT,
        instance_names: InstanceNames = no_instances,
    ) -> CatalogService:
        """Load the seed, apply the log, and start following it; call `close()` when done.

        `instance_names` names the instances using a provider, for the refusal of a silent override."""
        seed = load_seed(seed_dir)
        state = CatalogState(seed.providers)
        service = cls(store, settings, http, state, seed, refresh_timeout, instance_names)
        await service._catch_up()
        service._follower = asyncio.create_task(service._follow(), name="catalog-follower")
        return service

    async def close(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            await asyncio.gather(self._follower, return_exceptions=True)
            self._follower = None

    async def __aenter__(self) -> CatalogService:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    # Queries

    @property
    def store(self) -> EventStore:
        """The log the catalog is built from (for questions about its past)."""
        return self._store

    @property
    def index(self) -> CatalogIndex:
        return self._state.index

    @property
    def last_refresh(self) -> CatalogRefreshed | None:
        return self._state.last_refresh

    def providers(self) -> list[ProviderSummary]:
        return self._state.index.summaries

    def provider(self, provider_id: str) -> ProviderView | None:
        return self._state.index.providers.get(provider_id)

    def require_provider(self, provider_id: str) -> ProviderView:
        provider = self.provider(provider_id)
        if provider is None:
            raise NotFound(f"no provider {provider_id!r} in the catalog")
        return provider

    def provider_detail(self, provider_id: str) -> ProviderDetail:
        """The provider with its default endpoint resolved as requests would use it now (as `shown_url`)."""
        return provider_detail(self.require_provider(provider_id))

    def search(self, query: ModelQuery) -> ModelPage:
        unknown = sorted(query.providers - self._state.index.providers.keys())
        if unknown:
            raise ValidationFailed(
                "unknown provider in filter",
                [FieldError("provider", f"no provider {pid!r} in the catalog") for pid in unknown],
            )
        return search_models(self._state.index, query)

    def templates(self) -> tuple[Template, ...]:
        return TEMPLATES

    def export(self, provider_id: str) -> bytes:
        """Catwalk-format JSON for the provider as it shows (the override, when there is one)."""
        return encode_catwalk(self.require_provider(provider_id))

    # Commands

    async def save_custom(
        self,
        provider_id: str,
        draft: ProviderDraft,
        metadata: Metadata,
        *,
        override: bool = False,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> SaveOutcome:
        """Create or replace a custom provider; a shipped provider's id overrides it, only with `override`."""
        draft = settle_price_status(draft)
        problems = provider_problems(provider_id, draft)
        if problems:
            raise ValidationFailed(f"provider {provider_id!r} has {plural(len(problems), 'problem')}", problems)
        if not override:
            await self._refuse_overrides([(provider_id, "id")])
        return await self._save(provider_id, draft, metadata, expected_version, idempotency_key)

    async def delete_custom(
        self,
        provider_id: str,
        metadata: Metadata,
        *,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> ProviderView | None:
        """Remove a custom provider; returns the shipped provider that shows again, if any."""
        if provider_id not in self._state.custom:
            if provider_id in self._state.shipped:
                raise Conflict(
                    f"{provider_id!r} is a shipped provider and cannot be deleted; "
                    "only a custom override of it can be removed"
                )
            raise NotFound(f"no custom provider {provider_id!r}")
        stream = custom_stream(provider_id)
        expected = self._expected(stream, expected_version)
        event = CustomProviderDeleted(provider_id=provider_id)
        await self._append(stream, [event], metadata, expected, idempotency_key)
        return self.provider(provider_id)

    async def add_model(
        self, provider_id: str, model: Model, metadata: Metadata, *, idempotency_key: str | None = None
    ) -> ProviderView:
        """Add one model to a provider; a shipped provider gets a custom override holding it."""
        current = self.require_provider(provider_id)
        grown = msgspec.structs.replace(as_draft(current), models=[*current.models, model])
        draft = settle_price_status(grown)
        problems = provider_problems(provider_id, draft)
        if problems:
            raise ValidationFailed(f"model {model.id!r} cannot be added", problems)
        if not current.custom:
            return (await self._save(provider_id, draft, metadata, None, idempotency_key)).provider
        stream = custom_stream(provider_id)
        event = CustomModelAdded(provider_id=provider_id, model=draft.models[-1])
        await self._append(stream, [event], metadata, current.version, idempotency_key)
        return self.require_provider(provider_id)

    async def import_catwalk(
        self,
        data: CatwalkInput,
        metadata: Metadata,
        *,
        as_id: str | None = None,
        override: bool = False,
        idempotency_key: str | None = None,
    ) -> list[SaveOutcome]:
        """Save Catwalk-format providers as custom providers; nothing is written if any is invalid
        or, without `override`, if any has a shipped provider's id."""
        drafts, problems = import_drafts(data, as_id)
        if problems:
            raise ValidationFailed(f"the import has {plural(len(problems), 'problem')}; nothing was saved", problems)
        if not override:
            at = "[{}]." if isinstance(data, list) else ""
            await self._refuse_overrides([(pid, at.format(index) + "id") for index, (pid, _) in enumerate(drafts)])
        return [
            await self._save(pid, draft, metadata, None, _sub_key(idempotency_key, index))
            for index, (pid, draft) in enumerate(drafts)
        ]

    async def refresh(self, metadata: Metadata, *, url: str | None = None) -> RefreshOutcome:
        """Fetch the provider list from a catalog service and record what changed."""
        endpoint = refresh_endpoint(url if url is not None else self._settings.catalog_url)
        last = self._state.last_refresh
        etag = last.etag if last is not None and last.url == endpoint else None
        fetched = await fetch_providers(self._http, endpoint, etag, self.refresh_timeout)
        if fetched is None:
            return RefreshOutcome(status="not_modified", url=endpoint, etag=etag, counts=RefreshCounts())
        today = datetime.datetime.now(datetime.UTC).date()
        kept, skipped = convert_listed(fetched.providers, endpoint, today)
        if not kept:
            raise_all_skipped(endpoint, skipped)
        diff = diff_catalogs(self._state.shipped, kept)
        event = CatalogRefreshed(
            url=endpoint,
            etag=fetched.etag,
            counts=diff.counts,
            upserted=diff.upserted,
            removed=diff.removed,
            skipped=skipped,
        )
        expected = self._state.versions.get(REFRESH_STREAM, 0)
        await self._append(REFRESH_STREAM, [event], metadata, expected, None)
        return RefreshOutcome(
            status="updated", url=endpoint, etag=fetched.etag, counts=diff.counts, skipped=skipped
        )

    async def _refuse_overrides(self, ids: list[tuple[str, str]]) -> None:
        """A 409 naming each (provider id, field) that would silently replace a shipped provider."""
        problems = [
            FieldError(field, await self._override_words(self._state.shipped[provider_id]))
            for provider_id, field in ids
            if provider_id in self._state.shipped
        ]
        if problems:
            raise Conflict(
                "saving would replace a shipped provider; confirm with \"override\": true "
                "(import: ?override=true) to do so",
                problems,
            )

    async def _override_words(self, shipped: Provider) -> str:
        names = await self.instance_names(shipped.id)
        users = f"instances using it: {', '.join(names)}" if names else "no instance uses it"
        return f"{shipped.id!r} overrides the shipped provider {shipped.name}; {users}"

    # Writing and following the log

    async def _save(
        self,
        provider_id: str,
        draft: ProviderDraft,
        metadata: Metadata,
        expected_version: int | None,
        idempotency_key: str | None,
    ) -> SaveOutcome:
        stream = custom_stream(provider_id)
        expected = self._expected(stream, expected_version)
        current = self._state.custom.get(provider_id)
        if current is not None and as_draft(current.provider) == draft:
            return SaveOutcome(status="unchanged", provider=self.require_provider(provider_id))
        event: Event
        if current is None:
            event = CustomProviderCreated(provider_id=provider_id, provider=draft)
        else:
            event = CustomProviderUpdated(provider_id=provider_id, provider=draft)
        await self._append(stream, [event], metadata, expected, idempotency_key)
        saved = self.provider(provider_id)
        if saved is None:
            raise Conflict("this Idempotency-Key was already used; what it saved has since been deleted")
        status: SaveStatus = "created" if current is None else "updated"
        return SaveOutcome(status=status, provider=saved)

    def _expected(self, stream: str, expected_version: int | None) -> int:
        known = self._state.versions.get(stream, 0)
        if expected_version is not None and expected_version != known:
            raise Conflict(
                f"{stream} is at version {known}, not {expected_version}; reload and retry"
            )
        return known

    async def _append(
        self,
        stream: str,
        events: list[Event],
        metadata: Metadata,
        expected_version: int,
        idempotency_key: str | None,
    ) -> None:
        try:
            await self._store.append(
                stream,
                events,
                metadata=metadata,
                expected_version=expected_version,
                event_ids=event_ids(idempotency_key, stream, len(events)),
            )
        except ConcurrencyConflict as error:
            await self._catch_up_stream(stream)
            raise Conflict(
                f"{stream} changed meanwhile (version {error.actual}, expected {error.expected}); "
                "reload and retry"
            ) from error
        except EventIdReused as error:
            raise Conflict("this Idempotency-Key was already used for a different request") from error
        await self._catch_up_stream(stream)

    async def _catch_up(self) -> None:
        """Apply the catalog events already in the log (at open), reading only catalog types."""
        head = await self._store.head()
        found = [stored for name in CATALOG_TYPES for stored in await self._read_type(name, head)]
        found.sort(key=lambda stored: stored.position)
        for stored in found:
            await self._apply(stored)
        self._position = head
        self._state.reindex()

    async def _read_type(self, name: str, head: int) -> list[StoredEvent]:
        found: list[StoredEvent] = []
        while True:
            after = found[-1].position if found else 0
            page = await self._store.read(after=after, limit=READ_PAGE, type=name)
            kept = [stored for stored in page if stored.position <= head]
            found += kept
            if len(kept) < READ_PAGE:
                return found

    async def _follow(self) -> None:
        """Apply catalog events appended by anyone, as they commit."""
        try:
            async for batch in self._store.subscribe_batches(self._position):
                await self._take(batch)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.exception("the catalog stopped following the event log")
            self._store.followers.failed(FOLLOWER_NAME, error)

    async def _take(self, batch: list[StoredEvent]) -> None:
        changed = False
        for stored in batch:
            if is_catalog_stream(stored.stream_id):
                changed = await self._apply(stored) or changed
        self._position = max(self._position, batch[-1].position)
        if changed:
            self._state.reindex()

    async def _apply(self, stored: StoredEvent) -> bool:
        expectation = self._state.expects(stored)
        if expectation == "seen":
            return False
        if expectation == "gap":
            return await self._apply_stream(stored.stream_id)
        return apply_stored(self._state, self._store.registry, stored)

    async def _apply_stream(self, stream: str) -> bool:
        changed = False
        for stored in await self._store.read_stream(stream):
            if self._state.expects(stored) == "apply":
                changed = await self._apply(stored) or changed
        return changed

    async def _catch_up_stream(self, stream: str) -> None:
        if await self._apply_stream(stream):
            self._state.reindex()


def apply_stored(state: CatalogState, registry: EventRegistry, stored: StoredEvent) -> bool:
    """Apply the next event of a catalog stream to `state`; one that cannot be decoded is logged and skipped."""
    try:
        event = registry.decode(stored)
    except (msgspec.DecodeError, msgspec.ValidationError, LookupError):
        log.exception("cannot apply catalog event at position %s", stored.position)
        return False
    state.apply(stored, event)
    return True


def import_drafts(
    data: CatwalkInput, as_id: str | None
) -> tuple[list[tuple[str, ProviderDraft]], list[FieldError]]:
    """Catwalk input as (id, draft) pairs, with every problem; list items prefix fields with `[i].`."""
    items = data if isinstance(data, list) else [data]
    prefix = "[{}]." if isinstance(data, list) else ""
    problems: list[FieldError] = []
    if not items:
        problems.append(FieldError("body", "lists no providers"))
    if as_id is not None and len(items) != 1:
        problems.append(FieldError("as_id", "only applies when importing a single provider"))
    drafts: list[tuple[str, ProviderDraft]] = []
    for index, item in enumerate(items):
        provider_id, at = as_id or item.id, prefix.format(index)
        draft = settle_price_status(draft_from_catwalk(item)[0])
        problems += provider_problems(provider_id, draft, prefix=at)
        if provider_id in (seen for seen, _ in drafts):
            problems.append(FieldError(f"{at}id", f"provider {provider_id!r} is listed twice"))
        drafts.append((provider_id, draft))
    return drafts, problems


def refresh_endpoint(base_url: str) -> str:
    """The `/v2/providers` URL of a catalog service, or a validation error naming `url`."""
    endpoint = providers_endpoint(base_url)
    if endpoint is None:
        message = (
            "must be an http:// or https:// URL with a host name (no user name or password)"
            if base_url
            else 'no catalog service configured: set SWITCHBOARD_CATALOG_URL or send {"url": ...}'
        )
        raise ValidationFailed("no usable catalog service URL", [FieldError("url", message)])
    return endpoint


def _sub_key(idempotency_key: str | None, index: int) -> str | None:
    return None if idempotency_key is None else f"{idempotency_key}\n{index}"


def raise_all_skipped(endpoint: str, skipped: list[SkippedProvider]) -> NoReturn:
    reasons = "; ".join(f"{item.provider_id}: {item.reason}" for item in skipped[:5])
    raise CatalogServiceFailed(
        f"{endpoint} listed no valid provider ({reasons}); the current catalog is kept"
    )
