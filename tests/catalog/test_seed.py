"""The shipped seed: generated from the reference snapshot, complete, deterministic, fast, and robust to bad files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import msgspec
import pytest

from backend.catalog.build_seed import main as build_seed
from backend.catalog.catwalk import CatwalkProvider, read_cache_prices
from backend.catalog.seed import SEED_DIR, load_seed

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "catalog-reference" / "catwalk"
REF = "v0.52.6 (64dad50ecf880c4cec1b71cfc74e410f8c829a33)"
needs_reference = pytest.mark.skipif(not REFERENCE.is_dir(), reason="reference snapshot not present")


def test_seed_holds_every_provider_and_model() -> None:
    seed = load_seed()
    assert seed.warnings == []
    assert len(seed.providers) == 41
    assert sum(len(provider.models) for provider in seed.providers) == 1534
    assert all(provider.source and provider.as_of == "2026-08-21" for provider in seed.providers)


def test_zero_priced_models_are_never_shown_as_known() -> None:
    models = [model for provider in load_seed().providers for model in provider.models]
    zero = [m for m in models if m.cost_per_1m_in == 0 and m.cost_per_1m_out == 0]
    assert len(zero) == 118
    assert all(m.price_status in ("unknown", "free") for m in zero)
    copilot = next(p for p in load_seed().providers if p.id == "copilot")
    assert {m.price_status for m in copilot.models} == {"unknown"}


@needs_reference
def test_seed_agrees_with_the_reference_files() -> None:
    shipped = {provider.id: provider for provider in load_seed().providers}
    for path in sorted(REFERENCE.glob("*.json")):
        upstream = msgspec.json.decode(path.read_bytes(), type=CatwalkProvider)
        ours = shipped[upstream.id]
        assert [m.id for m in ours.models] == [m.id for m in upstream.models]
        for mine, theirs in zip(ours.models, upstream.models):
            cache = read_cache_prices(
                theirs.cost_per_1m_in, theirs.cost_per_1m_in_cached, theirs.cost_per_1m_out_cached
            )
            assert (mine.cost_per_1m_in, mine.cost_per_1m_out) == (theirs.cost_per_1m_in, theirs.cost_per_1m_out)
            assert (mine.cost_per_1m_cache_write, mine.cost_per_1m_cache_read) == (cache.write, cache.read)
            assert (mine.context_window, mine.default_max_tokens) == (theirs.context_window, theirs.default_max_tokens)


@needs_reference
def test_seed_script_regenerates_the_committed_seed_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "seed"
    args = ["--from", str(REFERENCE), "--as-of", "2026-08-21", "--ref", REF, "--out", str(out)]
    assert build_seed(args) == 0
    first = {path.name: path.read_bytes() for path in out.glob("*.json")}
    assert build_seed(args) == 0
    second = {path.name: path.read_bytes() for path in out.glob("*.json")}
    committed = {path.name: path.read_bytes() for path in SEED_DIR.glob("*.json")}
    assert first == second == committed


def test_seed_records_the_cached_price_and_default_repairs() -> None:
    shipped = {provider.id: provider for provider in load_seed().providers}
    deepseek = shipped["deepseek"].models[0]
    assert (deepseek.cost_per_1m_cache_write, deepseek.cost_per_1m_cache_read) == (0.0, 0.0028)
    assert shipped["deepseek"].notes
    pioneer = shipped["pioneer"]
    assert pioneer.default_large_model_id == "claude-opus-5"
    assert any("not among the models" in note for note in pioneer.notes)


def copy_seed(tmp_path: Path) -> Path:
    folder = tmp_path / "seed"
    shutil.copytree(SEED_DIR, folder)
    return folder


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "is not a valid provider file"),
        (b"[]", "is not a valid provider file"),
        (b'{"id": "x"}', "is not a valid provider file"),
    ],
)
def test_corrupt_file_is_skipped_with_a_warning_and_left_alone(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    folder = copy_seed(tmp_path)
    bad = folder / "zz-broken.json"
    bad.write_bytes(content)
    seed = load_seed(folder)
    assert len(seed.providers) == 41
    assert len(seed.warnings) == 1
    assert "zz-broken.json" in seed.warnings[0] and reason in seed.warnings[0]
    assert bad.read_bytes() == content


def test_file_breaking_the_rules_is_skipped_naming_each_problem(tmp_path: Path) -> None:
    folder = copy_seed(tmp_path)
    path = folder / "deepseek.json"
    data = json.loads(path.read_bytes())
    data["models"][0]["cost_per_1m_in"] = -1
    data["default_small_model_id"] = "missing"
    original = json.dumps(data).encode()
    path.write_bytes(original)
    seed = load_seed(folder)
    assert "deepseek" not in {provider.id for provider in seed.providers}
    (warning,) = seed.warnings
    assert "deepseek.json" in warning
    assert "models[0].cost_per_1m_in: must not be negative" in warning
    assert "default_small_model_id" in warning
    assert path.read_bytes() == original


def test_second_file_with_the_same_provider_id_is_skipped(tmp_path: Path) -> None:
    folder = copy_seed(tmp_path)
    shutil.copy(folder / "openai.json", folder / "openai-copy.json")
    seed = load_seed(folder)
    assert len(seed.providers) == 41
    assert seed.warnings == [
        "skipped catalog file openai.json: provider id 'openai' is already defined by openai-copy.json"
    ]


def test_seed_script_reads_a_catalog_service_too(tmp_path: Path) -> None:
    from backend.catalog.catwalk import to_catwalk
    from tests.catalog.catalog_server import serve_catalog

    served = [msgspec.to_builtins(to_catwalk(p)) for p in load_seed().providers if p.id != "pioneer"]
    out = tmp_path / "seed"
    with serve_catalog(json.dumps(served).encode()) as server:
        assert build_seed(["--url", server.url, "--as-of", "2026-09-01", "--out", str(out)]) == 0
    seed = load_seed(out)
    assert seed.warnings == []
    assert len(seed.providers) == 40
    assert {p.source for p in seed.providers} == {f"{server.url}/v2/providers"}
    assert (out / "bedrock.json").is_file() and not (out / "pioneer.json").exists()
    original = {p.id: p.models for p in load_seed().providers}
    assert all(p.models == original[p.id] for p in seed.providers)
