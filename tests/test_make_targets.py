"""`make demo` installs only the server and workflow extras, `make test` the dev extra too, and the two
share `.venv` in either order (checked with `make -n` on a copy of the Makefile: nothing is installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO_INSTALL = "pip install -q -e '.[server,workflow]'"
FULL_INSTALL = "pip install -q -e '.[server,dev,workflow]'"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def plan(d: Path, target: str) -> str:
    return subprocess.run(["make", "-n", target], cwd=d, capture_output=True, text=True, check=True).stdout


def _copy(tmp_path: Path) -> Path:
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def _made(d: Path, *stamps: str) -> None:
    (d / ".venv" / "bin").mkdir(parents=True, exist_ok=True)
    for stamp in ("bin/python", *stamps):
        (d / ".venv" / stamp).touch()


def test_demo_first_installs_only_what_the_demo_runs_then_test_adds_dev(tmp_path):
    d = _copy(tmp_path)
    demo = plan(d, "demo")
    assert "-m venv .venv" in demo and DEMO_INSTALL in demo and "dev" not in demo
    _made(d, ".demo-installed")
    test = plan(d, "test")
    assert FULL_INSTALL in test and "-m venv" not in test


def test_test_first_then_demo_installs_nothing_more(tmp_path):
    d = _copy(tmp_path)
    assert FULL_INSTALL in plan(d, "test")
    _made(d, ".installed", ".demo-installed")  # the full install stamps both
    demo = plan(d, "demo")
    assert "pip install" not in demo and "-m snakemake_majora.demo" in demo
