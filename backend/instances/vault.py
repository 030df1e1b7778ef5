"""The credential vault: one AES-GCM encrypted file per instance and key version, outside the event log.

Files are `<data>/credentials/<instance>.v<version>.cred` (folder 0700, files 0600), written atomically; each
names its format version and the id of the master key sealing it. `vault.json` beside them is the header.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidTag

from backend.instances.master_key import (
    FINGERPRINT,
    KEY_BYTES,
    MasterKeys,
    VaultKeyError,
    derive,
    key_file_bytes,
    legacy_master_bytes,
    master_bytes,
    new_kdf,
    pending_key_file,
    read_key_file,
)
from backend.instances.vault_header import VaultHeader, create_header, read_header, unseal
from backend.private_files import fsync_folder, write_atomically
from backend.secret import Secret

__all__ = ["CredentialUnreadable", "Secret", "Vault", "VaultKeyError"]

FILE_FORMAT = "switchboard-credential"
FORMAT_VERSION = 2
NONCE_BYTES = 12
MASTER_VARIABLE = "SWITCHBOARD_MASTER_KEY"
_NAME = re.compile(r"^(?P<instance_id>[^.]+)(?:\.v(?P<version>[0-9]{1,9}))?\.cred$")


class CredentialUnreadable(Exception):
    """A credential file exists but cannot be read or decrypted; it is left as it is."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"credential file {path} cannot be read: {reason}; it was left untouched")
        self.path = path
        self.reason = reason


class KeyFile(msgspec.Struct, frozen=True):
    """A credential file found in the folder; `version` None for a format 1 file (`<instance>.cred`)."""

    instance_id: str
    version: int | None
    path: Path


class Reconciliation(msgspec.Struct, frozen=True):
    """What start-up did: files removed (name, why), and instances whose recorded key has no file."""

    removed: list[tuple[str, str]]
    missing: list[str]


class _CredentialFile(msgspec.Struct, frozen=True, kw_only=True):
    """The on-disk shape: nonce and ciphertext, bound to format, master key id, instance and version."""

    format: str
    format_version: int = 1
    key_id: str = ""
    instance_id: str
    version: int
    nonce: str
    ciphertext: str


_file_decoder = msgspec.json.Decoder(_CredentialFile)


