"""`switchboard vault rekey`: re-encrypt every credential file under a new master key, resumable after a crash.

The header first names the new master (`next`); each file is then rewritten atomically under it, so a re-run
skips the files already moved; once all are, the event is appended and the header switches to the new master.
"""

from __future__ import annotations

import base64
import os
import secrets

import msgspec

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


def reseal_all(settings: Settings, new_setting: Secret | None) -> Rekeyed:
    """Move every readable file to the new master (from `new_setting`, else a generated key file)."""
    header = read_header(settings.vault_header)
    if header is None:
        raise VaultKeyError(f"no vault header at {settings.vault_header}: start the server once, then rekey")
    old_keys = keys_for(header, settings.master_key, settings.key_file)
    fingerprint_key = unseal(old_keys, header.fingerprint_key, settings.vault_header)
    header, new_keys = _with_next(settings, header, new_setting, old_keys, fingerprint_key)
    old = Vault(settings.credentials_dir, old_keys, fingerprint_key)
    new = Vault(settings.credentials_dir, new_keys, fingerprint_key)
    moved = 0
    unreadable: list[str] = []
    for file in old.files():
        if file.version is not None and old.sealed_under(file) == new_keys.key_id:
            moved += 1
            continue
        try:
            secret = old.load(file.instance_id, file.version) if file.version is not None else None
        except CredentialUnreadable:
            secret = None
        if secret is None:
            unreadable.append(file.path.name)
            continue
        new.store(file.instance_id, secret, file.version or 0)
        moved += 1
    return Rekeyed(
        moved=moved, unreadable=unreadable, key_id=new_keys.key_id, previous_key_id=old_keys.key_id,
        generated=new_setting is None,
    )


def switch_master(settings: Settings, rekeyed: Rekeyed) -> None:
    """Make the new master the vault's: the header names it, and a generated one becomes the key file."""
    header = read_header(settings.vault_header)
    assert header is not None and header.next is not None and header.next.key_id == rekeyed.key_id
    following = header.next
    save_header(
        settings.vault_header,
        msgspec.structs.replace(
            header, key_id=following.key_id, kdf=following.kdf, fingerprint_key=following.fingerprint_key, next=None
        ),
    )
    if rekeyed.generated:
        os.replace(pending_key_file(settings.key_file), settings.key_file)
    else:
        settings.key_file.unlink(missing_ok=True)  # an old key file would only open the old files
    fsync_folder(settings.data_dir)


def _with_next(
    settings: Settings, header: VaultHeader, new_setting: Secret | None, old_keys: MasterKeys, fingerprint_key: bytes
) -> tuple[VaultHeader, MasterKeys]:
    """The header naming the new master: the one an interrupted run wrote, else a new one, saved first."""
    if header.next is not None:
        new_keys = MasterKeys(_new_master(settings, new_setting, header.next.kdf, resuming=True))
        if new_keys.key_id != header.next.key_id:
            raise VaultKeyError(
                f"an interrupted rekey is moving the vault to master key id {header.next.key_id}, and this new key's "
                f"id is {new_keys.key_id}: run it again with the same new key"
            )
        return header, new_keys
    kdf = new_kdf()
    new_keys = MasterKeys(_new_master(settings, new_setting, kdf, resuming=False))
    if new_keys.key_id == old_keys.key_id:
        raise VaultKeyError("the new master key is the current one")
    following = NextKey(key_id=new_keys.key_id, kdf=kdf, fingerprint_key=seal(new_keys, fingerprint_key))
    header = msgspec.structs.replace(header, next=following)
    save_header(settings.vault_header, header)
    return header, new_keys


def _new_master(settings: Settings, new_setting: Secret | None, kdf: KdfParams, *, resuming: bool) -> bytes:
    if new_setting is not None:
        return master_bytes(new_setting, settings.key_file, kdf, NEW_MASTER_VARIABLE)
    pending = pending_key_file(settings.key_file)
    if resuming:
        try:
            return read_key_file(pending)
        except FileNotFoundError:
            raise VaultKeyError(f"the interrupted rekey's generated key {pending} is gone") from None
    key = secrets.token_bytes(KEY_BYTES)
    write_atomically(pending, base64.b64encode(key) + b"\n")
    return key
