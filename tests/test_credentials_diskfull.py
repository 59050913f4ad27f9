"""Issue 12 item 1: a token write that fails after Majora rotated the pair must not lose the credential.

The token home sits on a real 64 KiB tmpfs. Full disk: nothing is sent (the space is reserved before the
refresh POST). A quota hit between Majora's answer and the write (EDQUOT injected at the rename, a fault
the machine cannot produce on demand): the new pair survives in memory and in a rescue file, and the next
``refresh`` puts it back, on a strict server (a reused refresh token revokes the family).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
from fixtures_client import CLI, MajoraHome

from snakemake_majora import store
from snakemake_majora.config import load_settings
from snakemake_majora.credentials import CredentialManager
from snakemake_majora.errors import TokenSaveError


def _mount_tmpfs(where: Path) -> None:
    where.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(where)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs on CI: {res.stderr.strip()}")
        pytest.skip(f"SKIPPED LOUDLY: cannot mount a 64 KiB tmpfs here ({res.stderr.strip()}); the full-disk "
                    "tests need root or CAP_SYS_ADMIN")


@pytest.fixture
def small_home(strict_lite, tmp_path):
    """A logged-in home whose config and token store live on a 64 KiB tmpfs."""
    mnt = tmp_path / "tmpfs"
    _mount_tmpfs(mnt)
    try:
        strict_lite.clear_faults()
        home = MajoraHome(strict_lite, mnt)
        strict_lite.reset_counters()
        yield home
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(mnt)], capture_output=True)
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(path: Path) -> Path:
    fill = path / "fill"
    subprocess.run(["dd", "if=/dev/zero", f"of={fill}", "bs=1k"], capture_output=True)
    # tmpfs may keep a partial page: top it up byte by byte until the filesystem refuses.
    with contextlib.suppress(OSError), open(fill, "ab") as fh:
        for _ in range(8192):
            fh.write(b"\0")
            fh.flush()
            os.fsync(fh.fileno())
    return fill


def test_full_disk_refuses_before_sending_and_keeps_the_credential(small_home):
    before = small_home.read_store()
    fill = _fill(small_home.root)
    res = small_home.cli("refresh", check=False)
    assert res.returncode == 75, res.stderr
    assert "not refreshed" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    c = small_home.lite.counters()
    assert c["token_endpoint_calls"] == 0 and c["refreshes"] == 0
    assert small_home.read_store() == before  # untouched, still the live pair
    assert not [p for p in small_home.token_file.parent.iterdir() if p.name.endswith(".tmp")]
    fill.unlink()
    small_home.cli("refresh")
    c = small_home.lite.counters()
    assert c["refreshes"] == 1 and c["invalid_grant"] == 0 and c["family_revocations"] == 0
    assert small_home.read_store()["generation"] == before["generation"] + 1
    assert small_home.cli("get", "biosample", "BIRM-00001").returncode == 0


def test_quota_hit_after_the_refresh_keeps_the_new_pair(strict_home, monkeypatch, caplog):
    """EDQUOT at the rename, after Majora rotated the pair: a fault this machine cannot produce on demand
    (the blocks were reserved, and tmpfs has no quotas), so only the rename into the token directory is
    made to fail; everything else is real."""
    home = strict_home
    before = home.read_store()
    settings = load_settings(config_file=home.home / "config.yaml", env=home.env)
    mgr = CredentialManager(settings)
    tokens = home.token_file.parent
    real_replace = store._replace

    def quota_exceeded(tmp, dest):
        if Path(dest).parent == tokens:
            raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT), str(dest))
        return real_replace(tmp, dest)

    monkeypatch.setattr(store, "_replace", quota_exceeded)
    rescue = Path("/nonexistent")
    try:
        with pytest.raises(TokenSaveError) as err:
            mgr.force_refresh()
        msg = str(err.value)
        # A private directory of ours outside the token dir, the rescue named after this very store.
        rescue = next(p for p in mgr.store.rescue_paths()[1:] if p.exists())
        assert rescue.name == mgr.store.rescue_name() and rescue.parent.name.startswith("snakemake-majora")
        assert "credential is at risk" in msg and str(rescue) in msg and "snakemake-majora refresh" in msg
        assert home.read_store() == before  # the store still holds the rotated-away pair
        # The reserved temp file keeps a copy too (issue 18 item 4): the next refresher adopts it.
        kept = [p for p in tokens.iterdir() if p.name.endswith(".tmp")]
        assert [json.loads(p.read_text())["generation"] for p in kept] == [before["generation"] + 1]
        saved = json.loads(rescue.read_text())
        assert saved["generation"] == before["generation"] + 1
        assert stat.S_IMODE(rescue.stat().st_mode) == 0o600
        assert stat.S_IMODE(rescue.parent.stat().st_mode) == 0o700
        # This process keeps working with the new pair (the old access token was deleted by Majora).
        cred = mgr.ensure_token()
        assert cred.secret == saved["access_token"] != before["access_token"]
        for secret in (saved["access_token"], saved["refresh_token"]):
            assert secret not in msg and secret not in caplog.text
        monkeypatch.setattr(store, "_replace", real_replace)
        # Another process: `refresh` puts the rescued pair back instead of sending the dead one.
        res = home.cli("refresh")
        assert "recovered" in res.stderr
        assert home.read_store()["refresh_token"] == saved["refresh_token"]
        assert not rescue.exists() and not [p for p in tokens.iterdir() if p.name.endswith(".tmp")]
        home.expire_in(60)
        assert home.cli("get", "biosample", "BIRM-00001").returncode == 0
        c = home.lite.counters()
        assert c["invalid_grant"] == 0 and c["family_revocations"] == 0 and c["refreshes"] == 2
    finally:
        rescue.unlink(missing_ok=True)


def test_unusable_expires_in_does_not_lose_the_pair():
    from snakemake_majora.store import DEFAULT_LIFETIME, TokenRecord

    for bad in ("soon", None, -5, float("nan"), True, [1]):
        rec = TokenRecord.from_token_response({"access_token": "a" * 30, "refresh_token": "r" * 30,
                                               "expires_in": bad}, domain="d", client_id="c", user="u",
                                              t_before=1000.0, generation=2)
        assert rec.expires_at == 1000.0 + DEFAULT_LIFETIME and rec.refresh_token == "r" * 30


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_during_the_refresh_takes_effect_after_the_write(strict_home, sig):
    """Ctrl-C (or SIGTERM) while the refresh POST is at the server: the process stops only once the new
    pair is stored, so the next refresh uses the live refresh token."""
    home = strict_home
    before = home.read_store()
    home.lite.set_faults([{"path": "/o/token/", "grant_type": "refresh_token", "action": "delay", "delay": 3,
                           "count": 1}])
    proc = subprocess.Popen([*CLI, "refresh"], env=home.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 60
        while home.lite.counters()["faults_applied"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)  # until the POST is being held at the server
        assert proc.poll() is None
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=60)
    finally:
        home.lite.clear_faults()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0  # it was interrupted, after the write
    after = home.read_store()
    assert after["generation"] == before["generation"] + 1, err
    home.cli("refresh")
    c = home.lite.counters()
    assert c["refreshes"] == 2 and c["invalid_grant"] == 0 and c["family_revocations"] == 0


def test_plugin_reports_a_full_token_disk_as_one_workflow_error(small_home, tmp_path):
    import logging

    from snakemake_interface_common.exceptions import WorkflowError

    from snakemake_majora.plugin import StorageProvider, StorageProviderSettings

    small_home.expire_in(60)  # inside the margin: the first request needs a refresh
    fill = _fill(small_home.root)
    settings = StorageProviderSettings(config_file=str(small_home.home / "config.yaml"),
                                       token_file=str(small_home.token_file))
    provider = StorageProvider(local_prefix=tmp_path / "local", logger=logging.getLogger("test"),
                               settings=settings)
    with pytest.raises(WorkflowError) as err:
        provider.object("majora://biosample/BIRM-00001").exists()
    msg = str(err.value)
    assert "not refreshed" in msg and "No space left" in msg and len(msg.splitlines()) == 1
    assert small_home.lite.counters()["token_endpoint_calls"] == 0
    fill.unlink()
