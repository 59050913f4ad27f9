"""A second local account for the multi-user attacks of issue 18 (another user on the same machine).

``other_user`` creates a throwaway system account once (``useradd``, root only) and runs a function as it
in a forked child (``setgid``/``setuid``): the attacker's steps are real system calls by another uid.
Without root the tests that need it are skipped with the reason (CI runs them as root).
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import traceback
from collections.abc import Callable
from typing import Any

import pytest

NAME = "smj-intruder"
GROUP = "smj-shared"  # a project group the intruder belongs to


class OtherUser:
    def __init__(self, uid: int, gid: int) -> None:
        self.uid, self.gid = uid, gid

    def shared_group(self) -> int:
        """The gid of a group this user is a member of (created once)."""
        import grp

        try:
            group = grp.getgrnam(GROUP)
        except KeyError:
            subprocess.run(["groupadd", "--system", GROUP], capture_output=True)
            group = grp.getgrnam(GROUP)
        if NAME not in group.gr_mem:
            subprocess.run(["usermod", "-aG", GROUP, NAME], capture_output=True, check=True)
        return group.gr_gid

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` as this user in a forked child; returns its (JSON) result or raises its error."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            os.close(r)
            try:
                os.setgroups([])
                os.setgid(self.gid)
                os.setuid(self.uid)
                out = {"ok": fn(*args)}
            except BaseException as exc:
                out = {"error": f"{type(exc).__name__}: {exc}", "tb": traceback.format_exc()}
            with os.fdopen(w, "w") as fh:
                json.dump(out, fh, default=str)
            os._exit(0)
        os.close(w)
        with os.fdopen(r) as fh:
            raw = fh.read()
        os.waitpid(pid, 0)
        out = json.loads(raw)
        if "error" in out:
            raise AssertionError(f"as uid {self.uid}: {out['error']}\n{out['tb']}")
        return out["ok"]


@pytest.fixture(scope="session")
def other_user() -> OtherUser:
    if os.getuid() != 0:
        pytest.skip("SKIPPED LOUDLY: this multi-user test needs root to create a second local account "
                    "(useradd) and act as it; it runs on CI as root")
    try:
        pw = pwd.getpwnam(NAME)
    except KeyError:
        cmd = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", NAME]
        res = subprocess.run(cmd, capture_output=True, text=True)
        try:
            pw = pwd.getpwnam(NAME)  # a parallel run may have made it first
        except KeyError:
            pytest.skip(f"SKIPPED LOUDLY: cannot create a second local account: {res.stderr.strip()}")
    return OtherUser(pw.pw_uid, pw.pw_gid)
