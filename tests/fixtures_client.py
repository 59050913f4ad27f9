"""Fixtures for the client tests: a configured snakemake-majora home logged in to a majora-lite server.

``majora_home`` logs in for real: ``login --url-only``, the harness approves the authorize URL as the
user, then ``login --callback-url``. Worker processes (tests/workers/token_worker.py) inherit ``env``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fixtures_server import start_lite

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).parent / "workers" / "token_worker.py"
CLI = [sys.executable, "-m", "snakemake_majora.cli"]
# Variables from the developer's shell that would leak into resolution.
_SCRUB = ("MAJORA_", "CLIENT_ID", "CLIENT_SECRET", "SNAKEMAKE_MAJORA_", "OCARINA_", "XDG_CONFIG_HOME")


class MajoraHome:
    """A snakemake-majora home (config + token store) bound to one majora-lite server."""

    def __init__(self, lite: Any, root: Path, *, login: bool = True, api_key: str | None = None,
                 scopes: list[str] | None = None, username: str | None = None,
                 password: str | None = None) -> None:
        self.lite = lite
        self.root = root
        self.home = root / "smh"
        self.home.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}
        env.update(SNAKEMAKE_MAJORA_HOME=str(self.home), HOME=str(root), PYTHONPATH=str(ROOT),
                   OCARINA_CONF_FILE=str(root / "no-ocarina"))
        self.env = env
        self.username = username or lite.username
        self.password = password or lite.password
        prof: dict[str, Any] = {"domain": lite.url, "user": self.username}
        if scopes:
            prof["scopes"] = list(scopes)
        if api_key:
            prof["api_key"] = api_key
        else:
            prof.update(client_id=lite.client_id, client_secret=lite.client_secret)
        cfg = self.home / "config.yaml"
        fd = os.open(cfg, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"default_profile": "test", "profiles": {"test": prof}}, fh)  # JSON is valid YAML
        if login and not api_key:
            self.login()

    # -- CLI ------------------------------------------------------------------------------------------
    def cli(self, *args: str, check: bool = True, timeout: float = 120,
            **kw: Any) -> subprocess.CompletedProcess:
        res = subprocess.run([*CLI, *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                             **kw)
        if check and res.returncode != 0:
            raise AssertionError(f"snakemake-majora {' '.join(args)} exited {res.returncode}: {res.stderr}")
        return res

    def login(self) -> None:
        url = self.cli("login", "--url-only").stdout.strip()
        callback = self.lite.approve(url, self.username, self.password)
        self.cli("login", "--callback-url", callback)

    # -- store ------------------------------------------------------------------------------------------
    @property
    def token_file(self) -> Path:
        files = [p for p in (self.home / "tokens").glob("*.json")]
        assert len(files) == 1, files
        return files[0]

    def read_store(self) -> dict[str, Any]:
        return json.loads(self.token_file.read_text())

    def expire_in(self, seconds: float) -> dict[str, Any]:
        """Rewrite the store so that the token seems to expire in ``seconds`` (server side unchanged)."""
        data = self.read_store()
        lifetime = data["expires_at"] - data["obtained_at"]
        data["expires_at"] = time.time() + seconds
        data["obtained_at"] = data["expires_at"] - lifetime  # as if obtained long ago
        tmp = self.token_file.with_suffix(".edit")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        os.replace(tmp, self.token_file)
        return data

    def secrets(self) -> set[str]:
        """Every secret this home has seen so far (current store + client secret + password)."""
        out = {self.lite.client_secret, self.lite.password}
        if (self.home / "tokens").exists():
            for p in (self.home / "tokens").glob("*.json"):
                data = json.loads(p.read_text())
                out |= {data["access_token"], data["refresh_token"]}
        return {s for s in out if s}

    # -- workers ----------------------------------------------------------------------------------------
    def spawn(self, n: int, spec: dict[str, Any], barrier: Path | None = None,
              specs: list[dict[str, Any]] | None = None) -> list[subprocess.Popen]:
        """Start ``n`` worker processes; they wait on ``barrier`` (a file to appear) once ready."""
        barrier = barrier or (self.root / f"go-{time.monotonic_ns()}")
        procs = []
        for i in range(n):
            s = dict(specs[i] if specs else spec)
            s.setdefault("barrier", str(barrier))
            procs.append(subprocess.Popen([sys.executable, str(WORKER), json.dumps(s)], env=self.env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        self._barrier = barrier
        return procs

    def release(self, procs: list[subprocess.Popen], timeout: float = 120) -> None:
        """Wait until every worker is ready, then create the barrier file."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = len(list(self._barrier.parent.glob(self._barrier.name + ".ready.*")))
            if ready >= len(procs):
                break
            if any(p.poll() is not None for p in procs):
                break
            time.sleep(0.05)
        self._barrier.touch()

    @staticmethod
    def results(procs: list[subprocess.Popen], timeout: float = 180) -> list[dict[str, Any]]:
        out = []
        for p in procs:
            stdout, stderr = p.communicate(timeout=timeout)
            lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
            res = json.loads(lines[-1]) if lines else {"ok": 0, "fail": 1, "errors": [f"crashed: "
                                                                                      f"{stderr[-500:]}"]}
            res["stderr"], res["returncode"] = stderr, p.returncode
            out.append(res)
        return out


@pytest.fixture
def majora_home(lite, tmp_path):
    """A home logged in (for real) to the shared ``lite`` server."""
    return MajoraHome(lite, tmp_path)


@pytest.fixture(scope="session")
def strict_lite_server(tmp_path_factory):
    """The one strict majora-lite of the session (ten modules use it: one start instead of ten)."""
    handle = start_lite(tmp_path_factory.mktemp("lite-strict"), biosamples=10, strict=True)
    try:
        yield handle
    finally:
        handle.server.stop()


@pytest.fixture(scope="module")
def strict_lite(strict_lite_server):
    """A majora-lite with reuse protection (a duplicate refresh revokes the whole token family), as each
    module found its own: no faults and counters at zero when the module starts. Token families are per
    home, so what one module's negative controls revoke never touches another's."""
    strict_lite_server.clear_faults()
    strict_lite_server.reset_counters()
    return strict_lite_server


@pytest.fixture
def strict_home(strict_lite, tmp_path):
    """A logged-in home on ``strict_lite``, with the server's faults cleared and counters reset."""
    strict_lite.clear_faults()
    home = MajoraHome(strict_lite, tmp_path)
    strict_lite.reset_counters()
    return home
