"""majora-lite admin CLI against a running server's data directory (SQLite WAL: no downtime needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import requests
from requests_oauthlib import OAuth2Session

from majora_lite.ops.approve import ApproveError
from majora_lite.ops.cli import main
from majora_lite.ops.harness import LiteServer


def cli(*args, data_dir):
    cmd = [sys.executable, "-m", "majora_lite", args[0], "--data-dir", data_dir, *args[1:]]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_admin_commands_while_running(lite):
    r = cli(
        "adduser",
        "--username",
        "frank",
        "--password",
        "frank-pw",
        "--org",
        "CAMB",
        "--perm",
        "majora2.view_biosampleartifact",
        data_dir=lite.data_dir,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["permissions"] == ["majora2.view_biosampleartifact"]
    r = cli("apikey", "--username", "frank", "--days", "1", data_dir=lite.data_dir)
    out = json.loads(r.stdout)
    assert set(out) >= {"username", "key", "valid_until"}
    resp = requests.post(
        lite.url + "api/v2/artifact/biosample/get/",
        timeout=10,
        json={"username": "frank", "token": out["key"], "central_sample_id": "BIRM-00001"},
    )
    assert resp.status_code == 200 and resp.json()["success"]
    r = cli("grant-dataview", "--username", "frank", "--mdv", "DA1", data_dir=lite.data_dir)
    assert r.returncode == 0 and json.loads(r.stdout)["mdv"] == "DA1"
    r = cli("grant-dataview", "--username", "frank", "--mdv", "NOPE", data_dir=lite.data_dir)
    assert r.returncode == 66 and "no dataview 'NOPE'" in r.stderr and "Traceback" not in r.stderr
    r = cli("apikey", "--username", "nobody", data_dir=lite.data_dir)
    assert r.returncode == 66 and "adduser" in r.stderr
    r = cli(
        "adduser",
        "--username",
        "x",
        "--password",
        "y",
        "--perm",
        "majora2.no_such_perm",
        data_dir=lite.data_dir,
    )
    assert r.returncode == 64 and "unknown permission" in r.stderr


def test_addapp_redirect_rules(lite, tmp_path, monkeypatch):
    r = cli(
        "addapp", "--name", "bad", "--redirect-uri", "http://example.org/o/callback/", data_dir=lite.data_dir
    )
    assert r.returncode == 64 and "http on 127.0.0.1/localhost only" in r.stderr
    r = cli("addapp", "--name", "good", data_dir=lite.data_dir)
    app = json.loads(r.stdout)
    assert app["redirect_uris"] == ["http://127.0.0.1/o/callback/", "http://localhost/o/callback/"]
    # loopback redirect URIs match on any port (RFC 8252), including localhost
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    redirect = f"http://localhost:{lite.port}/o/callback/"
    sess = OAuth2Session(app["client_id"], redirect_uri=redirect, scope=["majora2.view_biosampleartifact"])
    url, _ = sess.authorization_url(lite.url + "o/authorize/")
    # the admin CLI reads the password from stdin with `--password -`, keeping it off argv
    r = subprocess.run(
        [sys.executable, "-m", "majora_lite", "approve", "--url", lite.url, "--username",
         lite.username, "--password", "-", "--data-dir", lite.data_dir, url],
        input=lite.password + "\n", capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr
    callback = r.stdout.strip()
    assert callback.startswith(redirect + "?code=")
    token = sess.fetch_token(
        lite.url + "o/token/",
        authorization_response=callback,
        client_secret=app["client_secret"],
        include_client_id=True,
    )
    assert token["access_token"]
    # a non-loopback http redirect is refused even if someone registered it by other means
    sess = OAuth2Session(app["client_id"], redirect_uri="http://example.org/o/callback/", scope=[])
    url, _ = sess.authorization_url(lite.url + "o/authorize/")
    with pytest.raises(ApproveError, match="HTTP 400"):
        lite.approve(url, lite.username, lite.password)


def test_usage_errors_exit_64(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["start"])
    assert exc.value.code == 64
    with pytest.raises(SystemExit) as exc:
        main(["start", "--data-dir", str(tmp_path), "--faults", "{not json"])
    assert exc.value.code == 64
    assert main(["start", "--data-dir", str(tmp_path), "--max-active", "0"]) == 64
    assert "--max-active" in capsys.readouterr().err


def test_main_leaves_the_callers_umask_alone(tmp_path):
    """majora-lite's 077 applies while a command runs, not to the process that called it: a leaked 077
    once made every later test's subprocess (munged's /run/munge among them) unusable."""
    old = os.umask(0o022)
    try:
        assert main(["load-orgs", "--data-dir", str(tmp_path / "d")]) == 0
        assert (os.stat(tmp_path / "d").st_mode & 0o777) == 0o700  # its own files still private
        assert main(["start", "--data-dir", str(tmp_path), "--max-active", "0"]) == 64  # early return too
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(old)


def test_seed_is_deterministic(tmp_path):
    for d in ("a", "b"):
        LiteServer(tmp_path / d)._ensure_db()  # migrated template copy: the CLI then only seeds
    a = cli(
        "seed", "--biosamples", "30", "--seed", "7", "--anchor", "2026-01-15", data_dir=str(tmp_path / "a")
    )
    b = cli(
        "seed", "--biosamples", "30", "--seed", "7", "--anchor", "2026-01-15", data_dir=str(tmp_path / "b")
    )
    assert a.returncode == b.returncode == 0, a.stderr
    sa, sb = json.loads(a.stdout), json.loads(b.stdout)
    assert sa == sb
    assert (
        sa["biosamples"] == 30 and len(sa["organisations"]) == 6 and set(sa["dataviews"]) >= {"PHE1", "DA1"}
    )
    qc = sa["pags"]["cog-uk-elan-minimal-qc"]
    assert qc["pass"] + qc["fail"] == 30 and qc["pass"] > qc["fail"] > 0


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_clean_shutdown_on_signal(tmp_path, sig):
    import os
    import signal

    srv = LiteServer(tmp_path / "d", threads=2).start()
    proc = srv.proc
    assert requests.get(srv.url, timeout=10).status_code == 200
    assert json.loads((tmp_path / "d" / "server.json").read_text())["pid"] == proc.pid
    os.kill(proc.pid, getattr(signal, sig))
    assert proc.wait(20) == 0
    assert not (tmp_path / "d" / "server.json").exists()
    assert "Traceback" not in srv.log_path.read_text()
    srv.stop()
