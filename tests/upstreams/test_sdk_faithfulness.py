"""The official SDKs talk to the local upstreams as they would to the real services."""

import anthropic
import httpx
import ollama
import openai
import pytest
from anthropic.types import MessageParam
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types
from openai.types.chat import ChatCompletionMessageParam

from tests.upstreams import Behaviour, UpstreamServer, Urls, count_tokens, reply_pieces
from tests.upstreams.scenario import DEFAULT_KEY

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Say hello to me"},
]
USER_TURN: MessageParam = {"role": "user", "content": "Say hello to me"}
PROMPT_TOKENS = count_tokens("Be brief.", "Say hello to me")


def openai_client(upstream: UpstreamServer, key: str = DEFAULT_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=upstream.urls.openai, api_key=key, max_retries=0)


def azure_client(upstream: UpstreamServer, key: str = DEFAULT_KEY, version: str = "2024-10-21") -> openai.AzureOpenAI:
    return openai.AzureOpenAI(azure_endpoint=upstream.urls.azure, api_key=key, api_version=version, max_retries=0)


def anthropic_client(upstream: UpstreamServer, key: str = DEFAULT_KEY) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=upstream.urls.anthropic, api_key=key, max_retries=0)


def gemini_client(upstream: UpstreamServer, key: str = DEFAULT_KEY) -> genai.Client:
    options = genai_types.HttpOptions(
        base_url=upstream.urls.gemini, retry_options=genai_types.HttpRetryOptions(attempts=1)
    )
    return genai.Client(api_key=key, http_options=options)


def test_openai_lists_models_and_streams_with_usage(upstream: UpstreamServer) -> None:
    client = openai_client(upstream)
    assert [model.id for model in client.models.list()] == upstream.scenario.models
    stream = client.chat.completions.create(
        model="local-small", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == upstream.scenario.reply
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (
        PROMPT_TOKENS,
        len(reply_pieces(upstream.scenario.reply)),
    )


def test_openai_answers_without_streaming(upstream: UpstreamServer) -> None:
    completion = openai_client(upstream).chat.completions.create(model="local-small", messages=MESSAGES)
    assert completion.choices[0].message.content == upstream.scenario.reply
    assert completion.usage is not None and completion.usage.prompt_tokens == PROMPT_TOKENS


def test_openai_wrong_key_is_the_sdks_authentication_error(upstream: UpstreamServer) -> None:
    with pytest.raises(openai.AuthenticationError) as raised:
        openai_client(upstream, key="sk-wrong-key-1234").models.list()
    assert raised.value.status_code == 401
    assert raised.value.code == "invalid_api_key"
    assert "sk-wrong-key-1234" not in str(raised.value)  # the key is echoed masked, as OpenAI does


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        ("not_found", openai.NotFoundError),
        ("rate_limited", openai.RateLimitError),
        ("server_error", openai.InternalServerError),
        ("unauthorized", openai.AuthenticationError),
    ],
)
def test_openai_statuses_map_to_the_sdks_errors(
    upstream: UpstreamServer, behaviour: Behaviour, error: type[openai.APIStatusError]
) -> None:
    upstream.scenario.behaviour = behaviour
    with pytest.raises(error):
        openai_client(upstream).models.list()


def test_openai_unknown_model_is_not_found(upstream: UpstreamServer) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        openai_client(upstream).chat.completions.create(model="no-such-model", messages=MESSAGES)
    assert raised.value.code is None or raised.value.code == "model_not_found"


def test_openai_sees_a_broken_stream_as_a_failure(upstream: UpstreamServer) -> None:
    upstream.scenario.behaviour = "broken_stream"
    stream = openai_client(upstream).chat.completions.create(model="local-small", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIConnectionError) as raised:
        list(stream)
    assert "incomplete chunked read" in str(raised.value.__cause__)


def test_openai_raises_on_an_error_inside_the_stream(upstream: UpstreamServer) -> None:
    upstream.scenario.behaviour = "stream_error"
    upstream.scenario.error_message = "The server had an error while streaming."
    stream = openai_client(upstream).chat.completions.create(model="local-small", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError, match="The server had an error while streaming."):
        list(stream)


