"""Fixtures for the storage plugin tests: a seeded majora-lite, logged-in homes, and a Snakemake runner.

Snakemake always runs as a real subprocess (``python -m snakemake``) in a temporary directory, with
``SNAKEMAKE_MAJORA_HOME`` pointing at a home that was logged in through the real OAuth flow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fixtures_server import start_lite

PLUGIN_BIOSAMPLES = 240


@dataclass
class MajoraHome:
    """A logged-in snakemake-majora home for one majora-lite server."""

    path: Path
    config_file: Path
    token_file: Path
    lite: Any

    @property
    def env(self) -> dict[str, str]:
        """Environment for subprocesses: this home, and nothing inherited that could point elsewhere."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MAJORA_", "SNAKEMAKE_MAJORA_"))}
        env["SNAKEMAKE_MAJORA_HOME"] = str(self.path)
        # jobs find `snakemake-majora` and `python` of this venv, as they would after `pip install`
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        return env

    def client(self) -> Any:
        from snakemake_majora.client import MajoraClient
        from snakemake_majora.config import load_settings

        settings = load_settings(config_file=self.config_file, token_file=self.token_file, env=self.env)
        return MajoraClient(settings)

    def secrets(self) -> list[str]:
        """Every secret a log must never show: tokens in the store and the app's client secret."""
        found = [self.lite.client_secret]
        for f in self.token_file.parent.glob("*.json"):
            try:
                data = json.loads(f.read_text())
            except (OSError, ValueError):
                continue
            found += [str(v) for k, v in data.items() if "token" in k and isinstance(v, str) and len(v) > 8]
        return sorted(set(found))


def login_home(lite: Any, path: Path) -> MajoraHome:
    """Write a config for ``lite`` and log in with the real authorization-code flow (no CLI, no prompt)."""
    from snakemake_majora.config import load_settings
    from snakemake_majora.credentials import CredentialManager
    from snakemake_majora.login import finish_login, start_login

    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    cfg = path / "config.yaml"
    cfg.write_text(
        f"domain: {lite.url}\nuser: {lite.username}\nclient_id: {lite.client_id}\n"
        f"client_secret: {lite.client_secret}\n"
    )
    cfg.chmod(0o600)
    settings = load_settings(config_file=cfg, env={"SNAKEMAKE_MAJORA_HOME": str(path)})
    mgr = CredentialManager(settings)
    finish_login(mgr, lite.approve(start_login(mgr), lite.username, lite.password))
    return MajoraHome(path=path, config_file=cfg, token_file=Path(mgr.path), lite=lite)


def existing_samples(home: MajoraHome, n: int) -> list[str]:
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
    home: MajoraHome
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
    home = login_home(plugin_lite, tmp_path_factory.mktemp("plugin-home") / "home")
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


def assert_no_secrets(home: MajoraHome, workdir: Path, *texts: str) -> None:
    """No token or client secret in Snakemake's logs, the captured output, or job scripts left behind."""
    corpus = list(texts)
    for pattern in (".snakemake/log/*", ".snakemake/tmp.*/*", "logs/**/*", "*.log"):
        for f in workdir.glob(pattern):
            if f.is_file():
                corpus.append(f.read_text(errors="replace"))
    secrets = home.secrets()
    assert len(secrets) >= 3  # the client secret plus access and refresh tokens
    for secret in secrets:
        for text in corpus:
            assert secret not in text, "a secret leaked into a log or the captured output"
