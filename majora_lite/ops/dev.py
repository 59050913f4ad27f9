"""``snakemake-majora server dev``: a local Majora for one's own workflows, in one command.

The first run seeds a data directory (COG-UK-like biosamples, runs, Majora's QC tests), makes a user
with a TOTP device (Majora issues tokens only to those) and an OAuth app, and picks a free port. Every
run starts majora-lite in the background on that same port (remembered in ``dev.json``), writes the
client's ``config.yaml`` into ``<data dir>/home`` and logs in there through the real authorization-code
flow, unless the stored token still works. The URL is the same after a restart, so the token (kept per
domain) is too: no new login. ``--stop`` stops the server.

The client side is driven through the ``snakemake-majora`` command line in subprocesses (the same code
path as a person's ``login --url-only`` / ``login --callback-url``); majora-lite never imports it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from majora_lite.ops.harness import LiteServer, LiteServerError
from majora_lite.server.serve import write_atomic  # 0600 here: the CLI runs commands under umask 077

STATE_FILE = "dev.json"
DEV_USER = "dev"
DEV_ORG = "BIRM"
BIOSAMPLES = 50
#: Majora's QC tests (as data), so that ``meta/qc/add`` works as on the real server.
QC_DEFINITIONS = Path(__file__).resolve().parent.parent / "data" / "qc"
#: The client's own environment must not leak in: the dev home is the only configuration.
CLIENT_ENV_DROP = (
    "SNAKEMAKE_MAJORA_CONFIG", "SNAKEMAKE_MAJORA_PROFILE", "SNAKEMAKE_MAJORA_TOKEN_FILE", "MAJORA_DOMAIN",
    "MAJORA_USER", "MAJORA_TOKEN", "MAJORA_CLIENT_ID", "MAJORA_CLIENT_SECRET", "CLIENT_ID", "CLIENT_SECRET",
)
EX_UNAVAILABLE, EX_SOFTWARE = 69, 70


class DevError(RuntimeError):
    """An expected failure of ``server dev``: one line, with the exit code."""

    def __init__(self, message: str, code: int = EX_UNAVAILABLE) -> None:
        super().__init__(message)
        self.code = code


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "majora-lite" / "dev"


def say(msg: str) -> None:
    print(f"majora-lite dev: {msg}", file=sys.stderr, flush=True)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _running(data_dir: Path) -> dict[str, Any] | None:
    """``server.json`` of a majora-lite that is still alive in ``data_dir``, else None (a file left by a
    reboot or a SIGKILL names a dead pid, or a reused one that does not hold the port)."""
    try:
        info = json.loads((data_dir / "server.json").read_text())
        os.kill(int(info["pid"]), 0)
        host = urlsplit(str(info["url"])).hostname or "127.0.0.1"
        if not _port_taken(host, int(info["port"])):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info


class DevServer:
    """The data directory of ``server dev`` and its steps."""

    def __init__(self, data_dir: Path, host: str = "127.0.0.1") -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.home = self.data_dir / "home"  # SNAKEMAKE_MAJORA_HOME: config.yaml + tokens/
        self.state_file = self.data_dir / STATE_FILE
        self.host = host
        self.lite = LiteServer(self.data_dir, host=host)
        env = {k: v for k, v in os.environ.items() if k not in CLIENT_ENV_DROP}
        env["SNAKEMAKE_MAJORA_HOME"] = str(self.home)
        env["OCARINA_CONF_FILE"] = str(self.home / "no-ocarina")  # never a real Ocarina setup
        self.client_env = env

    # -- state --------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Seed, user, app: once; later runs read ``dev.json``."""
        if self.state_file.exists():
            return json.loads(self.state_file.read_text())
        say(f"first run: seeding {self.data_dir} with {BIOSAMPLES} biosamples, user {DEV_USER!r} (with a "
            "TOTP device) and an OAuth app")
        password = secrets.token_urlsafe(16)
        out = self.lite.setup({
            "seed": {"biosamples": BIOSAMPLES},
            "users": [{"username": DEV_USER, "password": password, "org": DEV_ORG, "all_perms": True,
                       "totp": True}],
            "apps": [{"name": "snakemake-majora-dev"}],
            "qc": [str(QC_DEFINITIONS)],
        })
        state = {"username": DEV_USER, "password": password, "client_id": out["apps"][0]["client_id"],
                 "client_secret": out["apps"][0]["client_secret"], "port": None}
        self.save(state)
        return state

    def save(self, state: dict[str, Any]) -> None:
        write_atomic(self.state_file, json.dumps(state, indent=1) + "\n")

    def choose_port(self, state: dict[str, Any], port: int | None) -> int:
        """``--port`` if given (and remembered), else the remembered port, else a free one."""
        chosen = port or state.get("port") or _free_port(self.host)
        if chosen != state.get("port"):
            state["port"] = chosen
            self.save(state)
        return int(chosen)

    # -- server -------------------------------------------------------------------------------------
    def start(self, port: int) -> str:
        """Start majora-lite in the background on ``port`` (or reuse the one already running there)."""
        info = _running(self.data_dir)
        if info is not None:
            if int(info["port"]) != port:
                raise DevError(f"majora-lite is already running from {self.data_dir} on port "
                               f"{info['port']}; stop it with `snakemake-majora server dev --data-dir "
                               f"{self.data_dir} --stop` before changing the port")
            return str(info["url"])
        if _port_taken(self.host, port):
            raise DevError(f"port {port} on {self.host} is taken by another program; free it, or choose "
                           "another with --port N (the client then logs in again: the URL changes)")
        self.lite.requested_port = port
        try:
            self.lite.start()
        except LiteServerError as exc:
            raise DevError(str(exc)) from None
        # Detach: the server outlives this command (it is in its own session) until `--stop`.
        self.lite.proc = None
        assert self.lite.url is not None
        return self.lite.url

    def stop(self) -> bool:
        info = _running(self.data_dir)
        if info is None:
            return False
        pid = int(info["pid"])
        try:
            os.killpg(pid, signal.SIGTERM)  # started by `server dev`: its own process group
        except ProcessLookupError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)  # a `server start` run by hand in this data dir
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _running(self.data_dir) is not None:
            time.sleep(0.1)
        if _running(self.data_dir) is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return True

    # -- client -------------------------------------------------------------------------------------
    def write_client_config(self, url: str, state: dict[str, Any]) -> None:
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.home, 0o700)
        conf = {"domain": url, "user": state["username"], "client_id": state["client_id"],
                "client_secret": state["client_secret"]}
        text = yaml.safe_dump(conf, sort_keys=False)
        path = self.home / "config.yaml"
        if not path.exists() or path.read_text() != text:
            write_atomic(path, text)

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "snakemake_majora.cli", *args], env=self.client_env,
                              capture_output=True, text=True, input=stdin, check=False, timeout=300)

    def ensure_login(self, state: dict[str, Any]) -> bool:
        """Log in unless the stored token still works; True if a login happened."""
        if self.cli("status", "--json").returncode == 0:
            return False
        started = self.cli("login", "--url-only")
        if started.returncode != 0:
            raise DevError(f"login failed: {started.stderr.strip()}", started.returncode)
        callback = self.lite.approve(started.stdout.strip(), state["username"], state["password"])
        done = self.cli("login", "--callback-url", "-", stdin=callback)  # the code stays off argv
        if done.returncode != 0:
            raise DevError(f"login failed: {done.stderr.strip()}", done.returncode)
        return True


def run(data_dir: Path | None, port: int | None, stop: bool) -> int:
    """``server dev``: see the module docstring. Returns an exit status."""
    dev = DevServer(data_dir or default_data_dir())
    if stop:
        say(f"stopped majora-lite ({dev.data_dir})" if dev.stop() else
            f"majora-lite is not running from {dev.data_dir}")
        return 0
    try:
        dev.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        state = dev.state()
        url = dev.start(dev.choose_port(state, port))
        dev.lite.url = url
        dev.write_client_config(url, state)
        logged_in = dev.ensure_login(state)
    except DevError as exc:
        print(f"majora-lite dev: error: {exc}", file=sys.stderr)
        return exc.code
    say(f"majora-lite is running at {url} (log: {dev.lite.log_path}); stop it with "
        f"`snakemake-majora server dev --data-dir {shlex.quote(str(dev.data_dir))} --stop`")
    say(("logged in as " if logged_in else "still logged in as ") + f"{state['username']}; the token is in "
        f"{dev.home / 'tokens'}. Point snakemake-majora and Snakemake at it with the line below")
    print(f"export SNAKEMAKE_MAJORA_HOME={shlex.quote(str(dev.home))}", flush=True)
    return 0
