"""The credential vault: one AES-GCM encrypted file per instance, outside the event log.

Files live in `<data>/credentials/` (folder 0700, files 0600) and are replaced atomically.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FILE_FORMAT = "switchboard-credential"
MIN_MASTER_KEY_CHARS = 16
NONCE_BYTES = 12


class Secret:
    """A credential in memory; its repr and str never show it, and msgspec refuses to encode it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    @property
    def last4(self) -> str:
        return self._value[-4:]

    def __repr__(self) -> str:
        return f"Secret('…{self.last4}')"

    __str__ = __repr__


class VaultKeyError(Exception):
    """The master key is missing, too short, or its key file is unreadable."""


class CredentialUnreadable(Exception):
    """A credential file exists but cannot be read or decrypted; it is left as it is."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"credential file {path} cannot be read: {reason}; it was left untouched")
        self.path = path
        self.reason = reason


class StoredCredential(msgspec.Struct, frozen=True):
    """A decrypted credential and the version it was stored under."""

    secret: Secret
    version: int


class _CredentialFile(msgspec.Struct, frozen=True, kw_only=True):
    """The on-disk shape: nonce and ciphertext, bound to the instance and version as associated data."""

    format: str
    instance_id: str
    version: int
    nonce: str
    ciphertext: str


_file_decoder = msgspec.json.Decoder(_CredentialFile)


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master)


def master_key_bytes(master_key: str | None, key_file: Path) -> bytes:
    """The master key from the setting when given, else from the key file, created (0600) on first start."""
    if master_key is not None:
        if len(master_key) < MIN_MASTER_KEY_CHARS:
            raise VaultKeyError(f"SWITCHBOARD_MASTER_KEY must be at least {MIN_MASTER_KEY_CHARS} characters")
        return master_key.encode()
    try:
        return _read_key_file(key_file)
    except FileNotFoundError:
        return _create_key_file(key_file)


def _read_key_file(key_file: Path) -> bytes:
    text = key_file.read_text().strip()
    try:
        key = base64.b64decode(text, validate=True)
    except binascii.Error as error:
        raise VaultKeyError(f"key file {key_file} is not base64: {error}") from error
    if len(key) != 32:
        raise VaultKeyError(f"key file {key_file} must hold 32 bytes, it holds {len(key)}")
    return key


def _create_key_file(key_file: Path) -> bytes:
    key = secrets.token_bytes(32)
    key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        descriptor = os.open(key_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return _read_key_file(key_file)  # another process created it first
    with os.fdopen(descriptor, "wb") as file:
        file.write(base64.b64encode(key) + b"\n")
        file.flush()
        os.fsync(file.fileno())
    _fsync_folder(key_file.parent)
    return key


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class Vault:
    """Encrypted credentials by instance id, and the keyed fingerprint that names a key without showing it."""

    def __init__(self, folder: Path, master: bytes) -> None:
        self.folder = folder
        self._cipher = AESGCM(_derive(master, b"switchboard credential encryption"))
        self._fingerprint_key = _derive(master, b"switchboard credential fingerprint")
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)

    @classmethod
    def open(cls, folder: Path, master_key: str | None, key_file: Path) -> Vault:
        return cls(folder, master_key_bytes(master_key, key_file))

    def fingerprint(self, secret: Secret) -> str:
        """HMAC-SHA256 of the key under a server key, hex: equal keys match, the key stays hidden."""
        return hmac.new(self._fingerprint_key, secret.reveal().encode(), hashlib.sha256).hexdigest()

    def path_of(self, instance_id: str) -> Path:
        return self.folder / f"{instance_id}.cred"

    def load(self, instance_id: str) -> StoredCredential | None:
        """The instance's credential, None when it has none; CredentialUnreadable when its file is damaged."""
        path = self.path_of(instance_id)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        return self._decrypt(path, instance_id, raw)

    def store(self, instance_id: str, secret: Secret, version: int) -> None:
        """Encrypt and write atomically (temp file, fsync, rename); refuses to replace a damaged file."""
        self.load(instance_id)
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._cipher.encrypt(nonce, secret.reveal().encode(), _associated(instance_id, version))
        body = _CredentialFile(
            format=FILE_FORMAT,
            instance_id=instance_id,
            version=version,
            nonce=base64.b64encode(nonce).decode(),
            ciphertext=base64.b64encode(sealed).decode(),
        )
        self._write_atomically(self.path_of(instance_id), msgspec.json.encode(body))

    def destroy(self, instance_id: str) -> bool:
        """Remove the instance's credential file, damaged or not; True when there was one."""
        try:
            self.path_of(instance_id).unlink()
        except FileNotFoundError:
            return False
        _fsync_folder(self.folder)
        return True

    def sweep(self, keep: set[str]) -> list[str]:
        """Destroy every credential file of an instance not in `keep`, and temp files of interrupted writes."""
        for temporary in self.folder.glob(".*.tmp"):
            temporary.unlink(missing_ok=True)
        orphans = sorted(path.stem for path in self.folder.glob("*.cred") if path.stem not in keep)
        for instance_id in orphans:
            self.destroy(instance_id)
        return orphans

    def _decrypt(self, path: Path, instance_id: str, raw: bytes) -> StoredCredential:
        try:
            body = _file_decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise CredentialUnreadable(path, f"not a credential file ({error})") from None
        if body.format != FILE_FORMAT or body.instance_id != instance_id:
            raise CredentialUnreadable(path, "it belongs to another instance or format")
        try:
            nonce = base64.b64decode(body.nonce, validate=True)
            sealed = base64.b64decode(body.ciphertext, validate=True)
            plain = self._cipher.decrypt(nonce, sealed, _associated(instance_id, body.version))
        except (binascii.Error, ValueError, InvalidTag):
            raise CredentialUnreadable(path, "it does not decrypt with the current master key") from None
        return StoredCredential(Secret(plain.decode()), body.version)

    def _write_atomically(self, path: Path, content: bytes) -> None:
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        descriptor = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        _fsync_folder(self.folder)


def _associated(instance_id: str, version: int) -> bytes:
    return f"{FILE_FORMAT}:{instance_id}:{version}".encode()
