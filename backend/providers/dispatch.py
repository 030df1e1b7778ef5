"""Choosing the protocol module for an instance's provider type."""

from collections.abc import Awaitable, Callable, Sequence
from typing import NamedTuple, Protocol

import httpx

from backend.providers import anthropic, azure, google, ollama, openai
from backend.providers.contract import (
    REASONING_LEVELS,
    ChatChunk,
    ChatError,
    ChatMessage,
    ChatStream,
    Connection,
    ListResult,
)


class StreamChat(Protocol):
    def __call__(
        self,
        client: httpx.AsyncClient,
        conn: Connection,
        model: str,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int | None = None,
        reasoning_effort: str | None = None,
    ) -> ChatStream: ...


class ProviderProtocol(NamedTuple):
    list_models: Callable[[httpx.AsyncClient, Connection], Awaitable[ListResult]]
    stream_chat: StreamChat


_OPENAI = ProviderProtocol(openai.list_models, openai.stream_chat)
PROTOCOLS: dict[str, ProviderProtocol] = {
    "openai": _OPENAI,
    "openai-compat": _OPENAI,
    "openrouter": _OPENAI,
    "vercel": _OPENAI,
    "anthropic": ProviderProtocol(anthropic.list_models, anthropic.stream_chat),
    "google": ProviderProtocol(google.list_models, google.stream_chat),
    "azure": ProviderProtocol(azure.list_models, azure.stream_chat),
    "ollama": ProviderProtocol(ollama.list_models, ollama.stream_chat),
}
CATALOG_ONLY = {"bedrock": "AWS Bedrock", "google-vertex": "Google Vertex AI"}


async def list_models(client: httpx.AsyncClient, conn: Connection) -> ListResult:
    """The connection test: list the models the endpoint offers (cheap and unbilled)."""
    protocol = PROTOCOLS.get(conn.provider_type)
    if protocol is None:
        return ListResult("not_supported", None, 0.0, [], not_supported_message(conn.provider_type))
    return await protocol.list_models(client, conn)


def stream_chat(
    client: httpx.AsyncClient,
    conn: Connection,
    model: str,
    messages: Sequence[ChatMessage],
    *,
    max_tokens: int | None = None,
    reasoning_effort: str | None = None,
) -> ChatStream:
    """Stream one chat turn: Attempts, text deltas, then Finish and Usage when reported; a failure ends it with
    a ChatError. `reasoning_effort` is one of REASONING_LEVELS, sent in the protocol's own parameter."""
    protocol = PROTOCOLS.get(conn.provider_type)
    if protocol is None:
        return _only(ChatError("not_supported", None, not_supported_message(conn.provider_type)))
    if reasoning_effort is not None and reasoning_effort not in REASONING_LEVELS:
        message = f"unknown reasoning level {reasoning_effort!r}: use one of {', '.join(REASONING_LEVELS)}"
        return _only(ChatError("not_supported", None, message))
    return protocol.stream_chat(client, conn, model, messages, max_tokens=max_tokens, reasoning_effort=reasoning_effort)


def not_supported_message(provider_type: str) -> str:
    name = CATALOG_ONLY.get(provider_type)
    if name is not None:
        return f"{name} ({provider_type}) is in the catalog only: Switchboard cannot connect to it yet"
    return f"unknown provider type {provider_type!r}: Switchboard has no protocol for it"


async def _only(chunk: ChatChunk) -> ChatStream:
    yield chunk
