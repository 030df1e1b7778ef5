"""The leak scan: search every place a run wrote or sent for secrets, in the forms a leak would take."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import quote


def forms_of(secret: str) -> tuple[bytes, ...]:
    """The secret as it would appear if leaked: plain, URL-quoted, base64 and hex."""
    raw = secret.encode()
    return (raw, quote(secret, safe="").encode(), base64.b64encode(raw), raw.hex().encode())


def files_under(folder: Path) -> dict[str, bytes]:
    """Every file below `folder` (database, WAL, vault, key files), by path."""
    return {str(path): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def find_leaks(places: Mapping[str, bytes], secrets: Iterable[str]) -> list[tuple[str, str]]:
    """(place, last four of the secret) for each place holding any form of any secret."""
    return [
        (place, secret[-4:])
        for secret in secrets
        for place, data in places.items()
        if any(form in data for form in forms_of(secret))
    ]
