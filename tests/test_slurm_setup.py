"""slurm-up.sh makes what munged and slurmd need whatever the caller left behind.

On a new machine `make test` once failed because the pytest process's umask was 077 (leaked by an
in-process call) when slurm-up.sh created /run/munge, and munged refuses a socket directory that others
cannot search. Here the script runs under umask 077 with /run/munge absent, and again with it present at
a wrong mode and owner, and the cluster must come up both times with munge credentials working.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cluster.slurm import slurm_down, slurm_up

RUN_MUNGE = Path("/run/munge")

# The slurm lane: not in `make test` (see the Makefile), run with `make test-lanes`.
pytestmark = pytest.mark.slurm


def _foreign_munged() -> bool:
    """A munged that slurm-up.sh did not start (a real installation's): never pulled out from under it."""
    pid_file = RUN_MUNGE / "munged.pid"
    ours = Path("/tmp/slurm-test/run/munged.pid")
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return not ours.exists()


@pytest.mark.parametrize("leftover", ["absent", "wrong-mode"])
def test_slurm_up_under_umask_077(leftover: str, tmp_path: Path) -> None:
    if os.geteuid() != 0 and os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        pytest.skip("SLURM SETUP TEST SKIPPED: needs root (it removes /run/munge)")
    slurm_down()  # our own daemons from an earlier module, if any
    if _foreign_munged():
        pytest.skip("SLURM SETUP TEST SKIPPED: a munged not started by slurm-up.sh is using /run/munge")
    if RUN_MUNGE.exists():
        shutil.rmtree(RUN_MUNGE)
    if leftover == "wrong-mode":
        RUN_MUNGE.mkdir(mode=0o700)  # root-owned and closed, as an earlier run under umask 077 left it
        os.chmod(RUN_MUNGE, 0o700)
    old = os.umask(0o077)
    try:
        slurm_up(1)
    finally:
        os.umask(old)
    try:
        st = os.stat(RUN_MUNGE)
        assert stat.S_IMODE(st.st_mode) == 0o755, oct(st.st_mode)
        assert pwd.getpwuid(st.st_uid).pw_name == "munge"
        cred = subprocess.run(["munge", "-n"], capture_output=True, check=True, timeout=30).stdout
        back = subprocess.run(["unmunge"], input=cred, capture_output=True, timeout=30, check=False)
        assert back.returncode == 0, back.stderr
        idle = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=30)
        assert idle.stdout.split() == ["idle"], idle
    finally:
        slurm_down()
