"""The daily-batch wrapper for cron/systemd (contrib/scheduling/majora-daily-batch.sh): no overlapping
runs, a loud health check, and a valid per-day config for the real workflow."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import yaml
from fixtures_client import MajoraHome
from workflow_helpers import write_config

from snakemake_majora.config import DEFAULT_SCOPES
from snakemake_majora.demo import PUBLISH_SCOPES

SCRIPT = Path(__file__).resolve().parent.parent / "contrib" / "scheduling" / "majora-daily-batch.sh"
BIN = str(Path(sys.executable).parent)


def run_batch(home: MajoraHome, work: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**home.env, "PATH": os.pathsep.join([BIN, os.environ["PATH"]]),
            "MAJORA_BATCH_WORKDIR": str(work), **env}
    return subprocess.run(["bash", str(SCRIPT)], env=full, capture_output=True, text=True, timeout=240,
                          check=False)


def test_second_run_does_not_start_while_the_first_holds_the_lock(lite, tmp_path: Path) -> None:
    home = MajoraHome(lite, tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    with open(work / ".daily-batch.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # "the first run"
        res = run_batch(home, work, SNAKEMAKE="false")  # would fail with 1 if it got that far
    assert res.returncode == 75, res.stderr
    assert "another batch run still holds" in res.stderr
    assert not (work / "config" / "daily").exists()


def test_health_check_fails_loudly_when_login_is_needed(lite, tmp_path: Path) -> None:
    home = MajoraHome(lite, tmp_path, login=False)
    work = tmp_path / "work"
    work.mkdir()
    res = run_batch(home, work, SNAKEMAKE="false")
    assert res.returncode == 77, res.stderr
    assert "MAJORA RE-LOGIN NEEDED" in res.stderr
    assert "snakemake-majora login" in res.stderr
    assert "state: missing" in res.stderr  # `snakemake-majora status` says why


def test_daily_batch_of_a_day_without_pags_succeeds_with_an_empty_manifest(lite, tmp_path: Path) -> None:
    """The per-day overlay passes the workflow's schema, its PAG query reaches Majora, and a day with
    nothing published (a Sunday, a holiday) is a successful, empty batch, not a failure."""
    # The workflow publishes (publish.enabled), so its onstart preflight() wants the publish scopes.
    home = MajoraHome(lite, tmp_path, scopes=[*DEFAULT_SCOPES, *PUBLISH_SCOPES])
    work = tmp_path / "work"
    write_config(work, {"samples": ["BIRM-00001"]})
    res = run_batch(home, work, MAJORA_BATCH_DATE="2021-01-01", MAJORA_BATCH_ARGS="--cores 2")
    assert res.returncode == 0, res.stderr[-3000:]
    overlay = yaml.safe_load((work / "config" / "daily" / "2021-01-01.yaml").read_text())
    assert overlay["batch"]["pag"]["published_after"] == "2020-12-31"
    assert overlay["batch"]["pag"]["published_before"] == "2021-01-02"
    lines = (work / "results" / "2021-01-01" / "manifest.tsv").read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("central_sample_id\t")
    assert (work / "results" / "2021-01-01" / "plots" / "qc_pass_fail.png").stat().st_size > 0
