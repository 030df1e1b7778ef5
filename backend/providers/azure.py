"""Azure OpenAI: the OpenAI chat protocol at a per-resource endpoint, by deployment, with an api-version."""

from collections.abc import Sequence
from urllib.parse import quote

import httpx

from backend.providers import openai
from backend.providers.contract import ChatMessage, ChatStream, Connection, ListResult
from backend.providers.exchange import list_models_via, stream_chat_via
from backend.providers.transport import HttpRequest, endpoint, headers_for

DEFAULT_API_VERSION = "2024-10-21"


async def list_models(client: httpx.AsyncClient, conn: Connection) -> ListResult:
    request = HttpRequest("GET", endpoint(conn, "/openai/models"), _headers(conn), _params(conn))
    return await list_models_via(client, conn, request, openai.parse_models)


def stream_chat(
    client: httpx.AsyncClient,
    conn: Connection,
    model: str,
    messages: Sequence[ChatMessage],
    *,
    max_tokens: int | None = None,
    reasoning_effort: str | None = None,
) -> ChatStream:
    """`model` is the deployment name; the rest is OpenAI's, `reasoning_effort` included."""
    url = endpoint(conn, f"/openai/deployments/{quote(model, safe='')}/chat/completions")
    body = openai.chat_body(conn.provider_type, model, messages, max_tokens, reasoning_effort)
    request = HttpRequest("POST", url, _headers(conn), _params(conn), body)
    return stream_chat_via(client, conn, request, openai.decode_chat)


def _headers(conn: Connection) -> dict[str, str]:
    return headers_for(conn, "api-key")


def _params(conn: Connection) -> dict[str, str]:
    return {"api-version": conn.api_version or DEFAULT_API_VERSION}
