"""The rules an instance's settings and keys must follow; every broken rule is reported at once."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from backend.catalog.schema import Provider
from backend.errors import FieldError
from backend.providers.failures import SECRET_HEADER_WORDS

MAX_NAME = 100
MAX_ENDPOINT = 2000
MAX_TIMEOUT_MS = 600_000
MAX_ATTEMPTS = 10
MAX_BACKOFF_MS = 60_000
MAX_HEADERS = 20
MAX_HEADER_VALUE = 1000
MIN_KEY = 8
MAX_KEY = 4096
ENDPOINT_REQUIRED_TYPES = frozenset({"azure"})  # no protocol default to fall back on

HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
API_VERSION = re.compile(r"^[A-Za-z0-9._-]{0,40}$")
KEY_CHARS = re.compile(r"^[\x21-\x7e]+$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def name_problems(name: str, taken: bool) -> list[FieldError]:
    """`taken`: another instance already has this name (compared case-folded)."""
    if not name.strip():
        return [FieldError("name", "must not be empty")]
    if len(name) > MAX_NAME:
        return [FieldError("name", f"must be at most {MAX_NAME} characters")]
    if CONTROL.search(name):
        return [FieldError("name", "must not contain control characters")]
    if taken:
        return [FieldError("name", f"another instance is already called {name.strip()!r}")]
    return []


def endpoint_problems(endpoint: str, provider: Provider | None, catalog_endpoint: str) -> list[FieldError]:
    if not endpoint:
        if provider is not None and provider.type in ENDPOINT_REQUIRED_TYPES and not catalog_endpoint:
            return [FieldError("endpoint", f"provider {provider.id} has no default endpoint; give one")]
        return []
    if len(endpoint) > MAX_ENDPOINT:
        return [FieldError("endpoint", f"must be at most {MAX_ENDPOINT} characters")]
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as error:
        return [FieldError("endpoint", f"is not a URL: {error}")]
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [FieldError("endpoint", "must be an http:// or https:// URL with a host")]
    if parts.username or parts.password:
        return [FieldError("endpoint", "must not carry a user name or password; set the instance's key instead")]
    if CONTROL.search(endpoint) or " " in endpoint:
        return [FieldError("endpoint", "must not contain spaces or control characters")]
    return []


def policy_problems(timeout_ms: int, max_attempts: int, backoff_ms: int) -> list[FieldError]:
    errors: list[FieldError] = []
    if not 0 < timeout_ms <= MAX_TIMEOUT_MS:
        errors.append(FieldError("timeout_ms", f"must be more than 0 and at most {MAX_TIMEOUT_MS}"))
    if not 1 <= max_attempts <= MAX_ATTEMPTS:
        errors.append(FieldError("max_attempts", f"must be between 1 and {MAX_ATTEMPTS}"))
    if not 0 <= backoff_ms <= MAX_BACKOFF_MS:
        errors.append(FieldError("backoff_ms", f"must be between 0 and {MAX_BACKOFF_MS}"))
    return errors


def header_problems(headers: dict[str, str]) -> list[FieldError]:
    """Extra headers are recorded in the log, so credential-like ones are refused."""
    if len(headers) > MAX_HEADERS:
        return [FieldError("headers", f"at most {MAX_HEADERS} headers")]
    errors: list[FieldError] = []
    for name, value in headers.items():
        field = f"headers.{name}"
        if not HEADER_NAME.match(name):
            errors.append(FieldError(field, "is not a valid header name"))
        elif any(word in name.lower() for word in SECRET_HEADER_WORDS):
            errors.append(FieldError(field, "looks like a credential; headers are logged, set the instance's key instead"))
        elif len(value) > MAX_HEADER_VALUE or CONTROL.search(value):
            errors.append(FieldError(field, f"value must be at most {MAX_HEADER_VALUE} characters, no control characters"))
    return errors


def api_version_problems(api_version: str) -> list[FieldError]:
    if API_VERSION.match(api_version):
        return []
    return [FieldError("api_version", "must be up to 40 letters, digits, dots, dashes or underscores")]


def key_problems(api_key: str, field: str = "api_key") -> list[FieldError]:
    """Keys are printable ASCII without spaces; short ones are refused since their last four would show them."""
    if not MIN_KEY <= len(api_key) <= MAX_KEY:
        return [FieldError(field, f"must be {MIN_KEY} to {MAX_KEY} characters")]
    if not KEY_CHARS.match(api_key):
        return [FieldError(field, "must be printable characters without spaces")]
    return []
