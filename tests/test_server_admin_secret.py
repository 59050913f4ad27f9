"""Issue 18 item 8: majora-lite's ``/_lite/*`` admin endpoints answer only requests carrying the per-server
secret (``<data dir>/admin_secret``, 0600): another local user on the loopback gets 403."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import requests
from multiuser import other_user  # noqa: F401  (fixture)

from majora_lite.server.settings import ADMIN_HEADER


def _attack(url: str, data_dir: str) -> dict:
    """As another local user: read the secret, set a fault on refreshes, read the counters and a biosample."""
    out: dict = {}
    try:
        open(os.path.join(data_dir, "admin_secret")).read()
        out["read_secret"] = True
    except OSError as exc:
        out["read_secret"] = exc.strerror
    rule = [{"path": "/o/token/", "grant_type": "refresh_token", "action": "commit_then_drop"}]
    out["faults"] = requests.post(url + "_lite/faults", json=rule, timeout=10).status_code
    guess = {ADMIN_HEADER: "guess"}
    out["guess"] = requests.get(url + "_lite/counters", headers=guess, timeout=10).status_code
    out["counters"] = requests.get(url + "_lite/counters", timeout=10).status_code
    out["biosample"] = requests.get(url + "_lite/biosample/BIRM-00001", timeout=10).status_code
    return out


def test_another_local_user_is_refused(lite, other_user):  # noqa: F811
    got = other_user.run(_attack, lite.url, lite.data_dir)
    assert got == {"read_secret": "Permission denied", "faults": 403, "guess": 403, "counters": 403,
                   "biosample": 403}, got
    secret = Path(lite.data_dir) / "admin_secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert lite.server.set_faults([]) == []  # the harness sends the secret; nothing was set
    assert lite.biosample_revision("BIRM-00001") >= 0


def test_the_secret_is_required_and_the_cli_sends_it(lite):
    r = requests.get(lite.url + "_lite/counters", timeout=10)
    assert r.status_code == 403 and ADMIN_HEADER in r.json()["detail"]
    assert "admin_secret" in r.json()["detail"]
    cli = [sys.executable, "-m", "majora_lite"]
    rule = json.dumps([{"path": "/nowhere/", "status": 503}])
    try:
        res = subprocess.run([*cli, "faults", "--data-dir", lite.data_dir, "--set", rule],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout)["rules"][0]["path"] == "/nowhere/"
    finally:
        res = subprocess.run([*cli, "faults", "--data-dir", lite.data_dir, "--clear"],
                             capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and json.loads(res.stdout) == {"rules": []}, res.stderr
    res = subprocess.run([*cli, "counters", "--data-dir", lite.data_dir], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0 and "token_endpoint_calls" in json.loads(res.stdout), res.stderr
    res = subprocess.run([*cli, "counters", "--data-dir", os.devnull + "-nowhere"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 69 and len(res.stderr.strip().splitlines()) == 1, res.stderr
