"""`make demo` installs only the server and workflow extras, `make test` the dev extra too, and the two
share `.venv` in either order (checked with `make -n` on a copy of the Makefile: nothing is installed)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
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


def _lane_expr(plan_text: str, target: str) -> str:
    line = next(ln for ln in plan_text.splitlines() if "-m pytest" in ln)
    match = re.search(r' -m "([^"]*)"', line)
    assert match, f"`make {target}` runs pytest without a marker expression: {line}"
    return match.group(1)


def test_make_test_deselects_exactly_the_registered_lanes_and_test_lanes_runs_them(tmp_path):
    """The lanes `make test` leaves out are the markers pyproject.toml registers for them (and that
    tests/lanes.py reports), `make test-lanes` selects those, and `make test-all` selects everything."""
    from lanes import LANES

    registered = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    names = {m.split(":", 1)[0].strip() for m in registered["markers"]}
    assert set(LANES) <= names and "--strict-markers" in registered["addopts"]
    d = _copy(tmp_path)
    _made(d, ".installed", ".demo-installed")
    expected = " or ".join(LANES)
    test = plan(d, "test")
    assert _lane_expr(test, "test") == f"not ({expected})"
    assert "make test-lanes" in test  # the one-line hint before the run
    assert _lane_expr(plan(d, "test-lanes"), "test-lanes") == expected
    everything = [ln for ln in plan(d, "test-all").splitlines() if "-m pytest" in ln]
    assert everything and " -m " not in everything[0].split("-m pytest", 1)[1]
    readme = (ROOT / "README.md").read_text()
    assert "make test-lanes" in readme and "make test-all" in readme
    assert all(f"`{lane}`" in readme for lane in LANES)


def test_a_run_that_deselects_a_lane_says_so_at_its_end():
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "-m", "not cluster", "tests/test_plugin_cluster.py"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    said = "NOT RUN: the lanes cluster (2 tests) were deselected; `make test-lanes` runs them"
    assert said in proc.stdout, proc.stdout[-2000:]
