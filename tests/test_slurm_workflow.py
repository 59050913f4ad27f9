"""Snakemake on a real SLURM cluster (slurmctld + two slurmd nodes + munged on this host).

The cluster is started once for this module by tests/cluster/slurm-up.sh and stopped (with its
slurm.conf deleted) by slurm-down.sh. Every snakemake run is wrapped in ``timeout -s KILL``: a
Snakemake that lost track of its SLURM jobs ignores SIGTERM and would wait forever.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster.slurm import LOCAL_CLUSTER_ARGS, PROFILE, SLURM_ARGS, Cluster, running_cluster
from fixtures_client import MajoraHome
from fixtures_server import start_lite
from workflow_helpers import calls, manifest, metric_adds, snakemake, write_config

from snakemake_majora.config import DEFAULT_SCOPES
from snakemake_majora.demo import PUBLISH_SCOPES, register_run

TOKEN_LIFETIME = 10  # seconds: several expiries while the cluster jobs run

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
KILL_AFTER = 240  # seconds; a healthy run here takes well under a minute

# The slurm lane: not in `make test` (see the Makefile), run with `make test-lanes`.
pytestmark = pytest.mark.slurm


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


@pytest.fixture(scope="module")
def strict_short_lite(tmp_path_factory):
    handle = start_lite(tmp_path_factory.mktemp("lite-slurm"), biosamples=20, strict=True,
                        access_token_lifetime=TOKEN_LIFETIME)
    try:
        yield handle
    finally:
        handle.server.stop()


def test_example_workflow_on_slurm_shares_one_credential(slurm_cluster: Cluster, strict_short_lite,
                                                         tmp_path: Path) -> None:
    """A sequencing-run batch with the shipped SLURM profile: each validate/publish job is a separate SLURM
    job (its own Snakemake process, after the profile's token precommand) using the shared token file;
    strict server, short-lived tokens."""
    lite = strict_short_lite
    home = MajoraHome(lite, tmp_path, scopes=[*DEFAULT_SCOPES, *PUBLISH_SCOPES])
    run_name = lite.seed_summary["example"]["run_name"]
    work = tmp_path / "work"
    write_config(work, {"run_name": run_name}, publish={"run_name": "SLURM-RUN-1"})
    # The run the PAGs are named after exists, as on Majora (whose listing fails on a PAG without one).
    register_run(lite.server, lite.username, "SLURM-RUN-1", lite.seed_summary["example"]["central_sample_id"])
    lite.server.reset_counters()
    # Jobs find snakemake-majora (the profile's --precommand) where the submitting shell does.
    env = {**home.env, "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]])}

    t0 = time.monotonic()
    proc = snakemake(work, env, "--workflow-profile", str(PROFILE), *LOCAL_CLUSTER_ARGS, "--jobs", "4",
                     kill_after=KILL_AFTER)
    elapsed = time.monotonic() - t0
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "failed" not in out.lower(), out[-4000:]

    rows = manifest(work)
    assert rows and {r["in_majora"] for r in rows} == {"yes"}
    assert {r["metrics_pushed"] for r in rows} == {"yes"}
    submitted = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+)", out)
    assert len(set(submitted)) == 2 * len(rows)  # one validate and one publish job per sample
    counters = lite.counters()
    print(f"\nSLURM workflow: {len(rows)} samples, {len(set(submitted))} SLURM jobs, {elapsed:.1f} s, "
          f"refreshes {counters['refreshes']} (token lifetime {TOKEN_LIFETIME} s), "
          f"cluster setup {slurm_cluster.setup_seconds:.1f} s")
    assert metric_adds(counters) == calls(counters, "meta/qc/add") == len(rows)
    assert counters["refreshes"] >= 1
    assert counters["invalid_grant"] == 0
    assert counters["family_revocations"] == 0
    # Never more refreshes than the token's half-lives that passed (the client renews at half-life):
    # parallel jobs shared each refresh instead of racing for their own.
    assert counters["refreshes"] <= elapsed / (TOKEN_LIFETIME / 2) + 1, (counters, elapsed)
