"""The running service's parts, opened together in the app's lifespan and closed in reverse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from importlib.metadata import PackageNotFoundError, version

import anyio
import httpx

from backend.audit.events import EVENT_TYPES as AUDIT_EVENTS
from backend.audit.events import SERVICE_STREAM, ServiceStarted, ViewRebuilt
from backend.audit.instance_refs import InstanceRefsView
from backend.audit.names import NameBook
from backend.audit.search_view import AuditSearchView, SearchIndex
from backend.auth import EVENT_TYPES as AUTH_EVENTS
from backend.auth import Tokens, TokenView, Unprotected
from backend.auth.tokens import SEALING_PURPOSE, TokenKey, shared_token_key
from backend.catalog import EVENT_TYPES as CATALOG_EVENTS
from backend.catalog import CatalogService
from backend.instances import EVENT_TYPES as INSTANCE_EVENTS
from backend.instances import InstanceListView, Instances, Vault
from backend.instances.confirmation import record_missing_origins
from backend.instances.key_blobs import KeyBlobs
from backend.instances.vault_storage import open_key_blobs
from backend.instances.vault_upgrade import upgrade_vault
from backend.sessions import EVENT_TYPES as SESSION_EVENTS
from backend.sessions import SessionListView, Sessions
from backend.sessions.leases import LeaseTiming, TurnLeases, keep_leases, replica_name, sweep
from backend.sessions.stops import follow_stop_requests
from backend.settings import Settings
from events import EventRegistry, EventStore, Metadata
from events.open import open_event_store

SYSTEM = Metadata(actor="system")


def service_version() -> str:
    try:
        return version("switchboard")
    except PackageNotFoundError:
        return "0.0.0"


def build_registry() -> EventRegistry:
    """Every event type the service knows, so any stored event can be decoded."""
    registry = EventRegistry()
    registry.register(*AUDIT_EVENTS, *AUTH_EVENTS, *CATALOG_EVENTS, *INSTANCE_EVENTS, *SESSION_EVENTS)
    return registry


class Services:
    """What request handlers use: settings, the event store, the shared HTTP client, the domains, the tokens,
    the audit search index, and the names event summaries put in place of ids."""

    def __init__(
        self,
        settings: Settings,
        registry: EventRegistry,
        store: EventStore,
        http: httpx.AsyncClient,
        catalog: CatalogService,
        instances: Instances,
        sessions: Sessions,
        tokens: Tokens,
        search: SearchIndex,
    ) -> None:
        self.settings = settings
        self.version = service_version()
        self.registry = registry
        self.store = store
        self.http = http
        self.catalog = catalog
        self.instances = instances
        self.sessions = sessions
        self.tokens = tokens
        self.search = search
        self.names = NameBook(self)


async def instance_names_using(instance_list: InstanceListView, store: EventStore, provider_id: str) -> list[str]:
    """The names of the instances of a provider, for the catalog to say what an override would affect."""
    return [row.instance.name for row in await instance_list.all(store) if row.instance.provider_id == provider_id]


@asynccontextmanager
async def open_vault(settings: Settings, *, upgrading: bool) -> AsyncIterator[tuple[Vault, TokenKey]]:
    """The vault, its lock held shared for the block, and the API token key: files in the data folder, or rows
    beside a log shared by replicas (`settings.shared_database`), where the master key must be given."""
    async with open_key_blobs(settings) as blobs, blobs.holding(exclusive=False):
        vault = await Vault.open(blobs, settings.master_key, settings.master_key_file, upgrading)
        yield vault, await _token_key(settings, blobs, vault)


async def _token_key(settings: Settings, blobs: KeyBlobs, vault: Vault) -> TokenKey:
    """The key file in the data folder; with a shared database, the row every replica reads, sealed under a key
    from the vault."""
    if not settings.shared_database:
        return TokenKey.load_or_create(settings.token_key_file)
    from backend.instances.table_blobs import TableBlobs

    assert isinstance(blobs, TableBlobs)
    return await shared_token_key(blobs, vault.derived_key(SEALING_PURPOSE))


@asynccontextmanager
async def open_token_key(settings: Settings) -> AsyncIterator[TokenKey]:
    """The API token key alone (for the token commands): the vault is opened only when the key lives beside it."""
    if not settings.shared_database:
        yield TokenKey.load_or_create(settings.token_key_file)
        return
    async with open_vault(settings, upgrading=False) as (_, key):
        yield key


def prepare_data_dir(settings: Settings) -> None:
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    settings.data_dir.chmod(0o700)


async def record_view_rebuilds(store: EventStore) -> None:
    """Rebuild the catch-up views whose code version changed, and log each view rebuild not logged yet (the inline
    views were rebuilt as the store opened).

    The store keeps each rebuild, from its own transaction, until it is marked logged, and the event takes the id the
    rebuild was given: a stop between a rebuild and its event leaves it to the next start, and one between the event
    and the mark finds the event stored already (an append of stored ids writes nothing).
    """
    await store.upgrade_views([AuditSearchView(store.registry)])
    for rebuilt in await store.unlogged_rebuilds():
        event = ViewRebuilt(view=rebuilt.view, from_version=rebuilt.from_version, to_version=rebuilt.to_version,
                            events=rebuilt.events, milliseconds=rebuilt.milliseconds)
        await store.append(SERVICE_STREAM, [event], metadata=SYSTEM, event_ids=[rebuilt.event_id])
        await store.rebuild_logged(rebuilt)


UPSTREAM_LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=None)
"""Every turn streams over a connection of its own for as long as its answer lasts: a cap on connections makes
the turns beyond it wait for others to finish (httpx's default is 100). Idle connections stay open for httpx's
5 s, so that the next turns to the same provider need no new connection and TLS handshake; with a cap on them
(httpx's default is 20) httpcore closes every connection that goes idle while the pool holds more than the cap,
which under load is nearly all of them. Both are bounded by how many turns ran at once in the last 5 s."""


TURN_CLIENTS = 8
"""Turns stream through clients of their own, each session's on one of this many. Whenever a request starts or
ends, httpcore looks through every connection in its client's pool, and for each idle one through all of them
again: with 200 turns on one client that was a quarter of the server's time under bench.load."""


@asynccontextmanager
async def upstream_clients(count: int) -> AsyncIterator[list[httpx.AsyncClient]]:
    """`count` clients to the upstreams sharing one TLS context (loading the CA certificates is the slow part)."""
    tls = httpx.create_ssl_context()
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(httpx.AsyncClient(follow_redirects=False, limits=UPSTREAM_LIMITS, verify=tls))
            for _ in range(count)
        ]


@asynccontextmanager
async def open_services(settings: Settings, *, serving: bool = True) -> AsyncIterator[Services]:
    """Open the vault, the store and the HTTP client, record ServiceStarted, and close them on exit.

    The vault is upgraded to the current file format and reconciled with the log, and views whose code version
    changed are rebuilt from it (`ViewRebuilt`), before anything is served; the search index then follows the log
    in the background.
    Refuses (`Unprotected`) to serve beyond loopback while no admin token exists.
    `serving=False` opens the same parts for one CLI command beside a possibly running server: nothing is
    upgraded, reconciled or announced, and turns the server left open are not touched.
    """
    prepare_data_dir(settings)
    registry = build_registry()
    upgrading = not settings.shared_database and settings.database_path.exists()  # a log of format 1 files
    instance_list = InstanceListView(registry)
    token_view = TokenView(registry)
    session_list = SessionListView(registry)
    inline_views = [instance_list, token_view, session_list, InstanceRefsView()]
    async with open_vault(settings, upgrading=upgrading) as (vault, token_key):
        async with (
            open_event_store(settings.event_log, registry=registry, inline_views=inline_views) as store,
            upstream_clients(1 + TURN_CLIENTS) as (http, *turn_clients),
            await CatalogService.open(
                store, settings, http, instance_names=partial(instance_names_using, instance_list, store)
            ) as catalog,
        ):
            await record_view_rebuilds(store)
            tokens = Tokens.open(store, token_view, settings, token_key)
            leases = TurnLeases(store, LeaseTiming(lease_s=settings.turn_lease_s, sweep_s=settings.turn_sweep_s), replica_name())
            await leases.create_table()
            instances = Instances(store, instance_list, vault, catalog, http)
            if serving:
                await _prepare_to_serve(settings, vault, tokens, instances)
            async with anyio.create_task_group() as tasks:
                search = SearchIndex(store, tasks)
                sessions = Sessions(session_list, instances, tasks, turn_clients, leases, settings.turn_stop_wait_s)
                services = Services(settings, registry, store, http, catalog, instances, sessions, tokens, search)
                if serving:
                    search.start()  # indexes what the log gained since the last start, alongside serving
                    # alone on its log, a starting process interrupts every open turn; replicas wait for leases to expire
                    await sweep(leases, session_list, SYSTEM, everything=not settings.shared_database)
                    tasks.start_soon(keep_leases, leases, session_list, SYSTEM, sessions.running_turn_ids, sessions.lose)
                    tasks.start_soon(follow_stop_requests, sessions)
                    started = ServiceStarted(version=services.version, data_dir=str(settings.data_dir))
                    await store.append(SERVICE_STREAM, [started], metadata=SYSTEM)
                try:
                    yield services
                finally:
                    tasks.cancel_scope.cancel()  # turns still running are recorded as cancelled


async def _prepare_to_serve(settings: Settings, vault: Vault, tokens: Tokens, instances: Instances) -> None:
    """Refuse an unprotected host, bring the vault to the current format and in line with the log."""
    refusal = await tokens.unprotected(settings.host)
    if refusal:
        raise Unprotected(refusal)
    await upgrade_vault(vault, settings.master_key, settings.master_key_file, instances.store, SYSTEM)
    await instances.reconcile_credentials()
    await record_missing_origins(instances)
