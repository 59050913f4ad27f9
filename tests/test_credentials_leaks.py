"""Leak scan: run scenarios with debug logging (CLI -v and library logging) and search every captured
output and log file for every secret seen (access/refresh tokens of all generations, client secret,
authorization code, API key, password)."""

import json

from fixtures_client import MajoraHome

REFRESH = {"path": "/o/token/", "grant_type": "refresh_token"}


def test_no_secret_in_any_output(lite_factory, tmp_path):
    lite = lite_factory(biosamples=5)
    home = MajoraHome(lite, tmp_path / "h", login=False)
    outputs: list[str] = []
    secrets: set[str] = set()

    def cli(*args, check=True):
        res = home.cli("-v", *args, check=check)
        outputs.append(res.stderr)
        if args[0] != "token":  # printing the token on stdout is that command's job
            outputs.append(res.stdout)
        secrets.update(home.secrets())
        return res

    url = cli("login", "--url-only").stdout.strip()
    callback = lite.approve(url, lite.username, lite.password)
    secrets.add(callback.split("code=")[1].split("&")[0])
    cli("login", "--callback-url", callback)
    for args in (("status",), ("status", "--json"), ("refresh",), ("token",),
                 ("get", "biosample", "BIRM-00001"), ("get", "pag", "--test-name", "cog-uk-elan-minimal-qc"),
                 ("doctor",), ("refresh",)):
        cli(*args)
    # Library logging at DEBUG, through retries (503) and the invalid_grant path.
    lite.set_faults([{**REFRESH, "status": 503, "retry_after": 0, "count": 1}])
    log = tmp_path / "lib.log"
    procs = home.spawn(1, {"mode": "refresher", "duration": 0.1, "log_file": str(log)})
    home.release(procs)
    assert home.results(procs)[0]["fail"] == 0
    secrets.update(home.secrets())
    lite.set_faults([{**REFRESH, "action": "commit_then_drop", "count": 1}])
    procs = home.spawn(1, {"mode": "refresher", "duration": 0.1, "log_file": str(log)})
    home.release(procs)
    res = home.results(procs)[0]
    outputs += [json.dumps(res), res["stderr"]]
    assert res["fail"] == 1 and "invalid_grant" in res["errors"][0]
    lite.clear_faults()
    cli("token", check=False)
    cli("login", "--url-only")
    # API-key mode, good and bad keys.
    key = lite.apikey(lite.username)
    secrets.add(key)
    khome = MajoraHome(lite, tmp_path / "k", api_key=key)
    for h in (khome, MajoraHome(lite, tmp_path / "b", api_key="bad-key-0123456789")):
        r = h.cli("-v", "get", "biosample", "BIRM-00001", check=False)
        outputs += [r.stdout, r.stderr]
    secrets.add("bad-key-0123456789")
    outputs.append(log.read_text())
    for p in (tmp_path / "h" / "smh").rglob("*"):
        if p.is_file() and not p.name.endswith(".json") and "tokens" in p.parts:
            outputs.append(p.read_text(errors="replace"))  # holder, lock, pending, lock-test files
    assert len(secrets) >= 8 and "DEBUG" in "".join(outputs)
    # The scan can see a secret when one is printed: `token` prints the current access token by design.
    printed = home.cli("token", check=False).stdout.strip() or "-"
    assert printed in secrets or printed == "-"
    hits = [(s[:4], i) for s in secrets for i, out in enumerate(outputs) if s in out]
    assert hits == []
