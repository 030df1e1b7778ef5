"""The hash chain that makes the log tamper-evident, and the report of checking it."""

from __future__ import annotations

import hashlib

import msgspec

GENESIS_HASH = "0" * 64

_encoder = msgspec.json.Encoder()


class VerifyReport(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of recomputing the chain; names the first position where it breaks."""

    ok: bool
    checked: int
    first_bad_position: int | None = None
    reason: str = ""
    head_hash: str = GENESIS_HASH


def event_hash(
    previous_hash: str,
    position: int,
    stream_id: str,
    version: int,
    event_id: str,
    type: str,
    schema_version: int,
    data: str,
    metadata: str,
    recorded_at: str,
) -> str:
    """sha256 over one row's content and the previous row's hash, as hex."""
    content = (
        position,
        stream_id,
        version,
        event_id,
        type,
        schema_version,
        data,
        metadata,
        recorded_at,
        previous_hash,
    )
    return hashlib.sha256(_encoder.encode(content)).hexdigest()
