"""Reading catalog data files: one msgspec decode per file, then the provider rules.

A file that cannot be read, decoded or validated is skipped with a warning naming the file
and the reason; it is never rewritten.
"""

from __future__ import annotations

import logging
from pathlib import Path

import msgspec

from backend.catalog.schema import Provider
from backend.catalog.validation import provider_problems

log = logging.getLogger(__name__)
PROVIDER_DECODER = msgspec.json.Decoder(Provider)
SEED_DIR = Path(__file__).resolve().parents[2] / "catalog_seed"


class SeedLoad(msgspec.Struct, frozen=True):
    """The providers read from a folder of data files, and a warning per file skipped."""

    providers: list[Provider]
    warnings: list[str]


def read_provider_file(path: Path) -> Provider:
    """Decode and validate one provider file; ValueError names what is wrong."""
    try:
        provider = PROVIDER_DECODER.decode(path.read_bytes())
    except OSError as error:
        raise ValueError(f"cannot be read: {error.strerror or error}") from error
    except msgspec.DecodeError as error:
        raise ValueError(f"is not a valid provider file: {error}") from error
    problems = provider_problems(provider.id, provider)
    if problems:
        listed = "; ".join(f"{problem.field}: {problem.message}" for problem in problems)
        raise ValueError(f"breaks the provider rules: {listed}")
    return provider


def load_seed(directory: Path = SEED_DIR) -> SeedLoad:
    """Every valid provider file (`*.json`) in `directory`, in file-name order."""
    providers: list[Provider] = []
    warnings: list[str] = []
    seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            provider = read_provider_file(path)
        except ValueError as error:
            warnings.append(f"skipped catalog file {path.name}: {error}")
            continue
        if provider.id in seen:
            warnings.append(
                f"skipped catalog file {path.name}: provider id {provider.id!r} "
                f"is already defined by {seen[provider.id]}"
            )
            continue
        seen[provider.id] = path.name
        providers.append(provider)
    for warning in warnings:
        log.warning("%s", warning)
    return SeedLoad(providers=providers, warnings=warnings)
