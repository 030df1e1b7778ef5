"""Azure OpenAI under /azure: models and deployments' chat completions, api-key header and api-version."""

from tests.upstreams import openai_api
from tests.upstreams.asgi import JsonReply, Reply, Request
from tests.upstreams.dialect import Dialect, route
from tests.upstreams.scenario import Scenario

API_VERSIONS = frozenset(
    {"2024-02-01", "2024-06-01", "2024-10-21", "2024-12-01-preview", "2025-01-01-preview", "2025-04-01-preview"}
)
ERRORS: dict[int, tuple[str, str]] = {  # status: code, usual message
    400: ("BadRequest", "The request is invalid."),
    401: (
        "401",
        "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
        "for an active subscription and use a correct regional API endpoint for your resource.",
    ),
    403: ("403", "Access denied due to Virtual Network/Firewall rules."),
    404: ("404", "Resource not found"),
    408: ("Timeout", "The operation was timeout."),
    429: ("429", "Requests to the ChatCompletions_Create Operation have exceeded the rate limit. Please retry later."),
    500: ("InternalServerError", "The server had an error while processing your request."),
}
DEPLOYMENT_NOT_FOUND = (
    "The API deployment for this resource does not exist. If you created the deployment within the last "
    "5 minutes, please wait a moment and try again."
)


def error(status: int, message: str | None) -> JsonReply:
    code, usual = ERRORS.get(status, ERRORS[500])
    return JsonReply({"error": {"code": code, "message": message or usual}}, status)


def refuse(request: Request, scenario: Scenario) -> JsonReply | None:
    """Azure routes on api-version first: without one the resource is not found; an unknown one is refused."""
    version = request.query.get("api-version")
    if version is None:
        return error(404, None)
    if version not in API_VERSIONS:
        return JsonReply({"error": {"code": "BadRequest", "message": "API version not supported"}}, 400)
    if request.headers.get("api-key") != scenario.key:
        return error(401, None)
    return None


def models(request: Request, params: dict[str, str], scenario: Scenario) -> Reply:
    data = [
        {
            "id": model,
            "object": "model",
            "created_at": 1700000000,
            "status": "succeeded",
            "capabilities": {"chat_completion": True, "completion": False, "embeddings": False},
            "lifecycle_status": "generally-available",
        }
        for model in scenario.models
    ]
    return JsonReply({"object": "list", "data": data})


def chat(request: Request, params: dict[str, str], scenario: Scenario) -> Reply:
    deployment = params["deployment"]
    if deployment not in scenario.models:
        return JsonReply({"error": {"code": "DeploymentNotFound", "message": DEPLOYMENT_NOT_FOUND}}, 404)
    return openai_api.chat_answer(request.json(), deployment, scenario, prompt_filter=True)


DIALECT = Dialect(
    "/azure",
    (
        route("GET", "/openai/models", models),
        route("POST", r"/openai/deployments/(?P<deployment>[^/]+)/chat/completions", chat),
    ),
    refuse,
    error,
)
