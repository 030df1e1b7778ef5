"""The credential vault on real files: encryption, permissions, master keys, format upgrade, reconciliation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import stat
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backend.instances.key_blobs import FileBlobs
from backend.instances.master_key import ENCRYPTION, FINGERPRINT, MasterKeys, derive
from backend.instances.vault import CredentialUnreadable, Vault, VaultKeyError
from backend.providers.contract import Connection
from backend.secret import Secret
from backend.settings import Settings
from tests.instances.conftest import key_path, vault_folder

pytestmark = pytest.mark.anyio
KEY = "sk-live-0123456789abcdefWXYZ"
PASSPHRASE = "a-long-master-key-from-env"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def open_vault(tmp_path: Path, setting: str | None = None, upgrading: bool = False) -> Vault:
    blobs = FileBlobs(tmp_path / "credentials", tmp_path / "vault.json", tmp_path / "vault.lock")
    return await Vault.open(blobs, Secret(setting) if setting else None, tmp_path / "master.key", upgrading)


def write_format_1(folder: Path, instance_id: str, version: int, key: str, master: bytes) -> Path:
    """A credential file exactly as the previous release wrote it: HKDF of the raw master, no salt."""
    nonce = secrets.token_bytes(12)
    associated = f"switchboard-credential:{instance_id}:{version}".encode()
    sealed = AESGCM(derive(master, ENCRYPTION)).encrypt(nonce, key.encode(), associated)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / f"{instance_id}.cred"
    body = {
        "format": "switchboard-credential", "instance_id": instance_id, "version": version,
        "nonce": base64.b64encode(nonce).decode(), "ciphertext": base64.b64encode(sealed).decode(),
    }
    path.write_text(json.dumps(body))
    return path


@pytest.fixture
async def vault(tmp_path: Path) -> Vault:
    return await open_vault(tmp_path)


async def test_round_trip_and_nothing_plain_on_disk(vault: Vault, tmp_path: Path) -> None:
    await vault.store("abc", Secret(KEY), 1)
    loaded = await vault.load("abc", 1)
    assert loaded is not None and loaded.reveal() == KEY
    assert await vault.load("abc", 2) is None
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes()


async def test_folder_key_file_header_and_credential_are_private(vault: Vault, tmp_path: Path) -> None:
    await vault.store("abc", Secret(KEY), 1)
    assert mode(tmp_path / "credentials") == 0o700
    assert mode(tmp_path / "master.key") == 0o600 and mode(tmp_path / "vault.json") == 0o600
    assert mode(key_path(vault, "abc", 1)) == 0o600
    assert [p.name for p in (tmp_path / "credentials").iterdir()] == ["abc.v1.cred"]  # no temp file left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["credentials", "master.key", "vault.json"]


async def test_files_name_their_format_and_master_key(vault: Vault) -> None:
    await vault.store("abc", Secret(KEY), 4)
    body = json.loads(key_path(vault, "abc", 4).read_text())
    assert body["format_version"] == 2 and body["key_id"] == vault.keys.key_id and body["version"] == 4


async def test_key_file_is_made_once_and_reused(tmp_path: Path) -> None:
    await (await open_vault(tmp_path)).store("abc", Secret(KEY), 1)
    key = (tmp_path / "master.key").read_bytes()
    assert len(base64.b64decode(key)) == 32
    again = await (await open_vault(tmp_path)).load("abc", 1)
    assert again is not None and again.reveal() == KEY
    assert (tmp_path / "master.key").read_bytes() == key


async def test_a_passphrase_is_stretched_with_a_random_salt(tmp_path: Path) -> None:
    first = await open_vault(tmp_path / "one", PASSPHRASE)
    second = await open_vault(tmp_path / "two", PASSPHRASE)
    assert first.keys.key_id != second.keys.key_id  # same passphrase, different salts
    assert first.keys.key_id != MasterKeys(PASSPHRASE.encode()).key_id  # never the raw passphrase
    header = json.loads((tmp_path / "one" / "vault.json").read_text())
    assert header["kdf"]["name"] == "scrypt" and header["kdf"]["n"] >= 2**15
    assert len(base64.b64decode(header["kdf"]["salt"])) == 16
    assert not (tmp_path / "one" / "master.key").exists()
    await first.store("abc", Secret(KEY), 3)
    reopened = await (await open_vault(tmp_path / "one", PASSPHRASE)).load("abc", 3)
    assert reopened is not None and reopened.reveal() == KEY


async def test_a_different_master_key_is_refused_at_open(tmp_path: Path) -> None:
    await (await open_vault(tmp_path, PASSPHRASE)).store("abc", Secret(KEY), 1)
    with pytest.raises(VaultKeyError, match="does not open this vault"):
        await open_vault(tmp_path, "another-long-master-key!!")
    with pytest.raises(VaultKeyError, match="no master key"):
        await open_vault(tmp_path)  # the key file would be a new key: it is not made
    assert not (tmp_path / "master.key").exists()


async def test_a_base64_master_key_is_used_as_it_is(tmp_path: Path) -> None:
    raw = secrets.token_bytes(32)
    vault = await open_vault(tmp_path, "base64:" + base64.b64encode(raw).decode())
    assert vault.keys.key_id == MasterKeys(raw).key_id


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("short", "at least 16"),
        ("base64:not base64 at all!!", "not base64"),
        ("base64:" + base64.b64encode(b"x" * 16).decode(), "32 bytes"),
    ],
)
async def test_bad_master_keys_are_refused(tmp_path: Path, setting: str, message: str) -> None:
    with pytest.raises(VaultKeyError, match=message):
        await open_vault(tmp_path, setting)
    assert not (tmp_path / "vault.json").exists()


async def test_bad_key_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "master.key").write_text("not base64 !!")
    with pytest.raises(VaultKeyError, match="master.key"):
        await open_vault(tmp_path)


async def test_damaged_file_is_named(vault: Vault) -> None:
    await vault.store("abc", Secret(KEY), 1)
    path = key_path(vault, "abc", 1)
    path.write_bytes(b"{garbage")
    with pytest.raises(CredentialUnreadable, match=str(path)):
        await vault.load("abc", 1)
    assert path.read_bytes() == b"{garbage"


async def test_tampered_ciphertext_and_swapped_files_are_refused(vault: Vault) -> None:
    await vault.store("abc", Secret(KEY), 1)
    await vault.store("def", Secret("sk-other-key-99999"), 1)
    body = msgspec.json.decode(key_path(vault, "abc", 1).read_bytes())
    key_path(vault, "def", 1).write_bytes(key_path(vault, "abc", 1).read_bytes())
    with pytest.raises(CredentialUnreadable, match="another instance"):
        await vault.load("def", 1)
    body["version"] = 2
    key_path(vault, "abc", 2).write_bytes(msgspec.json.encode(body))
    with pytest.raises(CredentialUnreadable, match="decrypt"):
        await vault.load("abc", 2)


async def test_destroy_keeps_only_what_is_asked(vault: Vault) -> None:
    assert await vault.load("abc", 1) is None and not await vault.exists("abc", 0)
    await vault.store("abc", Secret(KEY), 1)
    await vault.store("abc", Secret("sk-the-next-key-0000"), 2)
    await vault.store("abcd", Secret(KEY), 1)
    assert await vault.destroy("abc", 2, keep=2) is True
    assert [(file.instance_id, file.version) for file in await vault.files()] == [("abc", 2), ("abcd", 1)]
    assert await vault.destroy("abc", 2) is True
    assert [file.instance_id for file in await vault.files()] == ["abcd"] and await vault.destroy("abc", 2) is False


async def test_an_instances_files_are_found_by_name_up_to_one_above_the_highest_version(vault: Vault) -> None:
    """Found without listing the folder (one file per instance and version): the format 1 file, each version the
    log issued, and the one above the highest, which a write the log never recorded leaves."""
    legacy = vault_folder(vault) / "abc.cred"
    legacy.write_bytes(b"{}")
    for version in (1, 3, 4):
        await vault.store("abc", Secret(KEY), version)
    await vault.store("abc", Secret(KEY), 9)  # far above anything the log issued: start-up's reconciliation removes it
    assert [file.version for file in await vault.files_of("abc", 3)] == [None, 1, 3, 4]
    assert await vault.exists("abc", 0)  # the format 1 file, or a first key whose append never happened
    assert await vault.destroy("abc", 3) is True
    assert [file.name for file in await vault.files()] == ["abc.v9.cred"]


async def test_fingerprint_is_keyed_and_stable_across_restarts(vault: Vault, tmp_path: Path) -> None:
    fingerprint = vault.fingerprint(Secret(KEY))
    assert fingerprint == vault.fingerprint(Secret(KEY)) and len(fingerprint) == 64
    assert fingerprint != hashlib.sha256(KEY.encode()).hexdigest()
    assert (await open_vault(tmp_path)).fingerprint(Secret(KEY)) == fingerprint
    assert (await open_vault(tmp_path / "other")).fingerprint(Secret(KEY)) != fingerprint


async def test_format_1_files_are_upgraded_and_fingerprints_kept(tmp_path: Path) -> None:
    legacy = write_format_1(tmp_path / "credentials", "abc", 3, KEY, PASSPHRASE.encode())
    vault = await open_vault(tmp_path, PASSPHRASE, upgrading=True)
    count, unreadable = await vault.upgrade(MasterKeys(PASSPHRASE.encode()))
    assert (count, unreadable) == (1, [])
    assert not legacy.exists() and [file.name for file in await vault.files()] == ["abc.v3.cred"]
    loaded = await (await open_vault(tmp_path, PASSPHRASE)).load("abc", 3)
    assert loaded is not None and loaded.reveal() == KEY
    old_fingerprint = hmac.new(derive(PASSPHRASE.encode(), FINGERPRINT), KEY.encode(), hashlib.sha256).hexdigest()
    assert vault.fingerprint(Secret(KEY)) == old_fingerprint  # env import still matches existing instances


async def test_format_1_files_under_another_master_key_refuse_the_start(tmp_path: Path) -> None:
    legacy = write_format_1(tmp_path / "credentials", "abc", 1, KEY, PASSPHRASE.encode())
    with pytest.raises(VaultKeyError, match="none of the 1 credential files"):
        await open_vault(tmp_path, "another-long-master-key!!", upgrading=True)
    assert legacy.exists() and not (tmp_path / "vault.json").exists()


async def test_a_damaged_format_1_file_is_left_beside_good_ones(tmp_path: Path) -> None:
    write_format_1(tmp_path / "credentials", "abc", 1, KEY, PASSPHRASE.encode())
    (tmp_path / "credentials" / "bad.cred").write_bytes(b"{garbage")
    vault = await open_vault(tmp_path, PASSPHRASE, upgrading=True)
    assert await vault.upgrade(MasterKeys(PASSPHRASE.encode())) == (1, ["bad.cred"])
    assert (tmp_path / "credentials" / "bad.cred").exists()


async def test_reconcile_keeps_only_recorded_versions(vault: Vault) -> None:
    for instance_id, version in [("live", 2), ("live", 1), ("live", 3), ("gone", 1), ("lost", 1)]:
        await vault.store(instance_id, Secret(KEY), version)
    (vault_folder(vault) / ".live.v4.cred.1234.tmp").write_bytes(b"x")
    done = await vault.reconcile({"live": (2, 2), "lost": (None, 1), "nofile": (5, 5)})
    assert sorted(done.removed) == [
        ("gone.v1.cred", "its instance is not in the log"),
        ("live.v1.cred", "the log superseded or removed this key version"),
        ("live.v3.cred", "the log never recorded this key version"),
        ("lost.v1.cred", "the log superseded or removed this key version"),
    ]
    assert done.missing == ["nofile"]
    assert [path.name for path in vault_folder(vault).iterdir()] == ["live.v2.cred"]


def test_secret_never_shows_itself() -> None:
    secret = Secret(KEY)
    assert KEY not in repr(secret) and KEY not in str(secret) and KEY not in f"{secret}"
    assert "WXYZ" not in repr(secret)
    assert secret.last4 == "WXYZ" and secret == Secret(KEY) and secret != Secret("other")
    with pytest.raises(TypeError):
        msgspec.json.encode(secret)


def test_settings_and_connection_mask_their_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_MASTER_KEY", PASSPHRASE)
    settings = Settings.from_env()
    assert settings.master_key is not None and settings.master_key.reveal() == PASSPHRASE
    connection = Connection("openai", "http://127.0.0.1:1", api_key=Secret(KEY))
    for shown in (repr(settings), str(settings), repr(connection), str(connection)):
        assert PASSPHRASE not in shown and KEY not in shown and "Secret(" in shown
