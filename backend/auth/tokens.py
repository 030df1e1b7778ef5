"""API tokens: their shape, and the keyed hash kept instead of them.

A token is `sbt_` plus 43 URL-safe characters (32 random bytes). Its hash is HMAC-SHA256 under the
server's token key: 32 random bytes in `token.key` in the data folder (0600), made on first use and
independent of the vault's master key. With a log shared by replicas the key is a row instead, sealed
under a key from the vault, so a token issued through one replica is known to all.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backend.private_files import write_once

TOKEN_PREFIX = "sbt_"
TOKEN_SHAPE = re.compile(r"sbt_[A-Za-z0-9_-]{43}")
KEY_BYTES = 32
PREFIX_HEX = 8
NONCE_BYTES = 12
SHARED_KEY_ROW = "token-key"
SEALING_PURPOSE = b"switchboard token key sealing"
"""What the vault derives the key sealing the shared token key for (`Vault.derived_key`)."""


class BadTokenKey(Exception):
    """The token key file exists but is not 32 bytes, or the shared one does not unseal."""


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


class SecretRows(Protocol):
    """Rows of sealed server secrets shared by replicas, each created once."""

    async def read_secret(self, name: str) -> bytes | None: ...

    async def create_secret(self, name: str, body: bytes) -> bool: ...


async def shared_token_key(rows: SecretRows, sealing_key: bytes) -> TokenKey:
    """The token key every replica uses: the first to start seals a new one into the row (kept when another
    replica's row came first) and every replica reads back the row that stands."""
    cipher = AESGCM(sealing_key)
    associated = SHARED_KEY_ROW.encode()
    nonce = secrets.token_bytes(NONCE_BYTES)
    await rows.create_secret(SHARED_KEY_ROW, nonce + cipher.encrypt(nonce, secrets.token_bytes(KEY_BYTES), associated))
    sealed = await rows.read_secret(SHARED_KEY_ROW)
    assert sealed is not None  # written just now or before, and never deleted
    try:
        key = cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)
    except InvalidTag:
        raise BadTokenKey(
            f"the shared token key (row {SHARED_KEY_ROW!r} of server_secrets) does not unseal with this vault's keys"
        ) from None
    return TokenKey(key)


def _create(path: Path) -> bytes:
    """A new random key written once (0600); another process that wrote first wins and its key is read."""
    key = secrets.token_bytes(KEY_BYTES)
    return key if write_once(path, key) else path.read_bytes()
