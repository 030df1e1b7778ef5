"""Environment placeholders in catalog providers (`$VAR`, `${VAR}`, `${VAR:-default}`): which variables a
provider may name, and the one way they are resolved.

A key placeholder may name a variable the shipped catalog names or one matching `*_API_KEY` / `*_TOKEN`;
an endpoint placeholder one the shipped catalog names or one matching `*_API_ENDPOINT` / `*_BASE_URL`, or
`OLLAMA_HOST`. Never a `SWITCHBOARD_*` variable: those hold the server's own secrets.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from typing import Literal, NamedTuple
from urllib.parse import urlsplit, urlunsplit

PlaceholderField = Literal["api_key", "api_endpoint"]

PLACEHOLDER = re.compile(
    r"^\$(?:(?P<bare>[A-Za-z_][A-Za-z0-9_]*)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\})$"
)
RESERVED_PREFIX = "SWITCHBOARD_"
SHIPPED_VARIABLES: dict[PlaceholderField, frozenset[str]] = {
    "api_key": frozenset({
        "AIHUBMIX_API_KEY", "ALIBABA_SINGAPORE_API_KEY", "ALIBABA_US_API_KEY", "ANTHROPIC_API_KEY",
        "ATLASCLOUD_API_KEY", "AVIAN_API_KEY", "AZURE_OPENAI_API_KEY", "BASETEN_API_KEY", "CEREBRAS_API_KEY",
        "CHUTES_API_KEY", "CORTECS_API_KEY", "DEEPSEEK_API_KEY", "FIREWORKS_API_KEY", "GEMINI_API_KEY",
        "GROQ_API_KEY", "HF_TOKEN", "IONET_API_KEY", "KIMI_CODING_API_KEY", "MINIMAX_API_KEY",
        "MOONSHOT_API_KEY", "NEBIUS_API_KEY", "NEURALWATT_API_KEY", "OPENAI_API_KEY", "OPENCODE_API_KEY",
        "OPENROUTER_API_KEY", "PIONEER_API_KEY", "QINIUCLOUD_API_KEY", "SCW_SECRET_KEY", "SYNTHETIC_API_KEY",
        "VENICE_API_KEY", "VERCEL_API_KEY", "XAI_API_KEY", "ZAI_API_KEY", "ZHIPU_API_KEY",
    }),
    "api_endpoint": frozenset({
        "ANTHROPIC_API_ENDPOINT", "AZURE_OPENAI_API_ENDPOINT", "GEMINI_API_ENDPOINT", "OPENAI_API_ENDPOINT",
    }),
}
"""Every variable catalog_seed/ names, per field (a test keeps this in step with the seed)."""

PATTERNS: dict[PlaceholderField, re.Pattern[str]] = {
    "api_key": re.compile(r"^[A-Z][A-Z0-9_]*_(?:API_KEY|TOKEN)$"),
    "api_endpoint": re.compile(r"^(?:[A-Z][A-Z0-9_]*_(?:API_ENDPOINT|BASE_URL)|OLLAMA_HOST)$"),
}
PUBLIC_ENDPOINTS: dict[str, str] = {
    "OPENAI_API_ENDPOINT": "https://api.openai.com/v1",
    "ANTHROPIC_API_ENDPOINT": "https://api.anthropic.com",
    "GEMINI_API_ENDPOINT": "https://generativelanguage.googleapis.com",
}
"""A shipped provider's endpoint placeholder, unset: the public endpoint of that very provider."""


class Placeholder(NamedTuple):
    variable: str
    default: str | None


def parse_placeholder(text: str) -> Placeholder | None:
    """The variable (and default) a placeholder names; None for anything else."""
    match = PLACEHOLDER.match(text.strip())
    if match is None:
        return None
    return Placeholder(match["bare"] or match["braced"], match["default"])


def variable_allowed(variable: str, field: PlaceholderField) -> bool:
    if variable.startswith(RESERVED_PREFIX):
        return False
    return variable in SHIPPED_VARIABLES[field] or PATTERNS[field].match(variable) is not None


def placeholder_problems(text: str, field: PlaceholderField) -> Iterator[str]:
    """Why a placeholder may not be used (nothing for a literal value)."""
    placeholder = parse_placeholder(text)
    if placeholder is None:
        return
    if not variable_allowed(placeholder.variable, field):
        allowed = "*_API_KEY or *_TOKEN" if field == "api_key" else "*_API_ENDPOINT, *_BASE_URL or OLLAMA_HOST"
        yield (
            f"${placeholder.variable} may not be read: name a variable the shipped catalog uses or one "
            f"matching {allowed} (never SWITCHBOARD_*)"
        )
    if field == "api_key" and placeholder.default is not None:
        yield "a key placeholder takes no default; the key itself belongs in an instance's credential"


def resolve(text: str, field: PlaceholderField, environ: Mapping[str, str] = os.environ) -> str:
    """A literal as it is; a placeholder: its variable's value, else its default, else "".

    A variable that may not be read resolves to "" whatever the environment holds.
    """
    placeholder = parse_placeholder(text)
    if placeholder is None:
        return text.strip()
    if not variable_allowed(placeholder.variable, field):
        return ""
    value = environ.get(placeholder.variable, "").strip()
    return value or (placeholder.default or "").strip()


def default_endpoint(endpoint: str, shipped: bool, environ: Mapping[str, str] = os.environ) -> str:
    """A provider's default endpoint with its placeholder resolved; "" when it resolves to nothing.

    Only a shipped provider (not a custom one, nor a custom override) falls back to its public endpoint.
    """
    resolved = resolve(endpoint, "api_endpoint", environ)
    if resolved or not shipped:
        return resolved
    placeholder = parse_placeholder(endpoint)
    return PUBLIC_ENDPOINTS.get(placeholder.variable, "") if placeholder else ""


def shown_url(url: str) -> str:
    """A URL as it may be shown: without user info, query or fragment, which can carry credentials
    (`https://user:pw@host/v1?api-key=...`); "" for text that does not parse as a URL."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return ""
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
