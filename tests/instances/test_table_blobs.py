"""The vault kept in PostgreSQL for replicas: keys, header and token key shared through tables, on a real server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from backend.auth.tokens import SEALING_PURPOSE, BadTokenKey, new_token, shared_token_key
from backend.instances.rekey import reseal_all, switch_master
from backend.instances.table_blobs import TableBlobs
from backend.instances.vault import CredentialUnreadable, Vault, VaultKeyError
from backend.instances.vault_lock import VaultBusy
from backend.secret import Secret
from backend.settings import Settings

pytestmark = pytest.mark.anyio
KEY = "sk-live-0123456789abcdefWXYZ"
MASTER = Secret("the-replicas-shared-master-key")
NEW_MASTER = Secret("the-replicas-next-master-key!")


async def rows(url: str, table: str) -> dict[str, bytes]:
    """What the table holds, read behind the vault's back."""
    connection = await asyncpg.connect(url)
    try:
        return {row["name"]: row["body"] for row in await connection.fetch(f"SELECT name, body FROM {table}")}
    finally:
        await connection.close()


async def test_a_key_stored_through_one_replica_loads_on_another(postgres_url: str) -> None:
    async with TableBlobs.open(postgres_url) as first_blobs, TableBlobs.open(postgres_url) as second_blobs:
        first = await Vault.open(first_blobs, MASTER, None, upgrading=False)
        await first.store("abc", Secret(KEY), 1)
        second = await Vault.open(second_blobs, MASTER, None, upgrading=False)
        loaded = await second.load("abc", 1)
        assert loaded is not None and loaded.reveal() == KEY
        assert second.fingerprint(Secret(KEY)) == first.fingerprint(Secret(KEY))
        assert await second.load("abc", 2) is None
        assert await second.destroy("abc", 1) is True and await first.load("abc", 1) is None


async def test_another_master_key_is_refused_and_the_table_never_holds_the_key(postgres_url: str) -> None:
    async with TableBlobs.open(postgres_url) as blobs:
        await (await Vault.open(blobs, MASTER, None, upgrading=False)).store("abc", Secret(KEY), 1)
        with pytest.raises(VaultKeyError, match="does not open this vault"):
            await Vault.open(blobs, Secret("another-long-master-key!!"), None, upgrading=False)
    stored = await rows(postgres_url, "credential_blobs") | await rows(postgres_url, "server_secrets")
    assert sorted(stored) == ["abc.v1.cred", "vault-header"]
    for body in stored.values():
        assert KEY.encode() not in body and MASTER.reveal().encode() not in body


async def test_without_the_master_key_a_replica_does_not_start_nor_make_one(postgres_url: str, tmp_path: Path) -> None:
    async with TableBlobs.open(postgres_url) as blobs:
        with pytest.raises(VaultKeyError, match="SWITCHBOARD_MASTER_KEY is not set"):
            await Vault.open(blobs, None, None, upgrading=False)
    assert await rows(postgres_url, "server_secrets") == {}
    settings = Settings(data_dir=tmp_path, database_url=Secret(postgres_url))
    assert settings.master_key_file is None and not list(tmp_path.iterdir())


async def test_replicas_starting_together_agree_on_one_header(postgres_url: str) -> None:
    async with TableBlobs.open(postgres_url) as first_blobs, TableBlobs.open(postgres_url) as second_blobs:
        first, second = await asyncio.gather(
            Vault.open(first_blobs, MASTER, None, upgrading=False), Vault.open(second_blobs, MASTER, None, upgrading=False)
        )
        assert first.keys.key_id == second.keys.key_id  # the passphrase stretched with the one stored salt
        assert first.fingerprint(Secret(KEY)) == second.fingerprint(Secret(KEY))


async def test_a_damaged_blob_is_named_and_left(postgres_url: str) -> None:
    async with TableBlobs.open(postgres_url) as blobs:
        vault = await Vault.open(blobs, MASTER, None, upgrading=False)
        await blobs.write("abc.v1.cred", b"{garbage")
        with pytest.raises(CredentialUnreadable, match="credential blob 'abc.v1.cred'"):
            await vault.load("abc", 1)
        assert await blobs.read("abc.v1.cred") == b"{garbage"


