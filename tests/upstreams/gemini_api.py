"""Gemini API under /gemini (v1 and v1beta): GET /models, POST /models/{m}:streamGenerateContent|generateContent."""

from tests.upstreams.asgi import SSE, JsonReply, Reply, Request, StreamReply, sse
from tests.upstreams.dialect import Dialect, route
from tests.upstreams.scenario import Scenario, answer, count_tokens, reply_pieces

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
USUAL_MESSAGES = {
    401: "Request had invalid authentication credentials.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "Resource has been exhausted (e.g. check quota).",
    503: "The model is overloaded. Please try again later.",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
}
KEY_INVALID = {
    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
    "reason": "API_KEY_INVALID",
    "domain": "googleapis.com",
    "metadata": {"service": "generativelanguage.googleapis.com"},
}
UNREGISTERED = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)


def error(status: int, message: str | None, details: list[dict] | None = None) -> JsonReply:
    body: dict = {
        "code": status,
        "message": message or USUAL_MESSAGES.get(status, "Error"),
        "status": STATUS_NAMES.get(status, "UNKNOWN"),
    }
    return JsonReply({"error": {**body, "details": details} if details else body}, status)


def refuse(request: Request, scenario: Scenario) -> JsonReply | None:
    """Gemini: no key is 403 PERMISSION_DENIED; a wrong key is 400 INVALID_ARGUMENT, reason API_KEY_INVALID."""
    key = request.headers.get("x-goog-api-key") or request.query.get("key")
    if key is None:
        return error(403, UNREGISTERED)
    if key != scenario.key:
        return error(400, "API key not valid. Please pass a valid API key.", [KEY_INVALID])
    return None


def models(request: Request, params: dict[str, str], scenario: Scenario) -> Reply:
    data = [
        {
            "name": f"models/{model}",
            "version": "001",
            "displayName": model,
            "description": "A local test model.",
            "inputTokenLimit": 1048576,
            "outputTokenLimit": 8192,
            "supportedGenerationMethods": ["generateContent", "countTokens"],
        }
        for model in scenario.models
    ]
    return JsonReply({"models": data})


def generate(request: Request, params: dict[str, str], scenario: Scenario) -> Reply:
    model, method = params["model"], params["method"]
    if model not in scenario.models:
        return error(
            404,
            f"models/{model} is not found for API version {params['version']}, or is not supported for "
            "generateContent. Call ListModels to see the list of available models and their supported methods.",
        )
    body = request.json()
    config = body.get("generationConfig") or {}
    thinking = config.get("thinkingConfig")
    scenario.reasoning.append(thinking)
    budget = _either(thinking or {}, "thinkingBudget", "thinking_budget", 0)
    if not isinstance(budget, int) or not -1 <= budget <= 32768:
        return error(400, f"The thinking budget {budget} is invalid. Please choose a value between -1 and 32768.")
    contents = [body.get("systemInstruction"), *body.get("contents", [])]
    prompt = count_tokens(*(text for content in contents for text in _texts(content)))
    thoughts = len(reply_pieces(scenario.thinking)) if thinking is not None and budget != 0 else 0
    reply = answer(scenario.reply, config.get("maxOutputTokens"))
    pieces, finish = reply.pieces, "MAX_TOKENS" if reply.cut else "STOP"
    if method == "generateContent":
        return JsonReply(_chunk(model, reply.text, prompt, (len(pieces), thoughts), scenario, finish))
    chunks = [
        _chunk(model, piece, prompt, (index + 1, thoughts), scenario, finish if index == len(pieces) - 1 else None)
        for index, piece in enumerate(pieces)
    ]
    if request.query.get("alt") != "sse":
        return JsonReply(chunks)  # without alt=sse Gemini streams one JSON array
    unavailable = error(503, scenario.error_message or "The model is overloaded. Please try again later.").body
    return StreamReply([sse(chunk, newline="\r\n") for chunk in chunks], SSE, sse(unavailable, newline="\r\n"))


def _chunk(model: str, text: str, prompt: int, output: tuple[int, int], scenario: Scenario, finish: str | None) -> dict:
    """promptTokenCount counts the whole prompt, cached content included; cachedContentTokenCount only when
    some was read; no cache writes are reported. `output` is (answer, thoughts): thoughts are counted apart
    from candidatesTokenCount, and not sent unless asked for (includeThoughts)."""
    answered, thoughts = output
    candidate: dict = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    total = prompt + answered + thoughts
    usage = {"promptTokenCount": prompt, "candidatesTokenCount": answered, "totalTokenCount": total}
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    if scenario.cache_read_tokens:
        usage["cachedContentTokenCount"] = scenario.cache_read_tokens
    return {
        "candidates": [{**candidate, "finishReason": finish} if finish else candidate],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": "local",
    }


def _either(fields: dict, camel: str, snake: str, default: object) -> object:
    """Like Google's JSON parsing, a field may be spelled in camelCase or in its proto snake_case."""
    return fields.get(camel, fields.get(snake, default))


def _texts(content: dict | None) -> list[str]:
    return [part.get("text", "") for part in (content or {}).get("parts", [])]


DIALECT = Dialect(
    "/gemini",
    (
        route("GET", r"/(?P<version>v1|v1beta)/models", models),
        route(
            "POST",
            r"/(?P<version>v1|v1beta)/models/(?P<model>[^/:]+):(?P<method>streamGenerateContent|generateContent)",
            generate,
        ),
    ),
    refuse,
    error,
)