class Vault:
    """Encrypted credentials by instance and version, and the keyed fingerprint that names a key unseen."""

    def __init__(self, folder: Path, keys: MasterKeys, fingerprint_key: bytes) -> None:
        self.folder = folder
        self.keys = keys
        self._fingerprint_key = fingerprint_key
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)

    @classmethod
    def open(cls, folder: Path, header_path: Path, setting: Secret | None, key_file: Path, upgrading: bool) -> Vault:
        """Open with the master from `setting` or the key file; the first start writes the header.

        `upgrading`: the data folder has a log already, so the fingerprint key is the one format 1 derived.
        """
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        header = read_header(header_path)
        keys = None
        if header is None:
            header, keys = _first_header(folder, header_path, setting, key_file, upgrading)
        if header.next is not None:
            raise VaultKeyError(
                f"a vault rekey to master key id {header.next.key_id} was interrupted: "
                "run `switchboard vault rekey` again with the same old and new master keys"
            )
        if keys is None or keys.key_id != header.key_id:
            keys = keys_for(header, setting, key_file)
        return cls(folder, keys, unseal(keys, header.fingerprint_key, header_path))

    def fingerprint(self, secret: Secret) -> str:
        """HMAC-SHA256 of the key under a server key, hex: equal keys match, the key stays hidden."""
        return hmac.new(self._fingerprint_key, secret.reveal().encode(), hashlib.sha256).hexdigest()

    def path_of(self, instance_id: str, version: int) -> Path:
        return self.folder / f"{instance_id}.v{version}.cred"

    def load(self, instance_id: str, version: int) -> Secret | None:
        """That version of the instance's key, None when its file is missing; CredentialUnreadable when damaged."""
        path = self.path_of(instance_id, version)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        body = _decoded(path, raw, instance_id)
        if body.format_version != FORMAT_VERSION or body.version != version:
            raise CredentialUnreadable(path, "its name, format or version do not match its content")
        if body.key_id != self.keys.key_id:
            raise CredentialUnreadable(path, f"it is sealed under another master key (id {body.key_id})")
        return _opened(path, body, self.keys, _associated(body))

    def store(self, instance_id: str, secret: Secret, version: int) -> None:
        """Encrypt and write that version's file atomically (temp file, fsync, rename)."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        body = _CredentialFile(
            format=FILE_FORMAT, format_version=FORMAT_VERSION, key_id=self.keys.key_id,
            instance_id=instance_id, version=version, nonce=base64.b64encode(nonce).decode(), ciphertext="",
        )
        sealed = self.keys.cipher.encrypt(nonce, secret.reveal().encode(), _associated(body))
        body = msgspec.structs.replace(body, ciphertext=base64.b64encode(sealed).decode())
        write_atomically(self.path_of(instance_id, version), msgspec.json.encode(body))

    def exists(self, instance_id: str, highest: int) -> bool:
        """True when any credential file of the instance is present (`highest`: as for `files_of`)."""
        return bool(self.files_of(instance_id, highest))

    def destroy(self, instance_id: str, highest: int, keep: int | None = None) -> bool:
        """Remove the instance's credential files, damaged or not, except version `keep`; True when any went."""
        doomed = [file for file in self.files_of(instance_id, highest) if keep is None or file.version != keep]
        for file in doomed:
            file.path.unlink(missing_ok=True)
        if doomed:
            fsync_folder(self.folder)
        return bool(doomed)

    def files_of(self, instance_id: str, highest: int) -> list[KeyFile]:
        """The instance's credential files, found by their names: its format 1 file and versions 1 to `highest` (the
        highest the log issued) and the one above it, which a write the log never recorded may have left.

        Not a listing of the folder: with every instance's files in it, that cost about 9 ms per 1,000 instances
        on each delete and key change."""
        legacy = KeyFile(instance_id, None, self.folder / f"{instance_id}.cred")
        versions = [KeyFile(instance_id, version, self.path_of(instance_id, version)) for version in range(1, highest + 2)]
        return [file for file in (legacy, *versions) if file.path.exists()]

    def destroy_version(self, instance_id: str, version: int) -> None:
        """Remove one version's file (a write whose event was not appended)."""
        self.path_of(instance_id, version).unlink(missing_ok=True)
        fsync_folder(self.folder)

    def files(self) -> list[KeyFile]:
        return key_files(self.folder)

    def reconcile(self, recorded: Mapping[str, tuple[int | None, int]]) -> Reconciliation:
        """Keep only the file of each live instance's recorded key version; `recorded`: id -> (active, highest)."""
        for temporary in self.folder.glob(".*.tmp"):
            temporary.unlink(missing_ok=True)
        removed: list[tuple[str, str]] = []
        present: set[tuple[str, int]] = set()
        for file in self.files():
            reason = _surplus(file, recorded)
            if reason is None:
                present.add((file.instance_id, file.version or 0))
                continue
            file.path.unlink(missing_ok=True)
            removed.append((file.path.name, reason))
        if removed:
            fsync_folder(self.folder)
        missing = [
            instance_id for instance_id, (active, _) in sorted(recorded.items())
            if active is not None and (instance_id, active) not in present
        ]
        return Reconciliation(removed, missing)

    def upgrade(self, legacy: MasterKeys) -> tuple[int, list[str]]:
        """Re-encrypt format 1 files as format 2 under this vault's master: (count, names left unreadable)."""
        upgraded = 0
        unreadable: list[str] = []
        for file in self.files():
            if file.version is not None:
                continue
            try:
                instance_id, version, secret = _legacy_content(file, legacy)
            except CredentialUnreadable:
                unreadable.append(file.path.name)
                continue
            self.store(instance_id, secret, version)
            file.path.unlink()
            fsync_folder(self.folder)
            upgraded += 1
        return upgraded, unreadable

    def sealed_under(self, file: KeyFile) -> str:
        """The id of the master key a format 2 file is sealed under ('' for format 1 or damaged files)."""
        try:
            return _decoded(file.path, file.path.read_bytes(), file.instance_id).key_id
        except CredentialUnreadable:
            return ""


def key_files(folder: Path) -> list[KeyFile]:
    """The credential files in `folder`, by name."""
    found = []
    for path in sorted(folder.glob("*.cred")):
        match = _NAME.match(path.name)
        if match:
            version = match["version"]
            found.append(KeyFile(match["instance_id"], int(version) if version else None, path))
    return found