def test_azure_lists_models_and_streams_a_deployment(upstream: UpstreamServer) -> None:
    client = azure_client(upstream)
    assert [model.id for model in client.models.list()] == upstream.scenario.models
    stream = client.chat.completions.create(
        model="local-large", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == upstream.scenario.reply
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == PROMPT_TOKENS
    request = upstream.scenario.requests_to("/chat/completions")[-1]
    assert request.path == "/azure/openai/deployments/local-large/chat/completions"
    assert request.query == {"api-version": "2024-10-21"}


def test_azure_wrong_key_unknown_version_and_deployment(upstream: UpstreamServer) -> None:
    with pytest.raises(openai.AuthenticationError):
        azure_client(upstream, key="wrong").models.list()
    with pytest.raises(openai.BadRequestError) as bad_version:
        azure_client(upstream, version="2099-01-01").models.list()
    assert "API version not supported" in str(bad_version.value)
    with pytest.raises(openai.NotFoundError) as missing:
        azure_client(upstream).chat.completions.create(model="no-such-deployment", messages=MESSAGES)
    assert missing.value.code == "DeploymentNotFound"


def test_azure_without_an_api_version_is_resource_not_found(upstream: UpstreamServer) -> None:
    answer = httpx.get(f"{upstream.urls.azure}/openai/models", headers={"api-key": DEFAULT_KEY})
    assert (answer.status_code, answer.json()) == (404, {"error": {"code": "404", "message": "Resource not found"}})


def test_anthropic_lists_models_and_streams_with_usage(upstream: UpstreamServer) -> None:
    client = anthropic_client(upstream)
    assert [model.id for model in client.models.list()] == upstream.scenario.models
    with client.messages.stream(
        model="local-small",
        max_tokens=100,
        system="Be brief.",
        messages=[USER_TURN],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == upstream.scenario.reply
    assert (final.usage.input_tokens, final.usage.output_tokens) == (PROMPT_TOKENS, len(reply_pieces(text)))
    assert final.stop_reason == "end_turn"


def test_anthropic_raises_on_an_overloaded_error_event(upstream: UpstreamServer) -> None:
    upstream.scenario.behaviour = "stream_error"
    with anthropic_client(upstream).messages.stream(model="local-small", max_tokens=10, messages=[USER_TURN]) as stream:
        with pytest.raises(anthropic.APIStatusError) as raised:
            stream.until_done()
    assert raised.value.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


def test_anthropic_accepts_a_bearer_token(upstream: UpstreamServer) -> None:
    client = anthropic.Anthropic(base_url=upstream.urls.anthropic, auth_token=DEFAULT_KEY, max_retries=0)
    assert len(list(client.models.list())) == len(upstream.scenario.models)


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        ("unauthorized", anthropic.AuthenticationError),
        ("not_found", anthropic.NotFoundError),
        ("rate_limited", anthropic.RateLimitError),
        ("server_error", anthropic.InternalServerError),
    ],
)
def test_anthropic_statuses_map_to_the_sdks_errors(
    upstream: UpstreamServer, behaviour: Behaviour, error: type[anthropic.APIStatusError]
) -> None:
    upstream.scenario.behaviour = behaviour
    with pytest.raises(error):
        anthropic_client(upstream).models.list()


def test_anthropic_wrong_key_and_unknown_model(upstream: UpstreamServer) -> None:
    with pytest.raises(anthropic.AuthenticationError) as wrong_key:
        anthropic_client(upstream, key="wrong").models.list()
    assert wrong_key.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
        "request_id": "req_local",
    }
    with pytest.raises(anthropic.NotFoundError):
        anthropic_client(upstream).messages.create(model="nope", max_tokens=10, messages=[USER_TURN])


