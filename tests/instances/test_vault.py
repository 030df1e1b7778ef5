"""The credential vault on real files: encryption, permissions, atomic writes, damaged files, master keys."""

from __future__ import annotations

import stat
from pathlib import Path

import msgspec
import pytest

from backend.instances.vault import CredentialUnreadable, Secret, Vault, VaultKeyError, master_key_bytes

KEY = "sk-live-0123456789abcdefWXYZ"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def vault(tmp_path: Path) -> Vault:
    return Vault.open(tmp_path / "credentials", None, tmp_path / "master.key")


def test_round_trip_and_nothing_plain_on_disk(vault: Vault, tmp_path: Path) -> None:
    vault.store("abc", Secret(KEY), 1)
    loaded = vault.load("abc")
    assert loaded is not None and loaded.secret.reveal() == KEY and loaded.version == 1
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes()


def test_folder_key_file_and_credential_are_private(vault: Vault, tmp_path: Path) -> None:
    vault.store("abc", Secret(KEY), 1)
    assert mode(tmp_path / "credentials") == 0o700
    assert mode(tmp_path / "master.key") == 0o600
    assert mode(vault.path_of("abc")) == 0o600
    assert [p.name for p in (tmp_path / "credentials").iterdir()] == ["abc.cred"]  # no temp file left


def test_key_file_is_made_once_and_reused(tmp_path: Path) -> None:
    first = master_key_bytes(None, tmp_path / "master.key")
    assert master_key_bytes(None, tmp_path / "master.key") == first
    Vault(tmp_path / "c", first).store("abc", Secret(KEY), 1)
    again = Vault.open(tmp_path / "c", None, tmp_path / "master.key").load("abc")
    assert again is not None and again.secret.reveal() == KEY


def test_master_key_from_setting_and_a_different_one_cannot_read(tmp_path: Path) -> None:
    Vault.open(tmp_path / "c", "a-long-master-key-from-env", tmp_path / "unused.key").store("abc", Secret(KEY), 3)
    assert not (tmp_path / "unused.key").exists()
    other = Vault.open(tmp_path / "c", "another-long-master-key!!", tmp_path / "unused.key")
    with pytest.raises(CredentialUnreadable, match="abc.cred.*current master key"):
        other.load("abc")


def test_short_master_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(VaultKeyError):
        Vault.open(tmp_path / "c", "short", tmp_path / "k")


def test_bad_key_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "master.key").write_text("not base64 !!")
    with pytest.raises(VaultKeyError, match="master.key"):
        Vault.open(tmp_path / "c", None, tmp_path / "master.key")


def test_damaged_file_is_named_and_never_overwritten(vault: Vault) -> None:
    vault.store("abc", Secret(KEY), 1)
    path = vault.path_of("abc")
    path.write_bytes(b"{garbage")
    with pytest.raises(CredentialUnreadable, match=str(path)):
        vault.load("abc")
    with pytest.raises(CredentialUnreadable):
        vault.store("abc", Secret("sk-another-key-0000"), 2)
    assert path.read_bytes() == b"{garbage"


def test_tampered_ciphertext_and_swapped_files_are_refused(vault: Vault) -> None:
    vault.store("abc", Secret(KEY), 1)
    vault.store("def", Secret("sk-other-key-99999"), 1)
    body = msgspec.json.decode(vault.path_of("abc").read_bytes())
    vault.path_of("def").write_bytes(vault.path_of("abc").read_bytes())
    with pytest.raises(CredentialUnreadable, match="another instance"):
        vault.load("def")
    body["version"] = 2
    vault.path_of("abc").write_bytes(msgspec.json.encode(body))
    with pytest.raises(CredentialUnreadable, match="decrypt"):
        vault.load("abc")


def test_destroy_and_missing(vault: Vault) -> None:
    assert vault.load("abc") is None
    vault.store("abc", Secret(KEY), 1)
    assert vault.destroy("abc") is True
    assert vault.load("abc") is None and vault.destroy("abc") is False


def test_fingerprint_is_keyed_and_stable(vault: Vault, tmp_path: Path) -> None:
    import hashlib

    fingerprint = vault.fingerprint(Secret(KEY))
    assert fingerprint == vault.fingerprint(Secret(KEY)) and len(fingerprint) == 64
    assert fingerprint != hashlib.sha256(KEY.encode()).hexdigest()
    other = Vault.open(tmp_path / "o", "another-long-master-key!!", tmp_path / "x")
    assert other.fingerprint(Secret(KEY)) != fingerprint


def test_secret_never_shows_itself() -> None:
    secret = Secret(KEY)
    assert KEY not in repr(secret) and KEY not in str(secret) and KEY not in f"{secret}"
    assert secret.last4 == "WXYZ"
    with pytest.raises(TypeError):
        msgspec.json.encode(secret)
