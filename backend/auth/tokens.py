"""API tokens: their shape, and the keyed hash kept instead of them.

A token is `sbt_` plus 43 URL-safe characters (32 random bytes). Its hash is HMAC-SHA256 under the
server's token key: 32 random bytes in `token.key` in the data folder (0600), made on first use and
independent of the vault's master key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from pathlib import Path

from backend.private_files import write_once

TOKEN_PREFIX = "sbt_"
TOKEN_SHAPE = re.compile(r"sbt_[A-Za-z0-9_-]{43}")
KEY_BYTES = 32
PREFIX_HEX = 8


class BadTokenKey(Exception):
    """The token key file exists but is not 32 bytes."""


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(KEY_BYTES)


def new_token_id() -> str:
    return secrets.token_hex(8)


class TokenKey:
    """The server's key for token hashes; its repr never shows it."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "TokenKey(****)"

    @classmethod
    def load_or_create(cls, path: Path) -> TokenKey:
        """Read the key file, or create it (0600, atomically: two processes end up with the same key)."""
        try:
            key = path.read_bytes()
        except FileNotFoundError:
            key = _create(path)
        if len(key) != KEY_BYTES:
            raise BadTokenKey(f"{path} must hold {KEY_BYTES} bytes; move it away to start over (every token stops working)")
        return cls(key)

    def hash(self, token: str) -> str:
        """The keyed hash of a token, as 64 hex digits."""
        return hmac.new(self._key, token.encode(), hashlib.sha256).hexdigest()


def _create(path: Path) -> bytes:
    """A new random key written once (0600); another process that wrote first wins and its key is read."""
    key = secrets.token_bytes(KEY_BYTES)
    return key if write_once(path, key) else path.read_bytes()
