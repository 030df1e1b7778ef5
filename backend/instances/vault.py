"""The credential vault: each instance's key, one AES-GCM sealed blob per key version, outside the event log.

Blobs are named `<instance>.v<version>.cred`; each names its format version and the id of the master key sealing
it. Where they live is a `KeyBlobs`: files in `<data>/credentials` (folder 0700, files 0600, written atomically)
beside the header `vault.json`, or a PostgreSQL table shared by replicas.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from pathlib import Path

import anyio
import msgspec
from cryptography.exceptions import InvalidTag

from backend.instances.key_blobs import KeyBlobs, StoredBlob
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
from backend.private_files import fsync_folder
from backend.secret import Secret

__all__ = ["CredentialUnreadable", "Secret", "Vault", "VaultKeyError"]

FILE_FORMAT = "switchboard-credential"
FORMAT_VERSION = 2
NONCE_BYTES = 12
MASTER_VARIABLE = "SWITCHBOARD_MASTER_KEY"
_NAME = re.compile(r"^(?P<instance_id>[^.]+)(?:\.v(?P<version>[0-9]{1,9}))?\.cred$")


class CredentialUnreadable(Exception):
    """A credential blob exists but cannot be read or decrypted; it is left as it is."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where} cannot be read: {reason}; it was left untouched")
        self.where = where
        self.reason = reason


class KeyFile(msgspec.Struct, frozen=True):
    """A credential blob found by name; `version` None for a format 1 file (`<instance>.cred`)."""

    instance_id: str
    version: int | None
    name: str


class Reconciliation(msgspec.Struct, frozen=True):
    """What start-up did: blobs removed (name, why), and instances whose recorded key has no blob."""

    removed: list[tuple[str, str]]
    missing: list[str]


class _CredentialFile(msgspec.Struct, frozen=True, kw_only=True):
    """The stored shape: nonce and ciphertext, bound to format, master key id, instance and version."""

    format: str
    format_version: int = 1
    key_id: str = ""
    instance_id: str
    version: int
    nonce: str
    ciphertext: str


_file_decoder = msgspec.json.Decoder(_CredentialFile)


def name_of(instance_id: str, version: int | None) -> str:
    """The blob name of that key version; None names the format 1 file."""
    return f"{instance_id}.cred" if version is None else f"{instance_id}.v{version}.cred"


