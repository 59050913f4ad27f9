"""Lease lock backend, real processes, short lease (``lock_lease_seconds``): crash recovery, and the control.

A lease holder on another node cannot be checked for liveness, so its lease is taken over only after
``lock_lease_seconds`` without a heartbeat; a holder on this host that died is taken over at once (filelock
checks the pid). ``fake_host`` makes the worker write a foreign hostname into the lease marker, which is how
a holder on another node looks to its peers.
"""

import logging
import os
import signal
import time

import filelock
import pytest

from snakemake_majora.config import load_settings
from snakemake_majora.credentials import CredentialManager
from snakemake_majora.errors import ConfigError
from snakemake_majora.locking import TokenLock

LEASE = 3  # seconds; production keeps the default 120 (docs/credentials.md)
PEERS = 4


@pytest.fixture
def cfg_env(tmp_path):
    home = tmp_path / "smh"
    home.mkdir()
    return {"SNAKEMAKE_MAJORA_HOME": str(home), "OCARINA_CONF_FILE": str(tmp_path / "none"),
            "MAJORA_DOMAIN": "http://127.0.0.1:9/", "MAJORA_USER": "u", "CLIENT_ID": "c",
            "CLIENT_SECRET": "s"}


def test_lease_setting_default_yaml_env_and_argument(cfg_env, caplog):
    assert load_settings(env=cfg_env).lock_lease_seconds == 120
    cfg = os.path.join(cfg_env["SNAKEMAKE_MAJORA_HOME"], "config.yaml")
    with open(os.open(cfg, os.O_WRONLY | os.O_CREAT, 0o600), "w") as fh:
        fh.write("default_profile: p\nprofiles:\n  p:\n    lock: lease\n    lock_lease_seconds: 100\n")
    s = load_settings(env=cfg_env)
    assert s.lock_lease_seconds == 100 and s.describe()["lock_lease_seconds"]["source"].endswith("profile p")
    assert CredentialManager(s).lock.lease_duration == 100  # what the lease lock is built with
    assert load_settings(env={**cfg_env, "SNAKEMAKE_MAJORA_LOCK_LEASE": "130"}).lock_lease_seconds == 130
    with caplog.at_level(logging.WARNING):
        assert load_settings(env=cfg_env, lock_lease_seconds="4.5").lock_lease_seconds == 4.5
    assert "keep the default 120s outside tests" in caplog.text  # short leases are for tests


@pytest.mark.parametrize("bad", ["soon", "1", "0", "-3", "nan", "inf", "151"])
def test_lease_setting_rejects_bad_values(cfg_env, bad):
    with pytest.raises(ConfigError) as err:
        load_settings(env={**cfg_env, "SNAKEMAKE_MAJORA_LOCK_LEASE": bad})
    msg = str(err.value)
    assert "$SNAKEMAKE_MAJORA_LOCK_LEASE" in msg and "from 2 to 150" in msg and "\n" not in msg


def test_peers_with_another_lease_duration_get_a_config_error(tmp_path):
    d = tmp_path / "t"
    d.mkdir(mode=0o700)
    other = filelock.SoftFileLease(str(d / "u.json.lease"), lease_duration=120)
    other.acquire()
    try:
        with pytest.raises(ConfigError, match="same lock_lease_seconds for every job"):
            with TokenLock(d / "u.json", "lease", lease_duration=3).hold(timeout=0.5):
                pass
    finally:
        other.release()


def _use_lease(home, lease=LEASE):
    home.env.update(SNAKEMAKE_MAJORA_LOCK="lease", SNAKEMAKE_MAJORA_LOCK_LEASE=str(lease))


def _paused_holder(home, pause_at="after_lock", **extra):
    """A worker that took the lease and paused before refreshing (at ``pause_at``)."""
    pause = home.root / "paused"
    procs = home.spawn(1, {"mode": "token", "pause_at": pause_at, "pause_file": str(pause), **extra})
    home.release(procs)
    deadline = time.monotonic() + 60
    while not pause.exists() and time.monotonic() < deadline and procs[0].poll() is None:
        time.sleep(0.02)
    assert pause.exists(), procs[0].communicate()[1]
    return procs[0]


def _peers(home, n=PEERS):
    procs = home.spawn(n, {"mode": "token"})
    home.release(procs)
    return home.results(procs, timeout=120)  # bounded wait; the lease is 3 s


def _marker(home):
    return home.token_file.with_name(home.token_file.name + ".lease")


