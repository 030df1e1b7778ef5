"""Which models an instance really offers: the catalog's models joined with the endpoint's last listing."""

from __future__ import annotations

from backend.catalog.schema import Model
from backend.errors import Conflict, FieldError, ValidationFailed
from backend.instances.connection import provider_of
from backend.instances.schemas import AddModel, InstanceModel, InstanceModels, ModelAvailability
from backend.instances.service import Instances
from backend.instances.view import InstanceView
from events import Metadata


def join_models(catalog_models: list[Model], listed: list[str], tested: bool) -> list[InstanceModel]:
    """Catalog models first (available, not offered by the endpoint, or untested before any
    successful test), then the listed models the catalog does not know, by id."""
    offered = set(listed)
    known = {model.id for model in catalog_models}
    joined = [
        InstanceModel(
            id=model.id,
            name=model.name,
            availability=_availability(model.id in offered, tested),
            in_catalog=True,
            listed_by_endpoint=model.id in offered,
        )
        for model in catalog_models
    ]
    joined += [
        InstanceModel(id=model_id, name=model_id, availability="not_in_catalog", in_catalog=False, listed_by_endpoint=True)
        for model_id in sorted(offered - known)
    ]
    return joined


def _availability(offered: bool, tested: bool) -> ModelAvailability:
    if offered:
        return "available"
    return "not_offered" if tested else "untested"


def was_listed(instance: InstanceView) -> bool:
    """True once a connection test succeeded, so the endpoint's own list is known."""
    return instance.model_count is not None


async def instance_models(instances: Instances, instance_id: str) -> InstanceModels:
    row = await instances.row(instance_id)
    provider = provider_of(instances, row.instance)
    tested = was_listed(row.instance)
    return InstanceModels(
        instance_id=instance_id,
        provider_id=provider.id,
        tested=tested,
        models=join_models(provider.models, row.model_ids, tested),
        add_model_path=f"/api/v1/instances/{instance_id}/models",
    )


async def add_listed_model(
    instances: Instances, instance_id: str, command: AddModel, metadata: Metadata
) -> InstanceModels:
    """Add a model the endpoint listed to the instance's provider (a shipped one gets a custom override)."""
    row = await instances.row(instance_id)
    provider = provider_of(instances, row.instance)
    if command.model_id not in row.model_ids:
        raise ValidationFailed(
            "the model was not added", [FieldError("model_id", "the endpoint did not list it at the last successful test")]
        )
    if any(model.id == command.model_id for model in provider.models):
        raise Conflict(f"provider {provider.id} already has model {command.model_id!r}")
    model = Model(
        id=command.model_id,
        name=command.name.strip() or command.model_id,
        cost_per_1m_in=0.0,
        cost_per_1m_out=0.0,
        price_status="unknown",
        context_window=command.context_window,
        default_max_tokens=command.default_max_tokens,
    )
    await instances.catalog.add_model(provider.id, model, metadata)
    return await instance_models(instances, instance_id)
