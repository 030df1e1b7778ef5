"""The vault's master key: a passphrase stretched by scrypt, a `base64:` key used as it is, or the key file.

From the master come, by HKDF, the file encryption key and a key id that names the master without showing it.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from backend.private_files import write_once
from backend.secret import Secret

MIN_PASSPHRASE_CHARS = 16
KEY_BYTES = 32
RAW_PREFIX = "base64:"
ENCRYPTION = b"switchboard credential encryption"
FINGERPRINT = b"switchboard credential fingerprint"
KEY_ID = b"switchboard master key id"


class VaultKeyError(Exception):
    """The master key is missing, too short, malformed, or does not open this vault."""


class KdfParams(msgspec.Struct, frozen=True, kw_only=True):
    """How a passphrase becomes the master key: scrypt with this salt (base64) and cost."""

    name: str = "scrypt"
    salt: str
    n: int = 2**17  # OWASP's minimum for scrypt: 128 MiB and about 0.4 s, once per start
    r: int = 8
    p: int = 1


def new_kdf() -> KdfParams:
    return KdfParams(salt=base64.b64encode(secrets.token_bytes(16)).decode())


def derive(master: bytes, purpose: bytes, length: int = KEY_BYTES) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose).derive(master)


class MasterKeys:
    """The keys one master yields: the file cipher and the master's public id."""

    def __init__(self, master: bytes) -> None:
        self.cipher = AESGCM(derive(master, ENCRYPTION))
        self.key_id = derive(master, KEY_ID, 8).hex()


def master_bytes(setting: Secret, kdf: KdfParams, variable: str) -> bytes:
    """The master from the setting: a `base64:` raw key, or a passphrase through scrypt."""
    value = setting.reveal()
    if value.startswith(RAW_PREFIX):
        return _raw_key(value.removeprefix(RAW_PREFIX), variable)
    if len(value) < MIN_PASSPHRASE_CHARS:
        raise VaultKeyError(f"{variable} must be at least {MIN_PASSPHRASE_CHARS} characters")
    salt = base64.b64decode(kdf.salt)
    return Scrypt(salt=salt, length=KEY_BYTES, n=kdf.n, r=kdf.r, p=kdf.p).derive(value.encode())


def legacy_master_bytes(setting: Secret | None, key_file: Path | None) -> bytes:
    """The master as format 1 used it: the setting's raw bytes, or the key file (none for a shared vault)."""
    if setting is not None:
        return setting.reveal().encode()
    assert key_file is not None
    return key_file_bytes(key_file)


def _raw_key(text: str, variable: str) -> bytes:
    try:
        key = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise VaultKeyError(f"{variable}: the part after {RAW_PREFIX!r} is not base64") from None
    if len(key) != KEY_BYTES:
        raise VaultKeyError(f"{variable}: a {RAW_PREFIX} key must hold {KEY_BYTES} bytes, it holds {len(key)}")
    return key


def key_file_bytes(key_file: Path) -> bytes:
    """The key file's 32 bytes, the file created (0600) with random ones on first start."""
    try:
        return read_key_file(key_file)
    except FileNotFoundError:
        return _create_key_file(key_file)


def pending_key_file(key_file: Path) -> Path:
    """Where a rekey keeps the generated new master until the vault has switched to it."""
    return key_file.with_name(key_file.name + ".new")


def read_key_file(key_file: Path) -> bytes:
    text = key_file.read_text().strip()
    try:
        key = base64.b64decode(text, validate=True)
    except binascii.Error as error:
        raise VaultKeyError(f"key file {key_file} is not base64: {error}") from error
    if len(key) != KEY_BYTES:
        raise VaultKeyError(f"key file {key_file} must hold {KEY_BYTES} bytes, it holds {len(key)}")
    return key


def _create_key_file(key_file: Path) -> bytes:
    key = secrets.token_bytes(KEY_BYTES)
    if not write_once(key_file, base64.b64encode(key) + b"\n"):
        return read_key_file(key_file)  # another process created it first
    return key
