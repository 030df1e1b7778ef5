"""Where an instance's requests go: its effective endpoint, that endpoint's origin (scheme, host, port),
and whether its key was confirmed for that origin.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from backend.catalog.schema import Provider
from backend.catalog.views import provider_endpoint
from backend.errors import Conflict, FieldError

EndpointStatus = Literal["ok", "changed", "unresolved"]
DEFAULT_PORTS = {"http": 80, "https": 443}


class EndpointUnresolved(Conflict):
    """The instance's endpoint resolves to no URL: nothing is sent anywhere."""

    title = "Endpoint unresolved"
    type = "endpoint_unresolved"


class EndpointChanged(Conflict):
    """The endpoint's origin is not the one the key was confirmed for: the key is not sent."""

    title = "Endpoint changed"
    type = "endpoint_changed"


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` (default port left out, lower case), or None when `url` is no http(s) URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in DEFAULT_PORTS or not host:
        return None
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" if port in (None, DEFAULT_PORTS[scheme]) else f"{scheme}://{shown}:{port}"


def effective_endpoint(endpoint: str, provider: Provider | None) -> str:
    """The instance's own endpoint, else its provider's; "" when neither gives one."""
    if endpoint.strip():
        return endpoint.strip()
    return provider_endpoint(provider) if provider is not None else ""


def endpoint_origin(endpoint: str, provider: Provider | None) -> str | None:
    """The origin requests for an instance with this endpoint setting go to; None when unresolved."""
    return origin_of(effective_endpoint(endpoint, provider))


def endpoint_status(current: str | None, has_key: bool, confirmed: str | None) -> EndpointStatus:
    """`unresolved`: no destination; `changed`: the key was confirmed for another origin."""
    if current is None:
        return "unresolved"
    return "changed" if has_key and confirmed != current else "ok"


def unresolved(instance_id: str) -> EndpointUnresolved:
    return EndpointUnresolved(
        f"the endpoint of instance {instance_id} resolves to no URL (an unset environment placeholder?); "
        "nothing was sent",
        [FieldError("endpoint", "endpoint_unresolved: set an http(s) endpoint, or the variable its provider names")],
    )


def changed(instance_id: str, confirmed: str | None, current: str) -> EndpointChanged:
    return EndpointChanged(
        f"the key of instance {instance_id} was confirmed for {confirmed or 'no endpoint'}, but the endpoint "
        f"is now {current}; the key was not sent. Confirm with POST /api/v1/instances/{instance_id}/confirm-endpoint",
        [FieldError("endpoint", f"endpoint_changed: now {current}, the key was confirmed for {confirmed}")],
    )
