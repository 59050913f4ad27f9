"""A throw-away SLURM cluster on this host for the tests (slurm-up.sh / slurm-down.sh around them).

`slurm-up.sh` needs root and Debian's packages. Where that is impossible the SLURM tests are skipped
with a loud reason, except on CI (``CI=true``), where they must run and a failure to start fails.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
EX_NOPERM = 77  # slurm-up.sh: not root / no apt / a real cluster's slurm.conf is present


@dataclass
class Cluster:
    """What the tests need to know about the running cluster."""

    nodes: list[str]
    setup_seconds: float
    base: Path


def _on_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def slurm_up(nodes: int = 2, base: Path = Path("/tmp/slurm-test")) -> Cluster:
    """Start the cluster (installing the packages if needed); skip or fail as described above."""
    env = {**os.environ, "SLURM_NODES": str(nodes), "SLURM_BASE": str(base)}
    t0 = time.monotonic()
    proc = subprocess.run(["bash", str(HERE / "slurm-up.sh")], env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    took = time.monotonic() - t0
    if proc.returncode == EX_NOPERM and not _on_ci():
        pytest.skip(f"SLURM TESTS SKIPPED: cannot start a local SLURM cluster here: {proc.stderr.strip()}")
    if proc.returncode != 0:
        subprocess.run(["bash", str(HERE / "slurm-down.sh")], env=env, check=False)
        pytest.fail(f"slurm-up.sh failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return Cluster(nodes=[f"n{i}" for i in range(1, nodes + 1)], setup_seconds=took, base=base)


def slurm_down(base: Path = Path("/tmp/slurm-test")) -> None:
    """Stop the daemons slurm-up.sh started and delete its slurm.conf."""
    subprocess.run(["bash", str(HERE / "slurm-down.sh")], env={**os.environ, "SLURM_BASE": str(base)},
                   check=False, timeout=120)


def running_cluster(nodes: int = 2) -> Iterator[Cluster]:
    """Body of a module-scoped fixture: a cluster for the duration of one test module."""
    cluster = slurm_up(nodes)
    try:
        yield cluster
    finally:
        slurm_down(cluster.base)


# The shipped profile (workflow/profiles/slurm) plus what this throw-away cluster needs (docs/cluster.md):
# no slurmdbd, so job status comes from squeue; poll after 2 s instead of 20 s; small memory requests
# (each test node has 2,000 MB).
PROFILE = Path(__file__).resolve().parents[2] / "workflow" / "profiles" / "slurm"
SLURM_ARGS = [
    "--executor", "slurm",
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "2",
    "--default-resources", "mem_mb=200", "runtime=10",
]
LOCAL_CLUSTER_ARGS = [
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "2",
    "--default-resources", "mem_mb=200", "runtime=10",
    "--latency-wait", "5",
]