async def test_start_up_keeps_blobs_another_replica_may_be_about_to_record(postgres_url: str) -> None:
    """A blob the log does not name yet (new instance, or a version above the highest recorded) is another
    replica's write whose append may be on its way: kept until it is older than the settling time. A version the
    log superseded goes at once."""
    async with TableBlobs.open(postgres_url) as blobs:
        vault = await Vault.open(blobs, MASTER, None, upgrading=False)
        for instance_id, version in [("live", 1), ("live", 2), ("live", 3), ("new", 1)]:
            await vault.store(instance_id, Secret(KEY), version)
        done = await vault.reconcile({"live": (2, 2)})
        assert done.removed == [("live.v1.cred", "the log superseded or removed this key version")]
        assert [file.name for file in await vault.files()] == ["live.v2.cred", "live.v3.cred", "new.v1.cred"]
    async with TableBlobs.open(postgres_url, settle_seconds=0) as settled:
        done = await (await Vault.open(settled, MASTER, None, upgrading=False)).reconcile({"live": (2, 2)})
        assert sorted(done.removed) == [
            ("live.v3.cred", "the log never recorded this key version"),
            ("new.v1.cred", "its instance is not in the log"),
        ]
        assert [stored.name for stored in await settled.listing()] == ["live.v2.cred"]


async def test_the_token_key_is_one_for_every_replica_and_sealed(postgres_url: str) -> None:
    token = new_token()
    async with TableBlobs.open(postgres_url) as first_blobs, TableBlobs.open(postgres_url) as second_blobs:
        first = await Vault.open(first_blobs, MASTER, None, upgrading=False)
        second = await Vault.open(second_blobs, MASTER, None, upgrading=False)
        keys = await asyncio.gather(
            shared_token_key(first_blobs, first.derived_key(SEALING_PURPOSE)),
            shared_token_key(second_blobs, second.derived_key(SEALING_PURPOSE)),
        )
        assert keys[0].hash(token) == keys[1].hash(token)
        with pytest.raises(BadTokenKey, match="does not unseal"):
            await shared_token_key(first_blobs, first.derived_key(b"another purpose"))
    stored = await rows(postgres_url, "server_secrets")
    assert sorted(stored) == ["token-key", "vault-header"] and len(stored["token-key"]) == 12 + 32 + 16


async def test_a_rekey_moves_the_shared_vault_and_keeps_the_token_key(postgres_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, master_key=MASTER, database_url=Secret(postgres_url))
    token = new_token()
    async with TableBlobs.open(postgres_url) as blobs:
        vault = await Vault.open(blobs, MASTER, None, upgrading=False)
        await vault.store("abc", Secret(KEY), 1)
        before = (await shared_token_key(blobs, vault.derived_key(SEALING_PURPOSE))).hash(token)
        with pytest.raises(VaultKeyError, match="SWITCHBOARD_NEW_MASTER_KEY is not set"):
            await reseal_all(settings, blobs, None)  # no key file is generated for replicas
        async with blobs.holding(exclusive=True):
            rekeyed = await reseal_all(settings, blobs, NEW_MASTER)
            await switch_master(settings, blobs, rekeyed)
        assert rekeyed.moved == 1 and not rekeyed.generated
        with pytest.raises(VaultKeyError, match="does not open this vault"):
            await Vault.open(blobs, MASTER, None, upgrading=False)
        renewed = await Vault.open(blobs, NEW_MASTER, None, upgrading=False)
        loaded = await renewed.load("abc", 1)
        assert loaded is not None and loaded.reveal() == KEY
        assert (await shared_token_key(blobs, renewed.derived_key(SEALING_PURPOSE))).hash(token) == before
    assert not list(tmp_path.iterdir())  # nothing written to the data folder


async def test_a_rekey_waits_for_no_replica(postgres_url: str) -> None:
    async with TableBlobs.open(postgres_url) as serving, TableBlobs.open(postgres_url) as rekeying:
        async with serving.holding(exclusive=False), rekeying.holding(exclusive=False):
            with pytest.raises(VaultBusy, match="a running Switchboard replica uses the vault"):
                async with rekeying.holding(exclusive=True):
                    pass
        async with rekeying.holding(exclusive=True):
            with pytest.raises(VaultBusy, match="vault rekey"):
                async with serving.holding(exclusive=False):
                    pass
