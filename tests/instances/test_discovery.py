"""Joining catalog models with an endpoint's listing, as a pure function."""

from __future__ import annotations

from backend.catalog.schema import Model
from backend.instances.discovery import join_models


def model(model_id: str) -> Model:
    return Model(id=model_id, name=model_id.title(), cost_per_1m_in=1, cost_per_1m_out=2, context_window=8192, default_max_tokens=1024)


def test_before_any_test_catalog_models_are_untested() -> None:
    joined = join_models([model("a"), model("b")], [], tested=False)
    assert [(m.id, m.availability, m.listed_by_endpoint) for m in joined] == [("a", "untested", False), ("b", "untested", False)]


def test_after_a_test_each_model_is_placed() -> None:
    joined = join_models([model("a"), model("b")], ["z", "a", "y"], tested=True)
    assert [(m.id, m.availability, m.in_catalog) for m in joined] == [
        ("a", "available", True),
        ("b", "not_offered", True),
        ("y", "not_in_catalog", False),
        ("z", "not_in_catalog", False),
    ]


def test_a_local_server_without_catalog_models_shows_what_it_lists() -> None:
    joined = join_models([], ["qwen3:0.6b", "llama3.2:1b"], tested=True)
    assert [(m.id, m.name, m.availability) for m in joined] == [
        ("llama3.2:1b", "llama3.2:1b", "not_in_catalog"),
        ("qwen3:0.6b", "qwen3:0.6b", "not_in_catalog"),
    ]
