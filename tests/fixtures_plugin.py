"""Fixtures for the storage plugin tests: a seeded majora-lite, logged-in homes, and a Snakemake runner.

Snakemake always runs as a real subprocess (``python -m snakemake``) in a temporary directory, with
``SNAKEMAKE_MAJORA_HOME`` pointing at a home that was logged in through the real OAuth flow.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fixtures_client import MajoraHome
from fixtures_server import start_lite

PLUGIN_BIOSAMPLES = 240

__all__ = ["plugin_env", "plugin_lite"]


class PluginHome(MajoraHome):
    """The client tests' logged-in home, plus what Snakemake runs need (the venv's scripts on PATH)."""

    def __init__(self, lite: Any, root: Path, **kw: Any) -> None:
        super().__init__(lite, root, **kw)
        # jobs find `snakemake-majora` and `python` of this venv, as they would after `pip install`
        self.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{self.env.get('PATH', '')}"

    @property
    def config_file(self) -> Path:
        return self.home / "config.yaml"

    def client(self) -> Any:
        from snakemake_majora.client import MajoraClient
        from snakemake_majora.config import load_settings

        return MajoraClient(load_settings(config_file=self.config_file, token_file=self.token_file,
                                          env=self.env))


def login_home(lite: Any, path: Path) -> PluginHome:
    """A home for ``lite`` under ``path``, logged in through the real OAuth flow."""
    path.mkdir(parents=True, exist_ok=True)
    return PluginHome(lite, path)


def existing_samples(home: PluginHome, n: int) -> list[str]:
    """``n`` biosample ids that exist, found through the public validity API (one batch call)."""
    orgs = home.lite.seed_summary["organisations"]
    candidates = [f"{org}-{i:05d}" for i in range(1, PLUGIN_BIOSAMPLES + 1) for org in orgs]
    valid = home.client().biosample_validity(candidates)
    ids = sorted(k for k, v in valid.items() if v.get("exists"))
    assert len(ids) >= n, f"only {len(ids)} seeded biosamples found"
    return ids[:n]


@dataclass
class PluginEnv:
    lite: Any
    home: PluginHome
    samples: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def plugin_lite(tmp_path_factory):
    """A majora-lite for the plugin tests only (they change records), with dataview PHE1 granted."""
    handle = start_lite(tmp_path_factory.mktemp("plugin-lite"), biosamples=PLUGIN_BIOSAMPLES)
    try:
        handle.server.grant_dataview(handle.username, "PHE1")
        yield handle
    finally:
        handle.server.stop()


@pytest.fixture(scope="session")
def plugin_env(plugin_lite, tmp_path_factory) -> PluginEnv:
    """A logged-in home shared by the plugin tests, and 220 existing biosample ids."""
    home = login_home(plugin_lite, tmp_path_factory.mktemp("plugin-home"))
    return PluginEnv(lite=plugin_lite, home=home, samples=existing_samples(home, 220))


def run_snakemake(workdir: Path, env: dict[str, str], *args: str, snakefile: str | None = None,
                  timeout: float = 240) -> subprocess.CompletedProcess:
    """Run ``python -m snakemake`` in ``workdir`` (writing ``snakefile`` first, if given)."""
    workdir.mkdir(parents=True, exist_ok=True)
    if snakefile is not None:
        (workdir / "Snakefile").write_text(textwrap.dedent(snakefile))
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args], cwd=workdir, env=env, capture_output=True, text=True,
        timeout=timeout,
    )


def output_of(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout + proc.stderr


def jobs_run(proc: subprocess.CompletedProcess, rule: str) -> int:
    """How many jobs of ``rule`` Snakemake started in this run."""
    heads = (f"localrule {rule}:", f"rule {rule}:")
    return sum(1 for line in output_of(proc).splitlines() if line.strip() in heads)


def assert_no_secrets(home: PluginHome, workdir: Path, *texts: str) -> None:
    """No token or client secret in Snakemake's logs, the captured output, or job scripts left behind."""
    corpus = list(texts)
    for pattern in (".snakemake/log/*", ".snakemake/tmp.*/*", "logs/**/*", "*.log"):
        for f in workdir.glob(pattern):
            if f.is_file():
                corpus.append(f.read_text(errors="replace"))
    secrets = home.secrets()
    assert len(secrets) >= 3  # the client secret, the password, access and refresh tokens
    for secret in secrets:
        for text in corpus:
            assert secret not in text, "a secret leaked into a log or the captured output"
