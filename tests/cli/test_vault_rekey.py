"""`switchboard vault rekey`: every key moves to the new master, resumably, recorded once, never beside a server."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
from pathlib import Path

import pytest

from backend.instances.rekey import reseal_all
from backend.instances.vault import Vault, VaultKeyError
from backend.instances.vault_storage import file_blobs
from backend.secret import Secret
from backend.settings import Settings
from tests.cli.test_cli import SWITCHBOARD
from tests.conftest import api_client
from tests.instances.conftest import OTHER_SECRET, SECRET, create
from tests.upstreams import UpstreamServer
from tests.upstreams.fixtures import upstream, upstream_server

__all__ = ["upstream", "upstream_server"]

pytestmark = pytest.mark.anyio
NEW_PASSPHRASE = "the-new-master-passphrase-2026"


def rekey(settings: Settings, new: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("SWITCHBOARD_")}
    env["SWITCHBOARD_DATA_DIR"] = str(settings.data_dir)
    if settings.master_key is not None:
        env["SWITCHBOARD_MASTER_KEY"] = settings.master_key.reveal()
    if new is not None:
        env["SWITCHBOARD_NEW_MASTER_KEY"] = new
    return subprocess.run([SWITCHBOARD, "vault", "rekey"], env=env, capture_output=True, text=True, timeout=60)


def key_ids(settings: Settings) -> set[str]:
    return {json.loads(path.read_text())["key_id"] for path in settings.credentials_dir.glob("*.cred")}


async def keyed_folder(settings: Settings, upstream: UpstreamServer) -> list[str]:
    """Two instances with keys, written by the server under the settings' master key."""
    async with api_client(settings) as client:
        first = await create(client, name="One", endpoint=upstream.urls.openai, api_key=SECRET)
        second = await create(client, name="Two", endpoint=upstream.urls.openai, api_key=OTHER_SECRET)
    return [str(first["id"]), str(second["id"])]


async def rekeyed_events(settings: Settings) -> list[dict[str, object]]:
    async with api_client(settings) as client:
        events: list[dict[str, object]] = (
            await client.get("/api/v1/events", params={"type": "VaultRekeyed"})
        ).json()["events"]
    return events


