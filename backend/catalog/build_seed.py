"""Regenerate catalog_seed/ from Catwalk data: a folder of provider files or a catalog service.

    python -m backend.catalog.build_seed --from ../shared/catalog-reference/catwalk \
        --as-of 2026-08-21 --ref "v0.52.6 (64dad50e)"
    python -m backend.catalog.build_seed --url https://catwalk.example.com

The output depends only on the input and the arguments, so a rerun writes the same bytes.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

import httpx
import msgspec

from backend.catalog.catwalk import CatwalkProvider, upstream_provider
from backend.catalog.schema import Provider
from backend.catalog.seed import SEED_DIR
from backend.catalog.validation import provider_problems

CATWALK_FILE = msgspec.json.Decoder(CatwalkProvider)
CATWALK_LIST = msgspec.json.Decoder(list[CatwalkProvider])


def from_folder(folder: Path, ref: str, as_of: str) -> dict[str, Provider]:
    """Providers from Catwalk files, keyed by output file stem (the source file's stem)."""
    out: dict[str, Provider] = {}
    for path in sorted(folder.glob("*.json")):
        source = f"catwalk {ref} internal/providers/configs/{path.name}".replace("  ", " ")
        out[path.stem] = upstream_provider(CATWALK_FILE.decode(path.read_bytes()), source, as_of)
    return out


def from_service(url: str, as_of: str) -> dict[str, Provider]:
    """Providers from a catalog service's `/v2/providers`, keyed by provider id."""
    endpoint = f"{url.rstrip('/')}/v2/providers"
    response = httpx.get(endpoint, timeout=30.0)
    response.raise_for_status()
    listed = CATWALK_LIST.decode(response.content)
    return {item.id: upstream_provider(item, endpoint, as_of) for item in listed}


def encode_provider(provider: Provider) -> bytes:
    return msgspec.json.format(msgspec.json.encode(provider), indent=2) + b"\n"


def write_seed(providers: dict[str, Provider], out: Path) -> list[str]:
    """Write one file per provider and remove provider files no longer produced; returns problems."""
    problems = [
        f"{stem}: {problem.field}: {problem.message}"
        for stem, provider in providers.items()
        for problem in provider_problems(provider.id, provider)
    ]
    if problems:
        return problems
    out.mkdir(parents=True, exist_ok=True)
    for stale in set(out.glob("*.json")) - {out / f"{stem}.json" for stem in providers}:
        stale.unlink()
    for stem, provider in sorted(providers.items()):
        (out / f"{stem}.json").write_bytes(encode_provider(provider))
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from", dest="folder", type=Path, help="folder of Catwalk provider files")
    source.add_argument("--url", help="base URL of a Catwalk-compatible service")
    parser.add_argument("--as-of", help="date the data is current as of (YYYY-MM-DD)")
    parser.add_argument("--ref", default="", help="upstream version named in `source`, for --from")
    parser.add_argument("--out", type=Path, default=SEED_DIR, help="output folder (catalog_seed/)")
    args = parser.parse_args(argv)
    if args.folder is not None and not args.as_of:
        parser.error("--from needs --as-of: the date of the snapshot")
    as_of = args.as_of or datetime.datetime.now(datetime.UTC).date().isoformat()
    datetime.date.fromisoformat(as_of)
    if args.folder is not None:
        providers = from_folder(args.folder, args.ref, as_of)
    else:
        providers = from_service(args.url, as_of)
    problems = write_seed(providers, args.out)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    models = sum(len(provider.models) for provider in providers.values())
    print(f"wrote {len(providers)} providers, {models} models to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
