"""Size limits of catalog data, so one provider stays a small event (custom, import and refresh alike).

The shipped catalog stays far inside them: its largest provider lists under 300 models,
its longest model id has 62 characters.
"""

from __future__ import annotations

from collections.abc import Iterator

from backend.catalog.schema import Model, ProviderDraft

MAX_MODELS = 2000
MAX_NAME = 200
MAX_MODEL_ID = 128
MAX_ENDPOINT = 2000
MAX_API_KEY_REFERENCE = 200
MAX_HEADERS = 32
MAX_HEADER_NAME = 100
MAX_HEADER_VALUE = 1000
MAX_REASONING_LEVELS = 16
MAX_REASONING_LEVEL = 40


def too_long(text: str, limit: int) -> str | None:
    return f"must be at most {limit:,} characters (it has {len(text):,})" if len(text) > limit else None


def provider_size_problems(draft: ProviderDraft) -> Iterator[tuple[str, str]]:
    """(field, message) for every size limit the provider breaks."""
    texts = (
        ("name", draft.name, MAX_NAME),
        ("api_endpoint", draft.api_endpoint, MAX_ENDPOINT),
        ("api_key", draft.api_key or "", MAX_API_KEY_REFERENCE),
        ("default_large_model_id", draft.default_large_model_id, MAX_MODEL_ID),
        ("default_small_model_id", draft.default_small_model_id, MAX_MODEL_ID),
    )
    yield from _text_problems(texts)
    if len(draft.models) > MAX_MODELS:
        yield "models", f"must list at most {MAX_MODELS:,} models (it lists {len(draft.models):,})"
    if len(draft.default_headers) > MAX_HEADERS:
        yield "default_headers", f"must hold at most {MAX_HEADERS} headers"
        return
    for name, value in draft.default_headers.items():
        yield from _text_problems(
            ((f"default_headers.{name[:MAX_HEADER_NAME]}", name, MAX_HEADER_NAME),
             (f"default_headers.{name[:MAX_HEADER_NAME]}", value, MAX_HEADER_VALUE))
        )


def model_size_problems(model: Model) -> Iterator[tuple[str, str]]:
    """(field relative to the model, message) for every size limit the model breaks."""
    yield from _text_problems(
        (
            ("id", model.id, MAX_MODEL_ID),
            ("name", model.name, MAX_NAME),
            ("default_reasoning_effort", model.default_reasoning_effort or "", MAX_REASONING_LEVEL),
        )
    )
    if len(model.reasoning_levels) > MAX_REASONING_LEVELS:
        yield "reasoning_levels", f"must list at most {MAX_REASONING_LEVELS} levels"
        return
    for index, level in enumerate(model.reasoning_levels):
        yield from _text_problems(((f"reasoning_levels[{index}]", level, MAX_REASONING_LEVEL),))


def _text_problems(texts: tuple[tuple[str, str, int], ...]) -> Iterator[tuple[str, str]]:
    for field, text, limit in texts:
        message = too_long(text, limit)
        if message:
            yield field, message
