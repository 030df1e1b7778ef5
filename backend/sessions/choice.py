"""The rules for choosing an instance and model (checked when chosen and again at each turn) and for names."""

from __future__ import annotations

from typing import NamedTuple

from backend.catalog.schema import Model
from backend.errors import FieldError
from backend.instances.validation import CONTROL
from backend.instances.view import InstanceRow
from backend.sessions.events import ModelChoice
from backend.sessions.pricing import catalog_model
from backend.sessions.service import Sessions

OFFERED_SHOWN = 20
MAX_NAME = 200
MAX_PROMPT = 100_000
MAX_OUTPUT_TOKENS = 1_000_000


class Chosen(NamedTuple):
    """A valid choice, the instance's row, and the catalog's model (None: listed by the endpoint only)."""

    choice: ModelChoice
    row: InstanceRow
    model: Model | None


def offered(sessions: Sessions, row: InstanceRow) -> list[str]:
    """The models the instance offers: those its endpoint listed at its last successful test, then the catalog's."""
    provider = sessions.catalog.provider(row.instance.provider_id)
    catalog_ids = [model.id for model in provider.models] if provider else []
    return list(dict.fromkeys([*row.model_ids, *catalog_ids]))


async def check_choice(sessions: Sessions, instance_id: str, model_id: str) -> Chosen | list[FieldError]:
    """The choice, or the problems with it: an instance that does not exist (or was deleted), a model it does
    not offer (naming up to 20 it does)."""
    row = await sessions.instances.view.get(sessions.store, instance_id)
    if row is None:
        return [FieldError("instance_id", f"no instance {instance_id!r}: it does not exist or was deleted")]
    models = offered(sessions, row)
    if model_id not in models:
        shown = ", ".join(models[:OFFERED_SHOWN]) or "none yet: test the instance to list its endpoint's models"
        more = f" (and {len(models) - OFFERED_SHOWN} more)" if len(models) > OFFERED_SHOWN else ""
        message = f"instance {row.instance.name!r} does not offer {model_id!r}; it offers: {shown}{more}"
        return [FieldError("model_id", message)]
    provider_id = row.instance.provider_id
    choice = ModelChoice(instance_id=instance_id, provider_id=provider_id, model_id=model_id)
    return Chosen(choice, row, catalog_model(sessions.catalog, provider_id, model_id))


def reasoning_problems(model: Model | None, model_id: str, effort: str | None) -> list[FieldError]:
    """A reasoning level only on a model the catalog says reasons, and one of its levels when it lists them."""
    if effort is None:
        return []
    if model is None or not model.can_reason:
        return [FieldError("reasoning_effort", f"model {model_id!r} has no reasoning levels in the catalog")]
    if model.reasoning_levels and effort not in model.reasoning_levels:
        levels = ", ".join(model.reasoning_levels)
        return [FieldError("reasoning_effort", f"must be one of {levels} for {model_id!r}")]
    return []


def name_problems(name: str, field: str = "name") -> list[FieldError]:
    if not name.strip():
        return [FieldError(field, "must not be empty")]
    if len(name) > MAX_NAME:
        return [FieldError(field, f"must be at most {MAX_NAME} characters")]
    if CONTROL.search(name):
        return [FieldError(field, "must not contain control characters")]
    return []


def prompt_problems(prompt: str) -> list[FieldError]:
    if len(prompt) > MAX_PROMPT:
        return [FieldError("system_prompt", f"must be at most {MAX_PROMPT} characters")]
    return []


def max_tokens_problems(max_tokens: int | None) -> list[FieldError]:
    if max_tokens is not None and not 1 <= max_tokens <= MAX_OUTPUT_TOKENS:
        return [FieldError("max_tokens", f"must be between 1 and {MAX_OUTPUT_TOKENS}")]
    return []