async def test_rekey_to_a_passphrase_moves_every_key_and_keeps_fingerprints(
    tmp_path: Path, upstream: UpstreamServer
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    ids = await keyed_folder(settings, upstream)
    before = key_ids(settings)
    done = rekey(settings, NEW_PASSPHRASE)
    assert done.returncode == 0, done.stderr
    assert "re-encrypted 2 credential files" in done.stdout and "SWITCHBOARD_MASTER_KEY" in done.stdout
    for secret in (SECRET, OTHER_SECRET, NEW_PASSPHRASE):
        assert secret not in done.stdout + done.stderr
    after = key_ids(settings)
    assert len(after) == 1 and after.isdisjoint(before)
    assert not settings.key_file.exists()  # the old key file would only open the old files
    renewed = Settings(data_dir=settings.data_dir, master_key=Secret(NEW_PASSPHRASE))
    upstream.scenario.key = SECRET
    async with api_client(renewed) as client:
        tested = (await client.post(f"/api/v1/instances/{ids[0]}/test")).json()["last_test"]
        assert tested["outcome"] == "ok"
        same = await client.put(f"/api/v1/instances/{ids[1]}/credential", json={"api_key": OTHER_SECRET})
        assert same.json()["credential"]["version"] == 1  # the fingerprint key survived: nothing new recorded
    [event] = await rekeyed_events(renewed)
    assert event["actor"] == f"cli:{getpass.getuser()}"
    assert event["data"]["count"] == 2 and event["data"]["key_id"] == after.pop()  # type: ignore[index]


async def test_rekey_to_a_generated_key_file(tmp_path: Path, upstream: UpstreamServer) -> None:
    settings = Settings(data_dir=tmp_path / "data", master_key=Secret("the-old-master-passphrase"))
    ids = await keyed_folder(settings, upstream)
    done = rekey(settings)
    assert done.returncode == 0, done.stderr
    assert "start the server without SWITCHBOARD_MASTER_KEY" in done.stdout
    assert settings.key_file.exists() and not settings.key_file.with_name("master.key.new").exists()
    keyless = Settings(data_dir=settings.data_dir)
    vault = await Vault.open(file_blobs(keyless), None, keyless.key_file, True)
    loaded = await vault.load(ids[0], 1)
    assert loaded is not None and loaded.reveal() == SECRET
    with pytest.raises(VaultKeyError, match="does not open this vault"):
        await Vault.open(file_blobs(settings), settings.master_key, settings.key_file, True)


async def test_an_interrupted_rekey_resumes_and_is_recorded_once(
    tmp_path: Path, upstream: UpstreamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    await keyed_folder(settings, upstream)
    writes: list[str] = []
    real_store = Vault.store

    async def crash_on_second_file(vault: Vault, instance_id: str, secret: Secret, version: int) -> None:
        if writes:
            raise KeyboardInterrupt  # the process dies while re-encrypting
        writes.append(instance_id)
        await real_store(vault, instance_id, secret, version)

    monkeypatch.setattr(Vault, "store", crash_on_second_file)
    with pytest.raises(KeyboardInterrupt):
        await reseal_all(settings, file_blobs(settings), Secret(NEW_PASSPHRASE))
    monkeypatch.undo()
    assert len(key_ids(settings)) == 2  # one file moved, one not
    with pytest.raises(VaultKeyError, match="interrupted"):
        await Vault.open(file_blobs(settings), None, settings.key_file, True)
    wrong = rekey(settings, "a-different-new-passphrase")
    assert wrong.returncode == 2 and "run it again with the same new key" in wrong.stderr
    done = rekey(settings, NEW_PASSPHRASE)
    assert done.returncode == 0, done.stderr
    assert len(key_ids(settings)) == 1
    renewed = Settings(data_dir=settings.data_dir, master_key=Secret(NEW_PASSPHRASE))
    [event] = await rekeyed_events(renewed)
    assert event["data"]["count"] == 2  # type: ignore[index]


async def test_rekey_is_refused_while_a_server_holds_the_data_folder(tmp_path: Path, upstream: UpstreamServer) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    await keyed_folder(settings, upstream)
    before = {path.name: path.read_bytes() for path in settings.credentials_dir.iterdir()}
    async with api_client(settings):
        done = rekey(settings, NEW_PASSPHRASE)
    assert done.returncode == 2 and "a running Switchboard server uses the vault" in done.stderr
    assert {path.name: path.read_bytes() for path in settings.credentials_dir.iterdir()} == before
    assert json.loads(settings.vault_header.read_text()).get("next") is None


async def test_rekey_with_the_wrong_current_key_changes_nothing(tmp_path: Path, upstream: UpstreamServer) -> None:
    settings = Settings(data_dir=tmp_path / "data", master_key=Secret("the-right-master-passphrase"))
    await keyed_folder(settings, upstream)
    header = settings.vault_header.read_bytes()
    wrong = Settings(data_dir=settings.data_dir, master_key=Secret("the-wrong-master-passphrase"))
    done = rekey(wrong, NEW_PASSPHRASE)
    assert done.returncode == 2 and "does not open this vault" in done.stderr
    assert settings.vault_header.read_bytes() == header


def test_rekey_needs_a_data_folder(tmp_path: Path) -> None:
    done = rekey(Settings(data_dir=tmp_path / "absent"), NEW_PASSPHRASE)
    assert done.returncode == 2 and "no event log" in done.stderr
    assert not (tmp_path / "absent").exists()


async def test_a_generated_key_not_yet_moved_into_place_is_finished_at_start(
    tmp_path: Path, upstream: UpstreamServer
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    ids = await keyed_folder(settings, upstream)
    old_key = settings.key_file.read_bytes()
    assert rekey(settings).returncode == 0
    new_key = settings.key_file.read_bytes()
    pending = settings.key_file.with_name("master.key.new")
    pending.write_bytes(new_key)  # the state a crash leaves after the header switched, before the key file moved
    settings.key_file.write_bytes(old_key)
    async with api_client(settings) as client:
        assert (await client.get(f"/api/v1/instances/{ids[0]}")).json()["key_missing"] is False
    assert settings.key_file.read_bytes() == new_key and not pending.exists()
