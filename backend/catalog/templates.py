"""Starting points for custom providers: gateways that speak OpenAI or Anthropic, and local servers."""

from __future__ import annotations

import msgspec

from backend.catalog.schema import Model, ProviderDraft


class Template(msgspec.Struct, frozen=True, kw_only=True):
    """A ready-to-edit provider draft; PUT it to /api/v1/catalog/custom/{suggested_id}."""

    id: str
    name: str
    description: str
    suggested_id: str
    local: bool
    provider: ProviderDraft


def _model(model_id: str, name: str, context: int, max_tokens: int, free: bool) -> Model:
    return Model(
        id=model_id,
        name=name,
        cost_per_1m_in=0.0,
        cost_per_1m_out=0.0,
        price_status="free" if free else "unknown",
        context_window=context,
        default_max_tokens=max_tokens,
    )


def _gateway(protocol: str, type_: str, endpoint: str, model: Model) -> ProviderDraft:
    return ProviderDraft(
        name=f"My {protocol} gateway",
        type=type_,
        api_endpoint=endpoint,
        api_key="$GATEWAY_API_KEY",
        default_large_model_id=model.id,
        default_small_model_id=model.id,
        models=[model],
    )


def _local(name: str, type_: str, endpoint: str, model: Model) -> ProviderDraft:
    return ProviderDraft(
        name=name,
        type=type_,
        api_endpoint=endpoint,
        api_key=None,
        default_large_model_id=model.id,
        default_small_model_id=model.id,
        models=[model],
    )


TEMPLATES: tuple[Template, ...] = (
    Template(
        id="openai-compatible-gateway",
        name="OpenAI-compatible gateway",
        description="A company gateway or proxy speaking OpenAI Chat Completions "
        "(POST {endpoint}/chat/completions). The key comes from an environment variable.",
        suggested_id="my-openai-gateway",
        local=False,
        provider=_gateway(
            "OpenAI-compatible",
            "openai-compat",
            "https://gateway.example.com/v1",
            _model("gpt-4o-mini", "GPT-4o mini (via gateway)", 128_000, 16_384, free=False),
        ),
    ),
    Template(
        id="anthropic-compatible-gateway",
        name="Anthropic-compatible gateway",
        description="A gateway speaking the Anthropic Messages API (POST {endpoint}/v1/messages).",
        suggested_id="my-anthropic-gateway",
        local=False,
        provider=_gateway(
            "Anthropic-compatible",
            "anthropic",
            "https://gateway.example.com",
            _model("claude-sonnet-4-5", "Claude Sonnet 4.5 (via gateway)", 200_000, 64_000, False),
        ),
    ),
    Template(
        id="ollama",
        name="Ollama (local server)",
        description="Ollama on this machine: native API on port 11434, no key, free to run.",
        suggested_id="ollama",
        local=True,
        provider=_local(
            "Ollama",
            "ollama",
            "http://localhost:11434",
            _model("llama3.2", "Llama 3.2", 131_072, 4_096, True),
        ),
    ),
    Template(
        id="lm-studio",
        name="LM Studio (local server)",
        description="LM Studio's OpenAI-compatible server on port 1234, no key, free to run.",
        suggested_id="lm-studio",
        local=True,
        provider=_local(
            "LM Studio",
            "openai-compat",
            "http://localhost:1234/v1",
            _model("qwen2.5-7b-instruct", "Qwen2.5 7B Instruct", 32_768, 4_096, True),
        ),
    ),
    Template(
        id="llama-cpp",
        name="llama.cpp server (local)",
        description="llama.cpp's llama-server, OpenAI-compatible on port 8080, no key, free to run.",
        suggested_id="llama-cpp",
        local=True,
        provider=_local(
            "llama.cpp",
            "openai-compat",
            "http://localhost:8080/v1",
            _model("local-model", "Model loaded in llama-server", 8_192, 2_048, True),
        ),
    ),
)
