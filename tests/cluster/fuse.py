"""A real FUSE filesystem on this host (bindfs) for the tests of the token store on non-local mounts.

On FUSE, flock coherence across nodes is unknown, so the lock backend is chosen as a lease from the
mount table: with the token directory on a bindfs mount that choice, the lease and the atomic writes
run against a real FUSE filesystem rather than a synthetic mount table. Needs root, /dev/fuse and
bindfs (installed from Debian's packages here if missing). Where that is impossible the tests are
skipped with a loud reason, except on CI (``CI=true``), where they must run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _on_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _cannot(reason: str) -> None:
    if _on_ci():
        pytest.fail(f"FUSE lane required on CI: {reason}")
    pytest.skip(f"FUSE TESTS SKIPPED: {reason}")


def _ensure_bindfs() -> None:
    if shutil.which("bindfs"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        _cannot("bindfs is not installed and cannot be installed here (needs root and apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    proc = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "bindfs"], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600, check=False)
        proc = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "bindfs"],
                              env=env, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0 or not shutil.which("bindfs"):
        pytest.fail(f"apt-get install bindfs failed: {proc.stderr.strip()[-1000:]}")


def _unmount(mnt: Path) -> None:
    for cmd in (["fusermount", "-u", str(mnt)], ["umount", str(mnt)], ["umount", "-l", str(mnt)]):
        if shutil.which(cmd[0]) and subprocess.run(cmd, capture_output=True, check=False).returncode == 0:
            return


def bindfs_mount(src: Path, mnt: Path) -> Iterator[Path]:
    """Body of a fixture: ``src`` mounted through FUSE at ``mnt`` for the fixture's lifetime."""
    if os.geteuid() != 0:
        _cannot("mounting FUSE needs root here")
    if not os.path.exists("/dev/fuse"):
        _cannot("/dev/fuse does not exist (no FUSE in this kernel or container)")
    _ensure_bindfs()
    proc = subprocess.run(["bindfs", str(src), str(mnt)], capture_output=True, text=True, timeout=60,
                          check=False)
    if proc.returncode != 0:
        _cannot(f"bindfs could not mount: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        _unmount(mnt)