class Vault:
    """Encrypted credentials by instance and version, and the keyed fingerprint that names a key unseen."""

    def __init__(self, blobs: KeyBlobs, keys: MasterKeys, fingerprint_key: bytes) -> None:
        self.blobs = blobs
        self.keys = keys
        self._fingerprint_key = fingerprint_key

    @classmethod
    async def open(cls, blobs: KeyBlobs, setting: Secret | None, key_file: Path | None, upgrading: bool) -> Vault:
        """Open with the master from `setting` or the key file; the first start writes the header.

        `key_file` None: the vault is shared by replicas, so the master must be given (no key file is made).
        `upgrading`: the data folder has a log already, so the fingerprint key is the one format 1 derived.
        """
        if key_file is None and setting is None:
            raise VaultKeyError(
                f"{MASTER_VARIABLE} is not set: with the log in a shared database every replica needs the same "
                "master key, so none is generated; set it to the same value on every replica"
            )
        header = await read_header(blobs)
        keys = None
        if header is None:
            header, keys = await _first_header(blobs, setting, key_file, upgrading)
        if header.next is not None:
            raise VaultKeyError(
                f"a vault rekey to master key id {header.next.key_id} was interrupted: "
                "run `switchboard vault rekey` again with the same old and new master keys"
            )
        if keys is None or keys.key_id != header.key_id:
            keys = keys_for(header, setting, key_file)
        return cls(blobs, keys, unseal(keys, header.fingerprint_key, blobs.header_shown))

    def fingerprint(self, secret: Secret) -> str:
        """HMAC-SHA256 of the key under a server key, hex: equal keys match, the key stays hidden."""
        return hmac.new(self._fingerprint_key, secret.reveal().encode(), hashlib.sha256).hexdigest()

    def derived_key(self, purpose: bytes) -> bytes:
        """A key for another server secret, derived from the fingerprint key: it is sealed under the master in the
        header, and a rekey carries it over to the new master, so what it seals outlives rekeys unchanged."""
        return derive(self._fingerprint_key, purpose)

    async def load(self, instance_id: str, version: int) -> Secret | None:
        """That version of the instance's key, None when its blob is missing; CredentialUnreadable when damaged."""
        name = name_of(instance_id, version)
        raw = await self.blobs.read(name)
        if raw is None:
            return None
        where = self.blobs.shown(name)
        body = _decoded(where, raw, instance_id)
        if body.format_version != FORMAT_VERSION or body.version != version:
            raise CredentialUnreadable(where, "its name, format or version do not match its content")
        if body.key_id != self.keys.key_id:
            raise CredentialUnreadable(where, f"it is sealed under another master key (id {body.key_id})")
        return _opened(where, body, self.keys, _associated(body))

    async def store(self, instance_id: str, secret: Secret, version: int) -> None:
        """Encrypt and write that version's blob, whole or not at all."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        body = _CredentialFile(
            format=FILE_FORMAT, format_version=FORMAT_VERSION, key_id=self.keys.key_id,
            instance_id=instance_id, version=version, nonce=base64.b64encode(nonce).decode(), ciphertext="",
        )
        sealed = self.keys.cipher.encrypt(nonce, secret.reveal().encode(), _associated(body))
        body = msgspec.structs.replace(body, ciphertext=base64.b64encode(sealed).decode())
        await self.blobs.write(name_of(instance_id, version), msgspec.json.encode(body))

    async def exists(self, instance_id: str, highest: int) -> bool:
        """True when any credential blob of the instance is present (`highest`: as for `files_of`)."""
        return bool(await self.files_of(instance_id, highest))

    async def destroy(self, instance_id: str, highest: int, keep: int | None = None) -> bool:
        """Remove the instance's credential blobs, damaged or not, except version `keep`; True when any went."""
        doomed = [file.name for file in await self.files_of(instance_id, highest) if keep is None or file.version != keep]
        if doomed:
            await self.blobs.delete(doomed)
        return bool(doomed)

    async def files_of(self, instance_id: str, highest: int) -> list[KeyFile]:
        """The instance's credential blobs, found by their names: its format 1 file and versions 1 to `highest` (the
        highest the log issued) and the one above it, which a write the log never recorded may have left."""
        candidates = [KeyFile(instance_id, None, name_of(instance_id, None))] + [
            KeyFile(instance_id, version, name_of(instance_id, version)) for version in range(1, highest + 2)
        ]
        present = set(await self.blobs.present([file.name for file in candidates]))
        return [file for file in candidates if file.name in present]

    async def destroy_version(self, instance_id: str, version: int) -> None:
        """Remove one version's blob (a write whose event was not appended)."""
        await self.blobs.delete([name_of(instance_id, version)])

    async def files(self) -> list[KeyFile]:
        return [file for file, _ in await listed(self.blobs)]

    async def reconcile(self, recorded: Mapping[str, tuple[int | None, int]]) -> Reconciliation:
        """Keep only the blob of each live instance's recorded key version; `recorded`: id -> (active, highest).

        Call it with `recorded` read before the listing. A blob the log does not account for (its instance unknown,
        or its version above the highest recorded) may be another replica's write whose append is still on its way,
        so on shared storage it goes only once settled; a version the log superseded or removed goes at once.
        """
        await self.blobs.clear_leftovers()
        removed: list[tuple[str, str]] = []
        present: set[tuple[str, int]] = set()
        for file, settled in await listed(self.blobs):
            reason = _surplus(file, recorded, settled or not self.blobs.shared)
            if reason is None:
                present.add((file.instance_id, file.version or 0))
                continue
            removed.append((file.name, reason))
        if removed:
            await self.blobs.delete([name for name, _ in removed])
        missing = [
            instance_id for instance_id, (active, _) in sorted(recorded.items())
            if active is not None and (instance_id, active) not in present
        ]
        return Reconciliation(removed, missing)

    async def upgrade(self, legacy: MasterKeys) -> tuple[int, list[str]]:
        """Re-encrypt format 1 files as format 2 under this vault's master: (count, names left unreadable)."""
        upgraded = 0
        unreadable: list[str] = []
        for file in await self.files():
            if file.version is not None:
                continue
            try:
                instance_id, version, secret = await _legacy_content(self.blobs, file, legacy)
            except CredentialUnreadable:
                unreadable.append(file.name)
                continue
            await self.store(instance_id, secret, version)
            await self.blobs.delete([file.name])
            upgraded += 1
        return upgraded, unreadable

    async def sealed_under(self, file: KeyFile) -> str:
        """The id of the master key a format 2 blob is sealed under ('' for format 1, damaged or gone blobs)."""
        raw = await self.blobs.read(file.name)
        try:
            return _decoded(self.blobs.shown(file.name), raw or b"", file.instance_id).key_id
        except CredentialUnreadable:
            return ""


async def listed(blobs: KeyBlobs) -> list[tuple[KeyFile, bool]]:
    """Every credential blob, by name, with whether it is settled (see `StoredBlob`)."""
    return [(file, stored.settled) for stored in await blobs.listing() if (file := _key_file(stored))]


