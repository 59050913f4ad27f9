"""``demo_run``: `make demo` (python -m snakemake_majora.demo) from scratch, once per session.

The demo test checks this first run and then runs the demo again on its state; the browser lane opens
its report. One run serves both (it is the slowest set-up of the suite, ~30 s on 2 quiet cores).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["demo_run"]

ROOT = Path(__file__).resolve().parent.parent


def demo(state: Path) -> subprocess.CompletedProcess[str]:
    """The demo in ``state`` with 6-second access tokens, without the caller's Majora settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAJORA_", "SNAKEMAKE_MAJORA_"))}
    return subprocess.run([sys.executable, "-m", "snakemake_majora.demo", "--dir", str(state),
                           "--token-lifetime", "6"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600, check=False)


@dataclass
class DemoRun:
    state: Path
    first: subprocess.CompletedProcess[str]


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> DemoRun:
    state = tmp_path_factory.mktemp("demo") / "demo-run"
    return DemoRun(state, demo(state))
