"""The vault's header (`<data>/vault.json`, or a row): the passphrase salt, the id of the master key sealing the
credentials, and the fingerprint key.

The fingerprint key is kept sealed under the master, so fingerprints in the log stay valid after a rekey.
During a rekey the header also names the new master (`next`), which makes an interrupted rekey resumable.
"""

from __future__ import annotations

import base64
import binascii
import secrets

import msgspec
from cryptography.exceptions import InvalidTag

from backend.instances.key_blobs import KeyBlobs
from backend.instances.master_key import KdfParams, MasterKeys, VaultKeyError

HEADER_FORMAT = "switchboard-vault"
FORMAT_VERSION = 2
NONCE_BYTES = 12


class Sealed(msgspec.Struct, frozen=True):
    """A value encrypted with a master's file cipher (base64)."""

    nonce: str
    ciphertext: str


class NextKey(msgspec.Struct, frozen=True, kw_only=True):
    """The master a rekey in progress moves the vault to."""

    key_id: str
    kdf: KdfParams
    fingerprint_key: Sealed


class VaultHeader(msgspec.Struct, frozen=True, kw_only=True):
    format: str = HEADER_FORMAT
    format_version: int = FORMAT_VERSION
    key_id: str
    kdf: KdfParams
    fingerprint_key: Sealed
    next: NextKey | None = None


_decoder = msgspec.json.Decoder(VaultHeader)


async def read_header(blobs: KeyBlobs) -> VaultHeader | None:
    """The header, None when the vault has none yet (a new or format 1 vault)."""
    raw = await blobs.read_header()
    if raw is None:
        return None
    try:
        header = _decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise VaultKeyError(f"{blobs.header_shown} is not a vault header ({error}); it was left untouched") from None
    if header.format != HEADER_FORMAT or header.format_version != FORMAT_VERSION:
        raise VaultKeyError(f"{blobs.header_shown} is a vault header of another format; it was left untouched")
    return header


async def create_header(blobs: KeyBlobs, keys: MasterKeys, kdf: KdfParams, fingerprint_key: bytes) -> VaultHeader:
    """Write the first header; when another process wrote one first, that one wins and is answered."""
    header = VaultHeader(key_id=keys.key_id, kdf=kdf, fingerprint_key=seal(keys, fingerprint_key))
    if await blobs.create_header(msgspec.json.encode(header)):
        return header
    existing = await read_header(blobs)
    assert existing is not None
    return existing


async def save_header(blobs: KeyBlobs, header: VaultHeader) -> None:
    await blobs.save_header(msgspec.json.encode(header))


def seal(keys: MasterKeys, value: bytes) -> Sealed:
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = keys.cipher.encrypt(nonce, value, _associated(keys.key_id))
    return Sealed(base64.b64encode(nonce).decode(), base64.b64encode(sealed).decode())


def unseal(keys: MasterKeys, sealed: Sealed, where: str) -> bytes:
    try:
        nonce = base64.b64decode(sealed.nonce, validate=True)
        return keys.cipher.decrypt(nonce, base64.b64decode(sealed.ciphertext, validate=True), _associated(keys.key_id))
    except (binascii.Error, ValueError, InvalidTag):
        raise VaultKeyError(f"the fingerprint key in {where} does not decrypt with the master key") from None


def _associated(key_id: str) -> bytes:
    return f"{HEADER_FORMAT}:fingerprint-key:{key_id}".encode()