def test_gemini_lists_models_and_streams_with_usage(upstream: UpstreamServer) -> None:
    client = gemini_client(upstream)
    assert [model.name for model in client.models.list()] == [f"models/{m}" for m in upstream.scenario.models]
    config = genai_types.GenerateContentConfig(system_instruction="Be brief.")
    chunks = list(client.models.generate_content_stream(model="local-small", contents="Say hello to me", config=config))
    assert "".join(chunk.text or "" for chunk in chunks) == upstream.scenario.reply
    usage = chunks[-1].usage_metadata
    assert usage is not None and (usage.prompt_token_count, usage.candidates_token_count) == (
        PROMPT_TOKENS,
        len(reply_pieces(upstream.scenario.reply)),
    )
    whole = client.models.generate_content(model="local-small", contents="Say hello to me")
    assert whole.text == upstream.scenario.reply


def test_gemini_wrong_key_is_invalid_argument_and_missing_model_not_found(upstream: UpstreamServer) -> None:
    wrong_client = gemini_client(upstream, key="wrong")
    with pytest.raises(genai_errors.ClientError) as wrong_key:
        list(wrong_client.models.list())
    assert (wrong_key.value.code, wrong_key.value.status) == (400, "INVALID_ARGUMENT")
    assert "API key not valid" in str(wrong_key.value.message)
    client = gemini_client(upstream)
    with pytest.raises(genai_errors.ClientError) as missing:
        client.models.generate_content(model="nope", contents="hi")
    assert (missing.value.code, missing.value.status) == (404, "NOT_FOUND")


def test_gemini_also_takes_the_key_as_a_query_parameter(upstream: UpstreamServer) -> None:
    assert httpx.get(f"{upstream.urls.gemini}/v1beta/models", params={"key": DEFAULT_KEY}).status_code == 200
    refused = httpx.get(f"{upstream.urls.gemini}/v1beta/models")
    assert (refused.status_code, refused.json()["error"]["status"]) == (403, "PERMISSION_DENIED")


@pytest.mark.parametrize(
    ("behaviour", "error", "code"),
    [("rate_limited", genai_errors.ClientError, 429), ("server_error", genai_errors.ServerError, 500)],
)
def test_gemini_statuses_map_to_the_sdks_errors(
    upstream: UpstreamServer, behaviour: Behaviour, error: type[genai_errors.APIError], code: int
) -> None:
    upstream.scenario.behaviour = behaviour
    client = gemini_client(upstream)
    with pytest.raises(error) as raised:
        list(client.models.list())
    assert raised.value.code == code


def test_ollama_lists_models_and_streams_with_counts(upstream: UpstreamServer) -> None:
    client = ollama.Client(host=upstream.urls.ollama)
    assert [model.model for model in client.list().models] == upstream.scenario.models
    parts = list(client.chat(model="local-small", messages=MESSAGES, stream=True))
    assert "".join(part.message.content or "" for part in parts) == upstream.scenario.reply
    assert parts[-1].done and (parts[-1].prompt_eval_count, parts[-1].eval_count) == (
        PROMPT_TOKENS,
        len(reply_pieces(upstream.scenario.reply)),
    )


def test_ollama_raises_on_an_error_line(upstream: UpstreamServer) -> None:
    upstream.scenario.behaviour = "stream_error"
    with pytest.raises(ollama.ResponseError, match="an error was encountered while running the model"):
        list(ollama.Client(host=upstream.urls.ollama).chat(model="local-small", messages=MESSAGES, stream=True))


def test_ollama_unknown_model_and_forced_errors(upstream: UpstreamServer) -> None:
    client = ollama.Client(host=upstream.urls.ollama)
    with pytest.raises(ollama.ResponseError) as missing:
        client.chat(model="nope", messages=MESSAGES)
    assert missing.value.status_code == 404 and "not found" in missing.value.error
    upstream.scenario.behaviour = "server_error"
    with pytest.raises(ollama.ResponseError) as failed:
        client.list()
    assert failed.value.status_code == 500


