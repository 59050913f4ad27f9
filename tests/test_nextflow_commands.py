"""The Nextflow example (contrib/nextflow/main.nf) without Nextflow: run its beforeScript and its
processes' scripts exactly as a task would, against majora-lite."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from fixtures_client import MajoraHome

NF_DIR = Path(__file__).resolve().parent.parent / "contrib" / "nextflow"
MAIN_NF = (NF_DIR / "main.nf").read_text()
MIN_TTL = re.search(r"params\.min_ttl = (\d+)", MAIN_NF).group(1)
BEFORE = re.search(r'beforeScript "(.+)"', MAIN_NF).group(1).replace("${params.min_ttl}", MIN_TTL)


def task_env(home: MajoraHome) -> dict[str, str]:
    """A task's environment: Nextflow puts the pipeline's bin/ on PATH; snakemake-majora is installed."""
    path = os.pathsep.join([str(NF_DIR / "bin"), str(Path(sys.executable).parent), os.environ["PATH"]])
    return {**home.env, "PATH": path}


def task(cmd: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def test_before_script_fetch_and_summarise(majora_home: MajoraHome, tmp_path: Path) -> None:
    env = task_env(majora_home)
    before = task(BEFORE, tmp_path, env)
    assert before.returncode == 0, before.stderr
    assert before.stdout == "" and before.stderr == ""  # the token went to /dev/null, nothing else said

    for sid in ("BIRM-00001", "CAMB-00002"):
        fetched = task(f"fetch_biosample.sh {sid}", tmp_path, env)
        assert fetched.returncode == 0, fetched.stderr
        record = json.loads((tmp_path / f"{sid}.json").read_text())
        assert record[sid]["central_sample_id"] == sid

    summary = task("summarise_biosamples.py BIRM-00001.json CAMB-00002.json", tmp_path, env)
    assert summary.returncode == 0, summary.stderr
    rows = list(csv.DictReader(summary.stdout.splitlines(), delimiter="\t"))
    assert [r["central_sample_id"] for r in rows] == ["BIRM-00001", "CAMB-00002"]
    assert rows[0]["adm1"] == "UK-ENG"

    secrets = majora_home.secrets()
    for out in (before, fetched, summary):
        assert not any(s in out.stdout + out.stderr for s in secrets)


def test_unknown_sample_fails_the_task_with_exit_66(majora_home: MajoraHome, tmp_path: Path) -> None:
    res = task("fetch_biosample.sh NOPE-99999", tmp_path, task_env(majora_home))
    assert res.returncode == 66
    assert "NOPE-99999" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "NOPE-99999.json").exists()  # no half-written output for storeDir to keep


def test_before_script_fails_with_77_when_login_is_needed(lite, tmp_path: Path) -> None:
    home = MajoraHome(lite, tmp_path, login=False)
    res = task(BEFORE, tmp_path, task_env(home))
    assert res.returncode == 77, res.stderr
    assert "login" in res.stderr and "Traceback" not in res.stderr


def test_parallel_tasks_share_one_refresh(strict_lite, tmp_path: Path) -> None:
    """Eight tasks start together with an expiring token on a strict server: one refresh, no reuse."""
    home = MajoraHome(strict_lite, tmp_path)
    home.expire_in(1)
    strict_lite.server.reset_counters()
    env = task_env(home)
    procs = [subprocess.Popen(["bash", "-c", f"{BEFORE} && fetch_biosample.sh BIRM-00001"], cwd=tmp_path,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(8)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert all(rc == 0 for rc, _ in results), results
    counters = strict_lite.counters()
    assert counters["refreshes"] == 1
    assert counters["invalid_grant"] == 0 and counters["family_revocations"] == 0
