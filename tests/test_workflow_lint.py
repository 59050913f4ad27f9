"""The example workflow is lint-clean (`snakemake --lint`) and snakefmt-formatted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from workflow_helpers import REPO, snakemake, write_config


def test_snakemake_lint_reports_nothing(tmp_path: Path) -> None:
    work = tmp_path / "work"
    write_config(work, {"samples": ["BIRM-00001"]})
    proc = snakemake(work, None, "--lint", kill_after=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Lints for" not in proc.stdout + proc.stderr


def test_rules_are_snakefmt_formatted() -> None:
    snakefmt = Path(sys.executable).parent / "snakefmt"
    proc = subprocess.run([str(snakefmt), "--check", "--diff", str(REPO / "workflow")], capture_output=True,
                          text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
