"""64 parallel `snakemake-majora ocarina` processes share one credential on a strict majora-lite.

Started with the token inside its refresh margin, they make exactly one refresh between them and none
fails. The negative control does what Ocarina does with its own tokens file (no lock, read-refresh-
rewrite in place; emulated by tests/workers/ocarina_token_worker.py): duplicate refreshes, invalid_grant
and a revoked token family.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

N = 64
WORKER = Path(__file__).parent / "workers" / "ocarina_token_worker.py"
# Imports first, then waits for the barrier, so the 64 commands really start together.
LAUNCH = """
import os, sys, time
from pathlib import Path
import snakemake_majora.cli, snakemake_majora.ocarina.commands, snakemake_majora.client
barrier = sys.argv[1]
Path(barrier + ".ready." + str(os.getpid())).touch()
while not os.path.exists(barrier):
    time.sleep(0.005)
sys.exit(snakemake_majora.cli.main(sys.argv[2:]))
"""


def _ocarina_conf(home) -> Path:
    lite = home.lite
    conf = home.root / ".ocarina"
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"MAJORA_DOMAIN": lite.url, "MAJORA_USER": lite.username, "MAJORA_TOKEN": "OAUTH",
                   "CLIENT_ID": lite.client_id, "CLIENT_SECRET": lite.client_secret,
                   "OCARINA_NO_BANNER": 1}, fh)
    home.env["OCARINA_CONF_FILE"] = str(conf)
    return conf


def _release(barrier: Path, n: int, procs: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if len(list(barrier.parent.glob(barrier.name + ".ready.*"))) >= n or any(p.poll() is not None
                                                                                 for p in procs):
            break
        time.sleep(0.05)
    barrier.touch()


def test_64_ocarina_commands_make_one_refresh(strict_home):
    lite = strict_home.lite
    _ocarina_conf(strict_home)
    before = strict_home.expire_in(300)  # inside the margin; still valid on the server
    barrier = strict_home.root / "go-ocarina"
    argv = ["ocarina", "--oauth", "get", "biosample", "--central-sample-id", "BIRM-00001"]
    procs = [subprocess.Popen([sys.executable, "-c", LAUNCH, str(barrier), *argv], env=strict_home.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(N)]
    _release(barrier, N, procs)
    results = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    failed = [(rc, err[-300:]) for rc, _out, err in results if rc != 0]
    assert failed == []
    # Each printed Majora's answer where Ocarina prints it: the response on stderr, no errors.
    assert all('"errors": 0' in err and '"BIRM-00001"' in err for _rc, _out, err in results)
    c = lite.counters()
    assert c["refreshes"] == 1 and c["token_endpoint_calls"] == 1
    assert c["invalid_grant"] == 0 and c["family_revocations"] == 0
    assert strict_home.read_store()["generation"] == before["generation"] + 1


def test_negative_control_ocarina_token_handling_breaks(strict_home):
    """The same start with Ocarina's handling: several refreshes race, the family is revoked, calls fail."""
    lite = strict_home.lite
    rec = strict_home.expire_in(300)
    tokens = strict_home.root / ".ocarina-tokens"
    fd = os.open(tokens, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"majora2.view_biosampleartifact": {
            "access_token": rec["access_token"], "refresh_token": rec["refresh_token"],
            "token_type": "Bearer", "expires_at": rec["expires_at"], "expires_in": 36000}}, fh)
    barrier = strict_home.root / "go-control"
    spec = {"tokens_file": str(tokens), "domain": lite.url, "client_id": lite.client_id,
            "client_secret": lite.client_secret, "user": lite.username, "barrier": str(barrier),
            "margin": 900}
    procs = [subprocess.Popen([sys.executable, str(WORKER), json.dumps(spec)], env=strict_home.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(N)]
    _release(barrier, N, procs)
    outs = [json.loads(p.communicate(timeout=600)[0].strip().splitlines()[-1]) for p in procs]
    c = lite.counters()
    assert c["token_endpoint_calls"] > 1
    assert c["invalid_grant"] > 0
    assert sum(o["fail"] for o in outs) > 0
