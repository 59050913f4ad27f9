"""Negative-control worker: Ocarina's own token handling, emulated. usage: ocarina_token_worker.py SPEC_JSON

Spec: ``tokens_file``, ``domain``, ``client_id``, ``client_secret``, ``user``, ``barrier``, ``margin``.
Like Ocarina (no lock, a plain read of ``~/.ocarina-tokens``, a refresh, then an in-place rewrite of the
file), every process that finds the token inside ``margin`` seconds of expiry refreshes it itself, then
fetches a biosample with whatever token it ended up with. Prints one JSON line ``{"ok", "fail", "errors"}``.
Real Ocarina cannot be installed on CI, so this stands in for it.
"""

import json
import os
import sys
import time
from pathlib import Path

import requests

spec = json.loads(sys.argv[1])
Path(spec["barrier"] + f".ready.{os.getpid()}").touch()
while not os.path.exists(spec["barrier"]):
    time.sleep(0.005)

errors: list[str] = []
ok = 0
try:
    with open(spec["tokens_file"]) as fh:  # no lock
        tokens = json.load(fh)
    scope, tok = next(iter(tokens.items()))
    if tok["expires_at"] - time.time() < spec["margin"]:
        r = requests.post(spec["domain"] + "o/token/", data={
            "grant_type": "refresh_token", "refresh_token": tok["refresh_token"],
            "client_id": spec["client_id"], "client_secret": spec["client_secret"]}, timeout=60)
        if r.status_code != 200:
            errors.append(f"refresh HTTP {r.status_code}: {r.text[:80]}")
        else:
            new = r.json()
            tok = dict(new, expires_at=time.time() + float(new.get("expires_in", 36000)))
            tokens[scope] = tok
            with open(spec["tokens_file"], "w") as fh:  # rewritten in place, not atomically
                json.dump(tokens, fh)
    r = requests.post(spec["domain"] + "api/v2/artifact/biosample/get/",
                      headers={"Authorization": f"Bearer {tok['access_token']}"},
                      json={"central_sample_id": "BIRM-00001", "username": spec["user"], "token": "OAUTH",
                            "client_name": "ocarina", "client_version": "1.0.0"}, timeout=60)
    if r.status_code == 200 and r.json().get("errors") == 0:
        ok += 1
    else:
        errors.append(f"biosample/get HTTP {r.status_code}")
except Exception as exc:
    errors.append(f"{type(exc).__name__}: {exc}")
print(json.dumps({"ok": ok, "fail": 1 if errors else 0, "errors": errors}))
