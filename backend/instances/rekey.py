"""`switchboard vault rekey`: re-encrypt every credential blob under a new master key, resumable after a crash.

The header first names the new master (`next`); each blob is then rewritten whole under it, so a re-run
skips the blobs already moved; once all are, the event is appended and the header switches to the new master.
A shared vault (PostgreSQL) takes its new master from the setting only: no key file is generated for replicas.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import msgspec

from backend.instances.key_blobs import KeyBlobs
from backend.instances.master_key import (
    KEY_BYTES,
    KdfParams,
    MasterKeys,
    VaultKeyError,
    master_bytes,
    new_kdf,
    pending_key_file,
    read_key_file,
)
from backend.instances.vault import CredentialUnreadable, Vault, keys_for
from backend.instances.vault_header import NextKey, VaultHeader, read_header, save_header, seal, unseal
from backend.private_files import fsync_folder, write_atomically
from backend.secret import Secret
from backend.settings import Settings

NEW_MASTER_VARIABLE = "SWITCHBOARD_NEW_MASTER_KEY"


class Rekeyed(msgspec.Struct, frozen=True, kw_only=True):
    """What a rekey run did; `moved` counts files now under the new key, this run or an interrupted one."""

    moved: int
    unreadable: list[str]
    key_id: str
    previous_key_id: str
    generated: bool


async def reseal_all(settings: Settings, blobs: KeyBlobs, new_setting: Secret | None) -> Rekeyed:
    """Move every readable blob to the new master (from `new_setting`, else a generated key file)."""
    header = await read_header(blobs)
    if header is None:
        raise VaultKeyError(f"no vault header at {blobs.header_shown}: start the server once, then rekey")
    old_keys = keys_for(header, settings.master_key, settings.master_key_file)
    fingerprint_key = unseal(old_keys, header.fingerprint_key, blobs.header_shown)
    header, new_keys = await _with_next(settings, blobs, header, new_setting, old_keys, fingerprint_key)
    old = Vault(blobs, old_keys, fingerprint_key)
    new = Vault(blobs, new_keys, fingerprint_key)
    moved = 0
    unreadable: list[str] = []
    for file in await old.files():
        if file.version is not None and await old.sealed_under(file) == new_keys.key_id:
            moved += 1
            continue
        try:
            secret = await old.load(file.instance_id, file.version) if file.version is not None else None
        except CredentialUnreadable:
            secret = None
        if secret is None:
            unreadable.append(file.name)
            continue
        await new.store(file.instance_id, secret, file.version or 0)
        moved += 1
    return Rekeyed(
        moved=moved, unreadable=unreadable, key_id=new_keys.key_id, previous_key_id=old_keys.key_id,
        generated=new_setting is None,
    )


async def switch_master(settings: Settings, blobs: KeyBlobs, rekeyed: Rekeyed) -> None:
    """Make the new master the vault's: the header names it, and a generated one becomes the key file."""
    header = await read_header(blobs)
    assert header is not None and header.next is not None and header.next.key_id == rekeyed.key_id
    following = header.next
    await save_header(
        blobs,
        msgspec.structs.replace(
            header, key_id=following.key_id, kdf=following.kdf, fingerprint_key=following.fingerprint_key, next=None
        ),
    )
    if settings.master_key_file is None:
        return
    if rekeyed.generated:
        pending_key_file(settings.key_file).replace(settings.key_file)
    else:
        settings.key_file.unlink(missing_ok=True)  # an old key file would only open the old files
    fsync_folder(settings.data_dir)


async def _with_next(
    settings: Settings,
    blobs: KeyBlobs,
    header: VaultHeader,
    new_setting: Secret | None,
    old_keys: MasterKeys,
    fingerprint_key: bytes,
) -> tuple[VaultHeader, MasterKeys]:
    """The header naming the new master: the one an interrupted run wrote, else a new one, saved first."""
    if header.next is not None:
        new_keys = MasterKeys(_new_master(settings.master_key_file, new_setting, header.next.kdf, resuming=True))
        if new_keys.key_id != header.next.key_id:
            raise VaultKeyError(
                f"an interrupted rekey is moving the vault to master key id {header.next.key_id}, and this new key's "
                f"id is {new_keys.key_id}: run it again with the same new key"
            )
        return header, new_keys
    kdf = new_kdf()
    new_keys = MasterKeys(_new_master(settings.master_key_file, new_setting, kdf, resuming=False))
    if new_keys.key_id == old_keys.key_id:
        raise VaultKeyError("the new master key is the current one")
    following = NextKey(key_id=new_keys.key_id, kdf=kdf, fingerprint_key=seal(new_keys, fingerprint_key))
    header = msgspec.structs.replace(header, next=following)
    await save_header(blobs, header)
    return header, new_keys


def _new_master(key_file: Path | None, new_setting: Secret | None, kdf: KdfParams, *, resuming: bool) -> bytes:
    if new_setting is not None:
        return master_bytes(new_setting, kdf, NEW_MASTER_VARIABLE)
    if key_file is None:
        raise VaultKeyError(
            f"{NEW_MASTER_VARIABLE} is not set: a vault in a shared database takes its new master from it "
            "(no key file is generated for replicas)"
        )
    pending = pending_key_file(key_file)
    if resuming:
        try:
            return read_key_file(pending)
        except FileNotFoundError:
            raise VaultKeyError(f"the interrupted rekey's generated key {pending} is gone") from None
    key = secrets.token_bytes(KEY_BYTES)
    write_atomically(pending, base64.b64encode(key) + b"\n")
    return key