@pytest.mark.parametrize("host", ["othernode", None], ids=["holder-on-another-node", "holder-on-this-host"])
def test_killed_lease_holder_is_taken_over(strict_home, host):
    _use_lease(strict_home)
    before = strict_home.expire_in(300)
    holder = _paused_holder(strict_home, **({"fake_host": host} if host else {}))
    marker = _marker(strict_home)
    assert marker.exists()
    if host:
        assert host in marker.read_text()  # peers cannot check this holder's pid: only the lease can expire
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    assert marker.exists()  # the dead holder's lease is still there for the peers to take over

    results = _peers(strict_home)
    assert [(r["ok"], r["fail"]) for r in results] == [(1, 0)] * PEERS, [r["errors"] for r in results]
    assert {g for r in results for g in r["generations"]} == {before["generation"] + 1}
    c = strict_home.lite.counters()
    assert c["refreshes"] == 1 and c["invalid_grant"] == 0 and c["family_revocations"] == 0
    assert strict_home.read_store()["generation"] == before["generation"] + 1
    assert not marker.exists()


OVERTAKEN = ("a peer refreshed the token while this process held the lock: this process stalled longer than "
             f"the {LEASE}s lease")


@pytest.mark.parametrize(
    ("pause_at", "token_calls", "reused"),
    [("after_lock", 1, 0), ("before_post", 2, 1)],
    ids=["frozen-after-taking-the-lease", "negative-control-frozen-right-before-the-request"],
)
def test_frozen_holder_overtaken(strict_home, pause_at, token_calls, reused):
    """A holder frozen (SIGSTOP: its heartbeat thread stops too) for longer than the lease is overtaken while
    it still holds the lock, and a peer refreshes. Frozen right after taking the lease, it looks at the
    store again when it resumes, sees the peer's rotation and sends nothing: one refresh, nothing revoked.
    Negative control: frozen after that last look (between the re-read and the POST, the instant no check
    can cover), it sends the rotated refresh token, and the strict server revokes the family. Either way
    it says why and ends with the peer's token."""
    _use_lease(strict_home)
    before = strict_home.expire_in(300)
    resume = strict_home.root / "resume"
    holder = _paused_holder(strict_home, pause_at=pause_at, resume_file=str(resume))
    holder.send_signal(signal.SIGSTOP)
    try:
        results = _peers(strict_home)  # they wait for the lease to expire, then one of them refreshes
    finally:
        resume.touch()
        holder.send_signal(signal.SIGCONT)
    _out, stderr = holder.communicate(timeout=120)
    assert [(r["ok"], r["fail"]) for r in results] == [(1, 0)] * PEERS, [r["errors"] for r in results]
    c = strict_home.lite.counters()
    assert c["token_endpoint_calls"] == token_calls and c["refreshes"] == 1
    assert c["invalid_grant"] == reused and c["family_revocations"] == reused
    assert OVERTAKEN in stderr
    assert strict_home.read_store()["generation"] == before["generation"] + 1


def test_slow_but_alive_holder_keeps_its_lease(strict_home):
    """A holder that is merely slow (its main thread paused for several leases, the heartbeat running) is not
    overtaken: the peers wait for it and use its token."""
    _use_lease(strict_home)
    before = strict_home.expire_in(300)
    resume = strict_home.root / "resume"
    holder = _paused_holder(strict_home, resume_file=str(resume))
    peers = strict_home.spawn(PEERS, {"mode": "token"})
    strict_home.release(peers)
    time.sleep(2 * LEASE + 1)  # not a speed assertion: long enough for an unrenewed lease to expire twice
    still_waiting = [p.poll() is None for p in peers]
    gen_while_paused = strict_home.read_store()["generation"]
    resume.touch()
    results = strict_home.results(peers, timeout=120)
    holder_out = strict_home.results([holder], timeout=120)[0]
    assert still_waiting == [True] * PEERS and gen_while_paused == before["generation"]
    assert (holder_out["ok"], holder_out["fail"]) == (1, 0), holder_out["errors"]
    assert [(r["ok"], r["fail"]) for r in results] == [(1, 0)] * PEERS, [r["errors"] for r in results]
    c = strict_home.lite.counters()
    assert c["refreshes"] == 1 and c["invalid_grant"] == 0 and c["token_endpoint_calls"] == 1
    assert strict_home.read_store()["generation"] == before["generation"] + 1
