"""Workflow-level numbers: `make demo` cold and warm, and the cost of a SLURM job against a local one.

    python bench/bench_workflow.py            # prints a Markdown table for docs/benchmarks.md

The SLURM part needs root and Debian's packages (tests/cluster/slurm-up.sh installs them); without
them it is skipped. Baselines are measured in the same run: a warm demo against the cold one, a SLURM
job against the same job on the local executor.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = ROOT / "tests" / "cluster"
OUT = ROOT / "bench" / "out"
SNAKEFILE = (
    "rule all:\n    input: expand('out/{i}.txt', i=range(N))\n\n"
    "rule job:\n    output: 'out/{i}.txt'\n    shell: 'echo ${{SLURM_JOB_ID:-local}} > {output}'\n"
)
SLURM = ["--executor", "slurm", "--slurm-status-command", "squeue",
         "--slurm-init-seconds-before-status-checks", "2", "--default-resources", "mem_mb=200", "runtime=10"]


def timed(cmd: list[str], **kw) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    return time.monotonic() - t0, proc


def demo_runs() -> list[tuple[str, str, str]]:
    state = OUT / "demo-run"
    shutil.rmtree(state, ignore_errors=True)
    cmd = [sys.executable, "-m", "snakemake_majora.demo", "--dir", str(state)]
    cold, p1 = timed(cmd, cwd=ROOT)
    warm, p2 = timed(cmd, cwd=ROOT)
    if p1.returncode or p2.returncode:
        raise SystemExit(f"demo failed: {p1.stderr[-2000:]}{p2.stderr[-2000:]}")
    wf = float(re.search(r"workflow : ([\d.]+) s", p1.stdout).group(1))
    refreshes = re.search(r"refreshes: (\d+)", p1.stdout).group(1)
    lifetime = re.search(r"access tokens live (\d+) s", p1.stdout).group(1)
    return [
        ("`make demo`, first run (seed, login, 64 jobs, report)", f"{cold:.1f} s", "1"),
        (f"&nbsp;&nbsp;of which the workflow (4 parallel jobs, {lifetime} s tokens)", f"{wf:.1f} s",
         f"{wf / cold:.2f}; {refreshes} refreshes"),
        ("`make demo` again (login, *Nothing to be done*, report)", f"{warm:.1f} s", f"{warm / cold:.2f}"),
    ]


def job_runtimes(workdir: Path) -> list[int]:
    """Run time (s) of each SLURM job that wrote out/*.txt (``scontrol show job``; MinJobAge keeps them)."""
    out = []
    for f in (workdir / "out").glob("*.txt"):
        info = subprocess.run(["scontrol", "show", "job", f.read_text().strip()], capture_output=True,
                              text=True, check=False).stdout
        m = re.search(r"RunTime=(\d+):(\d+):(\d+)", info)
        if m:
            h, mi, se = map(int, m.groups())
            out.append(h * 3600 + mi * 60 + se)
    return out


def snakemake(workdir: Path, n: int, *extra: str) -> float:
    (workdir / "Snakefile").write_text(SNAKEFILE.replace("range(N)", f"range({n})"))
    shutil.rmtree(workdir / "out", ignore_errors=True)
    shutil.rmtree(workdir / ".snakemake", ignore_errors=True)
    took, proc = timed(["timeout", "-s", "KILL", "300", sys.executable, "-m", "snakemake", "--jobs", "4",
                        "--cores", "4", *extra], cwd=workdir)
    if proc.returncode:
        raise SystemExit(f"snakemake failed: {proc.stderr[-2000:]}")
    return took


def slurm_runs() -> list[tuple[str, str, str]]:
    t0 = time.monotonic()
    up = subprocess.run(["bash", str(CLUSTER / "slurm-up.sh")], capture_output=True, text=True, check=False)
    setup = time.monotonic() - t0
    if up.returncode:
        return [("SLURM", f"skipped: {up.stderr.strip()[:80]}", "")]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            local1 = statistics.median(snakemake(work, 1) for _ in range(3))
            slurm1 = statistics.median(snakemake(work, 1, *SLURM) for _ in range(3))
            local4 = snakemake(work, 4)
            slurm4 = snakemake(work, 4, *SLURM)
            runtimes = job_runtimes(work)
    finally:
        t1 = time.monotonic()
        subprocess.run(["bash", str(CLUSTER / "slurm-down.sh")], check=False)
        down = time.monotonic() - t1
    return [
        ("`slurm-up.sh`, 2 nodes, packages installed", f"{setup:.1f} s", ""),
        ("`slurm-down.sh`", f"{down:.1f} s", ""),
        ("1-job workflow, local executor (median of 3)", f"{local1:.1f} s", "1"),
        ("1-job workflow, SLURM executor (median of 3)", f"{slurm1:.1f} s", f"{slurm1 / local1:.1f}x"),
        ("4 independent jobs, local executor", f"{local4:.1f} s", "1"),
        ("4 independent jobs, SLURM (2 nodes x 2 CPUs)", f"{slurm4:.1f} s", f"{slurm4 / local4:.1f}x"),
        ("run time of each of those SLURM jobs (`scontrol show job`: the job's own Snakemake process)",
         f"{min(runtimes, default=0)}-{max(runtimes, default=0)} s", ""),
    ]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rows = demo_runs()
    if os.geteuid() == 0:
        rows += slurm_runs()
    else:
        rows.append(("SLURM", "skipped: needs root", ""))
    print("| measurement | value | ratio |\n| --- | --- | --- |")
    for name, value, ratio in rows:
        print(f"| {name} | {value} | {ratio} |")


if __name__ == "__main__":
    main()