def keys_for(header: VaultHeader, setting: Secret | None, key_file: Path) -> MasterKeys:
    """The master's keys, checked against the header: a wrong master key is refused at once."""
    if setting is None:
        master = _key_file_master(header, key_file)
    else:
        master = master_bytes(setting, key_file, header.kdf, MASTER_VARIABLE)
    keys = MasterKeys(master)
    if keys.key_id != header.key_id:
        source = MASTER_VARIABLE if setting is not None else f"the key file {key_file}"
        raise VaultKeyError(
            f"{source} does not open this vault: its files are sealed under master key id {header.key_id}, "
            f"this key's id is {keys.key_id}"
        )
    return keys


def _key_file_master(header: VaultHeader, key_file: Path) -> bytes:
    """The key file's master; a rekey that switched the header but not yet the key file is finished here."""
    try:
        master = read_key_file(key_file)
    except FileNotFoundError:
        raise VaultKeyError(f"no master key: set {MASTER_VARIABLE} or restore the key file {key_file}") from None
    pending = pending_key_file(key_file)
    if MasterKeys(master).key_id != header.key_id and header.next is None and pending.exists():
        generated = read_key_file(pending)
        if MasterKeys(generated).key_id == header.key_id:
            os.replace(pending, key_file)
            fsync_folder(key_file.parent)
            return generated
    return master


def _first_header(
    folder: Path, header_path: Path, setting: Secret | None, key_file: Path, upgrading: bool
) -> tuple[VaultHeader, MasterKeys]:
    """The header of a new vault, or of a format 1 vault opened for the first time by this version."""
    legacy = [file for file in key_files(folder) if file.version is None]
    legacy_keys = MasterKeys(legacy_master_bytes(setting, key_file)) if legacy or upgrading else None
    if legacy and legacy_keys and not any(_legacy_readable(file, legacy_keys) for file in legacy):
        raise VaultKeyError(
            f"none of the {len(legacy)} credential files in {folder} decrypts with this master key: "
            f"start with the {MASTER_VARIABLE} (or key file) they were written under"
        )
    kdf = new_kdf()
    master = key_file_bytes(key_file) if setting is None else master_bytes(setting, key_file, kdf, MASTER_VARIABLE)
    keys = MasterKeys(master)
    if legacy_keys is not None:
        fingerprint_key = derive(legacy_master_bytes(setting, key_file), FINGERPRINT)
    else:
        fingerprint_key = secrets.token_bytes(KEY_BYTES)
    return create_header(header_path, keys, kdf, fingerprint_key), keys


def _legacy_readable(file: KeyFile, legacy: MasterKeys) -> bool:
    try:
        _legacy_content(file, legacy)
    except CredentialUnreadable:
        return False
    return True


def _legacy_content(file: KeyFile, legacy: MasterKeys) -> tuple[str, int, Secret]:
    body = _decoded(file.path, file.path.read_bytes(), file.instance_id)
    if body.format_version != 1:
        raise CredentialUnreadable(file.path, "a format 2 file under a format 1 name")
    associated = f"{FILE_FORMAT}:{body.instance_id}:{body.version}".encode()
    return body.instance_id, body.version, _opened(file.path, body, legacy, associated)


def _surplus(file: KeyFile, recorded: Mapping[str, tuple[int | None, int]]) -> str | None:
    """Why a file must go, or None when it holds a live instance's active key (or awaits the upgrade)."""
    if file.version is None:
        return None
    if file.instance_id not in recorded:
        return "its instance is not in the log"
    active, highest = recorded[file.instance_id]
    if file.version == active:
        return None
    if file.version > highest:
        return "the log never recorded this key version"
    return "the log superseded or removed this key version"


def _decoded(path: Path, raw: bytes, instance_id: str) -> _CredentialFile:
    try:
        body = _file_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise CredentialUnreadable(path, f"not a credential file ({error})") from None
    if body.format != FILE_FORMAT or body.instance_id != instance_id:
        raise CredentialUnreadable(path, "it belongs to another instance or format")
    return body


def _opened(path: Path, body: _CredentialFile, keys: MasterKeys, associated: bytes) -> Secret:
    try:
        nonce = base64.b64decode(body.nonce, validate=True)
        sealed = base64.b64decode(body.ciphertext, validate=True)
        plain = keys.cipher.decrypt(nonce, sealed, associated)
    except (binascii.Error, ValueError, InvalidTag):
        raise CredentialUnreadable(path, "it does not decrypt with the current master key") from None
    return Secret(plain.decode())


def _associated(body: _CredentialFile) -> bytes:
    return f"{FILE_FORMAT}:{body.format_version}:{body.key_id}:{body.instance_id}:{body.version}".encode()
