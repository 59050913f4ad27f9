"""Running the example workflow (workflow/Snakefile) in a test: config, snakemake, the manifest."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
SNAKEFILE = REPO / "workflow" / "Snakefile"
LAB_QC = REPO / "resources" / "lab-qc"
QC_TEST = "cog-uk-elan-minimal-qc"


def write_config(workdir: Path, batch: dict[str, Any], publish: dict[str, Any] | None = None,
                 **overrides: Any) -> Path:
    """``workdir/config/config.yaml``: the shipped config, ``batch`` replaced, the lab QC dir absolute,
    ``publish`` keys changed."""
    conf = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    conf["batch"] = {"name": "test-batch", **batch}
    conf["lab_qc"]["dir"] = str(LAB_QC)
    conf["publish"].update(publish or {})
    conf.update(overrides)
    path = workdir / "config" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(conf, sort_keys=False))
    return path


def snakemake(workdir: Path, env: dict[str, str] | None, *args: str,
              kill_after: int = 240) -> subprocess.CompletedProcess[str]:
    """The workflow in ``workdir`` under ``timeout -s KILL`` (a lost SLURM job must not hang the suite);
    ``env`` None: this process's environment."""
    cmd = ["timeout", "-s", "KILL", str(kill_after), sys.executable, "-m", "snakemake",
           "--snakefile", str(SNAKEFILE), "--directory", str(workdir), *args]
    env = env if env is not None else dict(os.environ)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)


def manifest(workdir: Path) -> list[dict[str, str]]:
    with open(workdir / "results" / "manifest.tsv", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def calls(counters: dict[str, Any], endpoint: str) -> int:
    """How many calls of ``endpoint`` (e.g. ``meta/metric/add``) the server answered."""
    return sum(n for path, n in counters.get("paths", {}).items() if endpoint in path)


def metric_adds(counters: dict[str, Any]) -> int:
    """How many ``meta/metric/add`` calls the server answered."""
    return calls(counters, "meta/metric/add")
