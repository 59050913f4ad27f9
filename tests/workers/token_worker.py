"""Worker process for multi-process credential tests. usage: token_worker.py SPEC_JSON

Spec keys (all optional): ``barrier`` (wait for this file to appear), ``mode`` (``calls`` | ``refresher``
| ``token``), ``calls`` (number of API calls), ``duration`` (seconds to loop instead), ``sample``,
``every`` (refresher period), ``no_lock`` (replace the lock with a no-op: the negative control),
``pause_at`` (``after_lock`` | ``before_post`` | ``after_commit`` | ``before_rename``) with ``pause_file``,
``resume_file`` (after pausing, continue once this file appears instead of waiting to be killed),
``fake_host`` (report this hostname, so filelock cannot check the lease holder's liveness: another node),
``clock_offset`` (seconds added to time.time), ``post_delay`` (seconds before each refresh request
leaves, after every check), ``log_file`` (library logging at DEBUG to this file).
Prints one JSON line: ``{"ok", "fail", "errors", "generations"}``.
"""

import contextlib
import json
import socket
import sys
import time
from pathlib import Path

spec = json.loads(sys.argv[1])
if spec.get("fake_host"):
    # filelock reads the hostname on every marker write: a foreign one makes peers wait for the lease.
    socket.gethostname = lambda: spec["fake_host"]
if spec.get("clock_offset"):
    # Before importing the library, so every default clock argument picks up the skew.
    _real_time, _offset = time.time, float(spec["clock_offset"])
    time.time = lambda: _real_time() + _offset

import logging  # noqa: E402
import os  # noqa: E402

if spec.get("log_file"):
    logging.basicConfig(filename=spec["log_file"], level=logging.DEBUG,
                        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")

from snakemake_majora import credentials, locking, oauth, store  # noqa: E402
from snakemake_majora.client import MajoraClient  # noqa: E402
from snakemake_majora.errors import MajoraError  # noqa: E402

if spec.get("no_lock"):
    locking.TokenLock.hold = lambda self, timeout: contextlib.nullcontext()


def _pause() -> None:
    Path(spec["pause_file"]).touch()
    resume = spec.get("resume_file")
    if not resume:
        time.sleep(3600)  # the test SIGKILLs us here
        return
    while not os.path.exists(resume):
        time.sleep(0.01)


phase = spec.get("pause_at")
if phase == "after_lock":
    _orig_refresh = credentials.CredentialManager._refresh_locked

    def _after_lock(self, cur, why):
        _pause()
        return _orig_refresh(self, cur, why)

    credentials.CredentialManager._refresh_locked = _after_lock
elif phase == "before_post":
    # After every check, just before the refresh request leaves: the window no re-read can close.
    _orig_send = oauth.post_refresh_once

    def _before_post(*a, **k):
        _pause()
        return _orig_send(*a, **k)

    oauth.post_refresh_once = _before_post
elif phase == "after_commit":
    _orig_post = oauth.post_refresh_once

    def _after_commit(*a, **k):
        res = _orig_post(*a, **k)
        _pause()
        return res

    oauth.post_refresh_once = _after_commit
elif phase == "before_rename":
    store._replace = lambda tmp, dest: _pause()

if spec.get("post_delay"):
    # The token endpoint's round trip, as on a real network: the refresh request leaves this long after
    # the last check of the store, so that processes racing without the lock overlap on every machine.
    _orig_delayed = oauth.post_refresh_once

    def _delayed_post(*a, **k):
        time.sleep(float(spec["post_delay"]))
        return _orig_delayed(*a, **k)

    oauth.post_refresh_once = _delayed_post

barrier = spec.get("barrier")
if barrier:
    Path(f"{barrier}.ready.{os.getpid()}").touch()
    while not os.path.exists(barrier):
        time.sleep(0.002)

out = {"ok": 0, "fail": 0, "errors": [], "generations": []}
client = MajoraClient.from_config()
sample = spec.get("sample", "BIRM-00001")


def one(fn):
    try:
        fn()
        out["ok"] += 1
    except MajoraError as exc:
        out["fail"] += 1
        out["errors"].append(f"{type(exc).__name__}: {exc}")


mode = spec.get("mode", "calls")
end = time.monotonic() + float(spec.get("duration", 0))
if mode == "refresher":
    while time.monotonic() < end:
        one(lambda: out["generations"].append(client.credentials.force_refresh().generation))
        time.sleep(float(spec.get("every", 2)))
elif mode == "token":
    one(lambda: out["generations"].append(client.credentials.ensure_token().generation))
else:
    n = int(spec.get("calls", 1))
    i = 0
    while i < n or time.monotonic() < end:
        one(lambda: client.get_biosample(sample))
        i += 1
    with contextlib.suppress(MajoraError):
        out["generations"].append(client.credentials.ensure_token().generation)
out["t_done"] = time.time()
print(json.dumps(out), flush=True)