def _key_file(stored: StoredBlob) -> KeyFile | None:
    match = _NAME.match(stored.name)
    if match is None:
        return None
    version = match["version"]
    return KeyFile(match["instance_id"], int(version) if version else None, stored.name)


def keys_for(header: VaultHeader, setting: Secret | None, key_file: Path | None) -> MasterKeys:
    """The master's keys, checked against the header: a wrong master key is refused at once."""
    if setting is None:
        assert key_file is not None  # a shared vault is opened only with the setting
        master = _key_file_master(header, key_file)
    else:
        master = master_bytes(setting, header.kdf, MASTER_VARIABLE)
    keys = MasterKeys(master)
    if keys.key_id != header.key_id:
        source = MASTER_VARIABLE if setting is not None else f"the key file {key_file}"
        raise VaultKeyError(
            f"{source} does not open this vault: its credentials are sealed under master key id {header.key_id}, "
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
            pending.replace(key_file)
            fsync_folder(key_file.parent)
            return generated
    return master


async def _first_header(
    blobs: KeyBlobs, setting: Secret | None, key_file: Path | None, upgrading: bool
) -> tuple[VaultHeader, MasterKeys]:
    """The header of a new vault, or of a format 1 vault opened for the first time by this version."""
    legacy = [file for file, _ in await listed(blobs) if file.version is None]
    legacy_keys = MasterKeys(legacy_master_bytes(setting, key_file)) if legacy or upgrading else None
    if legacy and legacy_keys and not any([await _legacy_readable(blobs, file, legacy_keys) for file in legacy]):
        raise VaultKeyError(
            f"none of the {len(legacy)} credential files decrypts with this master key "
            f"({', '.join(blobs.shown(file.name) for file in legacy[:3])}): "
            f"start with the {MASTER_VARIABLE} (or key file) they were written under"
        )
    kdf = new_kdf()
    if setting is None:
        assert key_file is not None
        master = await anyio.to_thread.run_sync(key_file_bytes, key_file)
    else:
        master = master_bytes(setting, kdf, MASTER_VARIABLE)
    keys = MasterKeys(master)
    if legacy_keys is not None:
        fingerprint_key = derive(legacy_master_bytes(setting, key_file), FINGERPRINT)
    else:
        fingerprint_key = secrets.token_bytes(KEY_BYTES)
    return await create_header(blobs, keys, kdf, fingerprint_key), keys


async def _legacy_readable(blobs: KeyBlobs, file: KeyFile, legacy: MasterKeys) -> bool:
    try:
        await _legacy_content(blobs, file, legacy)
    except CredentialUnreadable:
        return False
    return True


async def _legacy_content(blobs: KeyBlobs, file: KeyFile, legacy: MasterKeys) -> tuple[str, int, Secret]:
    where = blobs.shown(file.name)
    body = _decoded(where, await blobs.read(file.name) or b"", file.instance_id)
    if body.format_version != 1:
        raise CredentialUnreadable(where, "a format 2 file under a format 1 name")
    associated = f"{FILE_FORMAT}:{body.instance_id}:{body.version}".encode()
    return body.instance_id, body.version, _opened(where, body, legacy, associated)


def _surplus(file: KeyFile, recorded: Mapping[str, tuple[int | None, int]], settled: bool) -> str | None:
    """Why a blob must go, or None when it holds a live instance's active key, awaits the upgrade, or may be a write
    whose append is on its way (not `settled`)."""
    if file.version is None:
        return None
    if file.instance_id not in recorded:
        return "its instance is not in the log" if settled else None
    active, highest = recorded[file.instance_id]
    if file.version == active:
        return None
    if file.version > highest:
        return "the log never recorded this key version" if settled else None
    return "the log superseded or removed this key version"


def _decoded(where: str, raw: bytes, instance_id: str) -> _CredentialFile:
    try:
        body = _file_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise CredentialUnreadable(where, f"not a credential file ({error})") from None
    if body.format != FILE_FORMAT or body.instance_id != instance_id:
        raise CredentialUnreadable(where, "it belongs to another instance or format")
    return body


def _opened(where: str, body: _CredentialFile, keys: MasterKeys, associated: bytes) -> Secret:
    try:
        nonce = base64.b64decode(body.nonce, validate=True)
        sealed = base64.b64decode(body.ciphertext, validate=True)
        plain = keys.cipher.decrypt(nonce, sealed, associated)
    except (binascii.Error, ValueError, InvalidTag):
        raise CredentialUnreadable(where, "it does not decrypt with the current master key") from None
    return Secret(plain.decode())


def _associated(body: _CredentialFile) -> bytes:
    return f"{FILE_FORMAT}:{body.format_version}:{body.key_id}:{body.instance_id}:{body.version}".encode()
