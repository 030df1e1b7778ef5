"""Refresh from a Catwalk-compatible service: a conditional GET of `/v2/providers`, then a diff."""

from __future__ import annotations

import datetime
from urllib.parse import urlsplit

import anyio
import httpx
import msgspec

from backend.catalog.catwalk import CatwalkProvider, upstream_provider
from backend.catalog.events import RefreshCounts, SkippedProvider
from backend.catalog.schema import Model, Provider, as_draft
from backend.catalog.validation import PRICE_FIELDS, provider_problems
from backend.errors import ProblemError

PROVIDER_LIST = msgspec.json.Decoder(list[CatwalkProvider])
MAX_SERVICE_URL = 2000
MAX_CATALOG_RESPONSE = 16 * 2**20
"""Bytes; the shipped catalog of about 40 providers is under 1 MB as Catwalk JSON."""


class CatalogServiceFailed(ProblemError):
    """The catalog service could not be used; the current catalog is kept."""

    status = 502
    title = "Catalog service failed"


class CatalogServiceTimedOut(ProblemError):
    status = 504
    title = "Catalog service timed out"


class Fetched(msgspec.Struct, frozen=True):
    """A 200 answer: the providers listed and the ETag to send next time."""

    providers: list[CatwalkProvider]
    etag: str | None


class Diff(msgspec.Struct, frozen=True):
    counts: RefreshCounts
    upserted: list[Provider]
    removed: list[str]


def providers_endpoint(base_url: str) -> str | None:
    """`{base}/v2/providers`, or None unless the base is an http(s) URL naming a host (and no credentials)."""
    return f"{base_url.rstrip('/')}/v2/providers" if is_service_url(base_url) else None


def is_service_url(url: str) -> bool:
    """An http:// or https:// URL with a host name, a valid port, no user or password, no spaces."""
    if len(url) > MAX_SERVICE_URL or any(char.isspace() or not char.isprintable() for char in url):
        return False
    parts = urlsplit(url)
    try:
        port_ok = parts.port != 0
    except ValueError:  # not a number, or out of range
        return False
    return port_ok and parts.scheme in ("http", "https") and bool(parts.hostname) and "@" not in parts.netloc


class Answer(msgspec.Struct, frozen=True):
    status: int
    etag: str | None
    body: bytes


async def _get_limited(http: httpx.AsyncClient, endpoint: str, headers: dict[str, str], timeout: float) -> Answer:
    """GET, reading at most MAX_CATALOG_RESPONSE bytes of (decompressed) body."""
    body = bytearray()
    async with http.stream("GET", endpoint, headers=headers, timeout=timeout) as response:
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > MAX_CATALOG_RESPONSE:
                raise CatalogServiceFailed(
                    f"{endpoint} sent more than {MAX_CATALOG_RESPONSE // 2**20} MB; the current catalog is kept"
                )
    return Answer(status=response.status_code, etag=response.headers.get("etag"), body=bytes(body))


async def fetch_providers(
    http: httpx.AsyncClient, endpoint: str, etag: str | None, timeout: float
) -> Fetched | None:
    """GET the provider list; None on 304 Not Modified. Raises a ProblemError saying why not."""
    headers = {"accept": "application/json"}
    if etag:
        headers["if-none-match"] = etag
    try:
        with anyio.fail_after(timeout):
            response = await _get_limited(http, endpoint, headers, timeout)
    except (TimeoutError, httpx.TimeoutException) as error:
        raise CatalogServiceTimedOut(
            f"{endpoint} did not answer within {timeout:g}s; the current catalog is kept"
        ) from error
    except httpx.HTTPError as error:
        raise CatalogServiceFailed(
            f"{endpoint} is unreachable ({type(error).__name__}: {error}); the current catalog is kept"
        ) from error
    if response.status == 304:
        return None
    if response.status != 200:
        raise CatalogServiceFailed(
            f"{endpoint} answered HTTP {response.status}; the current catalog is kept"
        )
    try:
        listed = PROVIDER_LIST.decode(response.body)
    except msgspec.DecodeError as error:
        raise CatalogServiceFailed(
            f"{endpoint} sent a body that is not a Catwalk provider list ({error}); "
            "the current catalog is kept"
        ) from error
    if not listed:
        raise CatalogServiceFailed(
            f"{endpoint} listed no providers; the current catalog is kept"
        )
    return Fetched(providers=listed, etag=response.etag)


def convert_listed(
    listed: list[CatwalkProvider], source: str, today: datetime.date
) -> tuple[dict[str, Provider], list[SkippedProvider]]:
    """Upstream providers in our schema; those breaking the rules (or repeated) are skipped."""
    kept: dict[str, Provider] = {}
    skipped: list[SkippedProvider] = []
    for item in listed:
        provider = upstream_provider(item, source, today.isoformat())
        problems = provider_problems(provider.id, provider)
        if item.id in kept:
            skipped.append(SkippedProvider(item.id, "listed more than once; the first is kept"))
        elif problems:
            reason = "; ".join(f"{problem.field}: {problem.message}" for problem in problems)
            skipped.append(SkippedProvider(item.id, reason))
        else:
            kept[item.id] = provider
    return kept, skipped


def _prices(model: Model) -> tuple[float | str, ...]:
    return (*(getattr(model, field) for field in PRICE_FIELDS), model.price_status)


def diff_catalogs(old: dict[str, Provider], new: dict[str, Provider]) -> Diff:
    """What changed from `old` to `new`, comparing content and ignoring provenance."""
    counts = dict.fromkeys(msgspec.structs.asdict(RefreshCounts()), 0)
    upserted: list[Provider] = []
    for provider_id, provider in new.items():
        before = old.get(provider_id)
        if before is None:
            counts["providers_added"] += 1
            counts["models_added"] += len(provider.models)
            upserted.append(provider)
        elif as_draft(before) != as_draft(provider):
            counts["providers_changed"] += 1
            _count_models(before, provider, counts)
            upserted.append(provider)
    removed = [provider_id for provider_id in old if provider_id not in new]
    counts["providers_removed"] = len(removed)
    counts["models_removed"] += sum(len(old[provider_id].models) for provider_id in removed)
    return Diff(counts=RefreshCounts(**counts), upserted=upserted, removed=removed)


def _count_models(before: Provider, after: Provider, counts: dict[str, int]) -> None:
    old_models = {model.id: model for model in before.models}
    new_models = {model.id: model for model in after.models}
    counts["models_added"] += len(new_models.keys() - old_models.keys())
    counts["models_removed"] += len(old_models.keys() - new_models.keys())
    for model_id in new_models.keys() & old_models.keys():
        old_model, new_model = old_models[model_id], new_models[model_id]
        if old_model != new_model:
            counts["models_changed"] += 1
            if _prices(old_model) != _prices(new_model):
                counts["prices_changed"] += 1
