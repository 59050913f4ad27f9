"""Snakemake on a real SLURM cluster (slurmctld + two slurmd nodes + munged on this host).

The cluster is started once for this module by tests/cluster/slurm-up.sh and stopped (with its
slurm.conf deleted) by slurm-down.sh. Every snakemake run is wrapped in ``timeout -s KILL``: a
Snakemake that lost track of its SLURM jobs ignores SIGTERM and would wait forever.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster.slurm import SLURM_ARGS, Cluster, running_cluster

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
KILL_AFTER = 240  # seconds; a healthy run here takes well under a minute


@pytest.fixture(scope="module")
def slurm_cluster() -> Iterator[Cluster]:
    """Two slurmd nodes for this module; stopped and slurm.conf deleted afterwards."""
    yield from running_cluster(2)


def run_snakemake(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``timeout -s KILL`` around snakemake, output captured for the assertion messages."""
    return subprocess.run(["timeout", "-s", "KILL", str(KILL_AFTER), *SNAKEMAKE, *args], cwd=cwd,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True, check=False)


def test_trivial_workflow_runs_every_job_as_a_slurm_job(slurm_cluster: Cluster, tmp_path: Path) -> None:
    """The cluster itself: four independent jobs submitted through sbatch, spread over the nodes."""
    (tmp_path / "Snakefile").write_text(
        "rule all:\n"
        "    input: expand('out/{i}.txt', i=range(4))\n\n"
        "rule job:\n"
        "    output: 'out/{i}.txt'\n"
        "    shell: 'echo $SLURM_JOB_ID $SLURMD_NODENAME > {output}'\n"
    )
    proc = run_snakemake([*SLURM_ARGS, "--jobs", "4"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [(tmp_path / "out" / f"{i}.txt").read_text().split() for i in range(4)]
    job_ids = {line[0] for line in lines}
    assert len(job_ids) == 4, lines  # four separate SLURM jobs
    assert {line[1] for line in lines} <= set(slurm_cluster.nodes), lines