def test_refused_connection_is_the_sdks_connection_error(refused_urls: Urls) -> None:
    client = openai.OpenAI(base_url=refused_urls.openai, api_key=DEFAULT_KEY, max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        client.models.list()


def test_openai_reports_cached_and_reasoning_tokens(upstream: UpstreamServer) -> None:
    upstream.scenario.cache_read_tokens = 3
    stream = openai_client(upstream).chat.completions.create(
        model="local-small",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        reasoning_effort="low",
    )
    usage = list(stream)[-1].usage
    assert usage is not None and usage.prompt_tokens_details and usage.completion_tokens_details
    thinking = len(reply_pieces(upstream.scenario.thinking))
    assert (usage.prompt_tokens, usage.prompt_tokens_details.cached_tokens) == (PROMPT_TOKENS, 3)
    assert (usage.completion_tokens, usage.completion_tokens_details.reasoning_tokens) == (
        len(reply_pieces(upstream.scenario.reply)) + thinking,
        thinking,
    )
    assert upstream.scenario.reasoning == ["low"]


def test_openai_refuses_an_unknown_reasoning_effort(upstream: UpstreamServer) -> None:
    with pytest.raises(openai.BadRequestError, match="Invalid value: 'extreme'"):
        openai_client(upstream).chat.completions.create(
            model="local-small",
            messages=MESSAGES,
            reasoning_effort="extreme",  # type: ignore[arg-type]
        )


def test_anthropic_streams_a_signed_thinking_block_and_cache_usage(upstream: UpstreamServer) -> None:
    upstream.scenario.cache_read_tokens, upstream.scenario.cache_write_tokens = 2, 1
    with anthropic_client(upstream).messages.stream(
        model="local-small",
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        system="Be brief.",
        messages=[USER_TURN],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == upstream.scenario.reply
    thinking, answer = final.content
    assert thinking.type == "thinking" and thinking.thinking == upstream.scenario.thinking and thinking.signature
    assert answer.type == "text" and answer.text == upstream.scenario.reply
    usage = final.usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (
        PROMPT_TOKENS - 3,
        2,
        1,
    )
    assert upstream.scenario.reasoning == [{"type": "enabled", "budget_tokens": 1024}]


@pytest.mark.parametrize(("budget", "max_tokens"), [(512, 4096), (4096, 4096)])
def test_anthropic_refuses_a_thinking_budget_it_cannot_take(
    upstream: UpstreamServer, budget: int, max_tokens: int
) -> None:
    with pytest.raises(anthropic.BadRequestError):
        anthropic_client(upstream).messages.create(
            model="local-small",
            max_tokens=max_tokens,
            thinking={"type": "enabled", "budget_tokens": budget},
            messages=[USER_TURN],
        )


def test_gemini_reports_cached_and_thought_tokens(upstream: UpstreamServer) -> None:
    upstream.scenario.cache_read_tokens = 3
    config = genai_types.GenerateContentConfig(thinking_config=genai_types.ThinkingConfig(thinking_budget=1024))
    client = gemini_client(upstream)  # kept: a client that is collected closes its connections
    chunks = list(client.models.generate_content_stream(model="local-small", contents="Say hello to me", config=config))
    assert "".join(chunk.text or "" for chunk in chunks) == upstream.scenario.reply
    usage = chunks[-1].usage_metadata
    assert usage is not None
    assert (usage.cached_content_token_count, usage.thoughts_token_count) == (
        3,
        len(reply_pieces(upstream.scenario.thinking)),
    )
    assert upstream.scenario.reasoning == [{"thinking_budget": 1024}]  # the SDK spells it as the proto does


def test_ollama_streams_thinking_beside_the_answer(upstream: UpstreamServer) -> None:
    client = ollama.Client(host=upstream.urls.ollama)
    parts = list(client.chat(model="local-small", messages=MESSAGES, stream=True, think=True))
    assert "".join(part.message.thinking or "" for part in parts) == upstream.scenario.thinking
    assert "".join(part.message.content or "" for part in parts) == upstream.scenario.reply
    assert upstream.scenario.reasoning == [True]
