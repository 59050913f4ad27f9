"""``LiteServer``: start and drive a majora-lite subprocess (tests, the demo, benchmarks, users' CI).

Uses only the standard library, ``requests`` and subprocesses; Django never loads in the caller.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

ALL = "all"
DB_NAME = "majora-lite.sqlite3"
#: Migrated empty databases, one per Python interpreter: a fresh migrate takes seconds, a copy does not.
_TEMPLATES: dict[str, Path] = {}


class LiteServerError(RuntimeError):
    """majora-lite could not be started or an admin command failed (message includes the log tail)."""


class LiteServer:
    """A majora-lite server in its own process group, with admin helpers.

    Admin helpers may be called before or after ``start()``; they run ``setup`` subprocesses with the
    spec (and any password) on stdin, never on the command line.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike,
        *,
        strict: bool = False,
        access_token_lifetime: int = 36000,
        grace: int = 0,
        threads: int = 16,
        max_active: int | None = None,
        faults: list[dict] | None = None,
        host: str = "127.0.0.1",
        start_timeout: float = 60.0,
        python: str | None = None,
        env: dict[str, str] | None = None,
        zana: str | None = None,
        port: int = 0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # tokens and keys go in there
        self.strict, self.grace, self.threads = strict, grace, threads
        self.max_active = max_active
        self.access_token_lifetime = access_token_lifetime
        self.faults, self.host, self.start_timeout = faults, host, start_timeout
        self.python = python or sys.executable
        self.env = env
        self.zana = zana
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None
        self.port: int | None = None
        self.requested_port = port  # 0: a free one, new on every start
        self.log_path = self.data_dir / "server.log"
        self._http = requests.Session()

    # ------------------------------------------------------------------ admin commands

    def _cli(self, *args: str, stdin: str | None = None) -> str:
        cmd = [self.python, "-m", "majora_lite", *args]
        res = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=300)
        if res.returncode != 0:
            raise LiteServerError(
                f"majora-lite {args[0]} failed (exit {res.returncode}): {res.stderr.strip()}"
            )
        return res.stdout

    def _ensure_db(self) -> None:
        """Start a fresh data dir from a copy of an already-migrated empty database."""
        db = self.data_dir / DB_NAME
        if db.exists():
            return
        template = _TEMPLATES.get(self.python)
        if template is None or not template.exists():
            tdir = Path(tempfile.mkdtemp(prefix="majora-lite-template-"))
            atexit.register(shutil.rmtree, tdir, True)
            self._cli("setup", "--data-dir", str(tdir), "--spec", "-", stdin="{}")
            template = _TEMPLATES[self.python] = tdir / DB_NAME
        tmp = db.with_name(f".{DB_NAME}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(template, "rb") as src, os.fdopen(fd, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(tmp, db)

    def setup(self, spec: dict) -> dict:
        """Run a batch (``seed``, ``users``, ``apps``, ``apikeys``, ``dataviews``) in one process."""
        self._ensure_db()
        out = self._cli("setup", "--data-dir", str(self.data_dir), "--spec", "-", stdin=json.dumps(spec))
        return json.loads(out)

    def seed(self, biosamples: int = 200, seed: int = 1) -> dict:
        return self.setup({"seed": {"biosamples": biosamples, "seed": seed}})["seed"]

    def add_user(
        self,
        username: str,
        password: str,
        perms: list[str] | str | None = None,
        org: str = "HOOT",
        totp: bool = True,
    ) -> dict:
        """Create a user; ``perms`` is a list of ``majora2.<codename>`` or ``"all"``.

        Users made here get a TOTP device unless ``totp`` is false: they exist to log in, and Majora
        refuses tokens to users without one (the admin CLI and setup spec default to no device).
        """
        user = {"username": username, "password": password, "org": org, "totp": totp}
        if perms == ALL:
            user["all_perms"] = True
        elif perms:
            user["perms"] = list(perms)
        return self.setup({"users": [user]})["users"][0]

    def add_app(self, name: str, redirect_uris: list[str] | None = None) -> dict:
        app: dict[str, Any] = {"name": name}
        if redirect_uris:
            app["redirect_uris"] = redirect_uris
        return self.setup({"apps": [app]})["apps"][0]

    def apikey(self, user: str, days: float = 3, permission: str | None = None) -> str:
        return self.setup({"apikeys": [{"username": user, "days": days, "permission": permission}]})[
            "apikeys"
        ][0]["key"]

    def grant_dataview(self, user: str, code: str, days: float = 30) -> dict:
        return self.setup({"dataviews": [{"username": user, "mdv": code, "days": days}]})["dataviews"][0]

    # ------------------------------------------------------------------ process

    def start(self) -> LiteServer:
        """Spawn ``start`` (on ``port``, or a free one) and wait for ``server.json``; raises with the
        server log on failure."""
        if self.proc is not None:
            return self
        self._ensure_db()
        self._http = requests.Session()
        info = self.data_dir / "server.json"
        info.unlink(missing_ok=True)
        cmd = [
            self.python,
            "-m",
            "majora_lite",
            "start",
            "--data-dir",
            str(self.data_dir),
            "--host",
            self.host,
            "--port",
            str(self.requested_port),
            "--threads",
            str(self.threads),
            "--access-token-lifetime",
            str(self.access_token_lifetime),
            "--grace",
            str(self.grace),
        ]
        if self.max_active is not None:
            cmd += ["--max-active", str(self.max_active)]
        if self.strict:
            cmd.append("--strict")
        if self.zana:
            cmd += ["--zana", self.zana]
        if self.faults:
            cmd += ["--faults", json.dumps(self.faults)]
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, **self.env} if self.env else None,
            )
        finally:
            log.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                data = json.loads(info.read_text())
                if data.get("pid") == self.proc.pid:
                    self.url, self.port = data["url"], int(data["port"])
                    # /_lite/* answers only requests carrying the secret the server wrote at start.
                    self._http.headers.update(self.admin_headers())
                    return self
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        tail = self._log_tail()
        self.stop()
        raise LiteServerError(f"majora-lite did not start within {self.start_timeout:.0f}s; log:\n{tail}")

    def _log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL if it has not exited within ``timeout``."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(5)
        self._http.close()

    def __enter__(self) -> LiteServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ HTTP helpers

    def _need_url(self) -> str:
        if not self.url:
            raise LiteServerError("majora-lite is not running; call start() first")
        return self.url

    def approve(self, authorize_url: str, username: str, password: str) -> str:
        """Log in and approve ``authorize_url`` in-process; returns the full callback URL."""
        from majora_lite.ops.approve import approve

        return approve(self._need_url(), username, password, authorize_url, data_dir=self.data_dir)

    def admin_headers(self) -> dict[str, str]:
        """The header ``/_lite/*`` requires (the data directory's ``admin_secret``), for raw requests."""
        from majora_lite.ops.lite_admin import LiteAdminError, headers

        try:
            return headers(self.data_dir)
        except LiteAdminError as exc:
            raise LiteServerError(str(exc)) from None

    def set_faults(self, rules: list[dict]) -> list[dict]:
        r = self._http.post(self._need_url() + "_lite/faults", json=rules, timeout=10)
        if r.status_code != 200:
            raise LiteServerError(r.json().get("detail", r.text))
        return r.json()["rules"]

    def clear_faults(self) -> None:
        self._http.delete(self._need_url() + "_lite/faults", timeout=10).raise_for_status()

    def counters(self) -> dict:
        r = self._http.get(self._need_url() + "_lite/counters", timeout=10)
        r.raise_for_status()
        return r.json()

    def reset_counters(self) -> None:
        self._http.post(self._need_url() + "_lite/counters/reset", timeout=10).raise_for_status()

    def biosample_revision(self, central_sample_id: str) -> int:
        """Internal revision of a biosample: bumped only when an add/update changes its content."""
        r = self._http.get(self._need_url() + f"_lite/biosample/{central_sample_id}", timeout=10)
        r.raise_for_status()
        return int(r.json()["revision"])
