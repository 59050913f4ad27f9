"""Lock backend choice from mountinfo, ENOLCK fallback, and cross-process exclusion (real processes)."""

import errno
import fcntl
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

from snakemake_majora import locking
from snakemake_majora.locking import TokenLock, choose_backend

WORKER = Path(__file__).parent / "workers" / "lock_worker.py"

MOUNTINFO = """\
22 1 254:0 / / rw,relatime - ext4 /dev/vda rw
30 22 0:50 / /home rw,relatime - nfs4 srv:/home rw,vers=4.2,local_lock=none
31 22 0:51 / /nolock rw,relatime - nfs srv:/x rw,vers=3,nolock,local_lock=all
32 22 0:52 / /lflock rw,relatime - nfs srv:/y rw,vers=3,local_lock=flock
33 22 0:53 / /lustre rw - lustre mds@tcp:/fs rw,localflock
34 22 0:54 / /lustre2 rw - lustre mds@tcp:/fs rw,flock
35 22 0:55 / /fuse rw - fuse.sshfs host:/ rw
36 22 0:56 / /gpfs rw - gpfs gpfs0 rw
"""


@pytest.mark.parametrize(("path", "backend"), [
    ("/home/u/.config", "flock"), ("/nolock/u", "lease"), ("/lflock/u", "lease"), ("/lustre/u", "lease"),
    ("/lustre2/u", "flock"), ("/fuse/u", "lease"), ("/gpfs/u", "lease"), ("/tmp/u", "flock"),
])
def test_backend_from_mountinfo(tmp_path, path, backend):
    mi = tmp_path / "mountinfo"
    mi.write_text(MOUNTINFO)
    got, reason = choose_backend(Path(path), "auto", str(mi))
    assert got == backend and reason


def test_setting_forces_backend(tmp_path):
    assert choose_backend(tmp_path, "lease")[0] == "lease"
    assert choose_backend(tmp_path, "flock")[0] == "flock"


def test_enolck_falls_back_to_lease_with_one_warning(tmp_path, monkeypatch, caplog):
    # The kernel cannot be made to answer ENOLCK here (needs NFSv3 without lockd): simulate the syscall.
    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    lock = TokenLock(tmp_path / "t" / "u.json", "auto")
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            with lock.hold(timeout=2):
                pass
    assert lock.backend == "lease"
    assert sum("falling back to a lease" in r.getMessage() for r in caplog.records) == 1


def _run_pair(tmp_path, mode, extra=()):
    token = tmp_path / "t" / "u.json"
    barrier = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, str(WORKER), str(token), mode, "2", str(barrier), *extra],
                              stdout=subprocess.PIPE, text=True) for _ in range(3)]
    deadline = time.time() + 60
    while len(list(tmp_path.glob("go.ready.*"))) < len(procs) and time.time() < deadline:
        time.sleep(0.05)
    barrier.touch()
    results = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    return results[-1], results


@pytest.mark.parametrize("mode", ["flock", "lease"])
def test_no_overlapping_holds_across_processes(tmp_path, mode):
    final, results = _run_pair(tmp_path, mode)
    total = sum(r["acquisitions"] for r in results)
    assert all(r["acquisitions"] > 0 for r in results)
    # The last one to finish sees every interval of all three processes.
    log = Path(final["log"]).read_text().splitlines()
    assert len(log) == total
    assert max(r["overlaps"] for r in results) == 0


def test_negative_control_no_lock_shows_overlaps(tmp_path):
    _final, results = _run_pair(tmp_path, "flock", ("--no-lock",))
    assert max(r["overlaps"] for r in results) > 0


def test_lock_file_is_kept_and_private(tmp_path):
    lock = TokenLock(tmp_path / "t" / "u.json", "flock")
    with lock.hold(timeout=1):
        assert "u.json" in lock.holder() or ":" in lock.holder()
    assert lock.lock_path.exists()
    assert oct(lock.lock_path.stat().st_mode & 0o777) == oct(0o600)
    assert oct(lock.token_path.parent.stat().st_mode & 0o777) == oct(0o700)
    assert locking.LockBusy
