"""Login flows, Ocarina import, logout, short-lived tokens, doctor, and log redaction."""

import json
import logging
import os
import stat
import subprocess
import time

import pytest
from fixtures_client import CLI, MajoraHome

from snakemake_majora import login
from snakemake_majora.config import load_settings
from snakemake_majora.credentials import CredentialManager
from snakemake_majora.errors import UsageError
from snakemake_majora.logsafe import RedactingFilter, redact, register_secret


def test_two_step_login_keeps_private_pending_state(lite, tmp_path):
    home = MajoraHome(lite, tmp_path, login=False)
    url = home.cli("login", "--url-only").stdout.strip()
    assert url.startswith(lite.url + "o/authorize/") and "redirect_uri=" in url
    pending = list((home.home / "tokens").glob("*.pending"))
    assert len(pending) == 1 and stat.S_IMODE(os.stat(pending[0]).st_mode) == 0o600
    callback = lite.approve(url, lite.username, lite.password)
    wrong_state = callback.replace("state=", "state=x")
    res = home.cli("login", "--callback-url", wrong_state, check=False)
    assert res.returncode == 64 and "state" in res.stderr
    other = callback.replace("127.0.0.1", "localhost")
    assert home.cli("login", "--callback-url", other, check=False).returncode == 64
    home.cli("login", "--callback-url", "-", input=callback)  # read from stdin: the code stays off argv
    assert not pending[0].exists() and home.read_store()["generation"] == 1


def test_interactive_login_allows_three_tries(lite, tmp_path):
    home = MajoraHome(lite, tmp_path, login=False)
    mgr = CredentialManager(load_settings(env=home.env))
    said: list[str] = []
    answers: list[str] = []

    def read_line(prompt):
        if not answers:
            url = said[0].split()[-1]
            answers.extend(["https://elsewhere.example/o/callback/?code=x&state=y", "garbage",
                            lite.approve(url, lite.username, lite.password)])
        return answers.pop(0)

    rec = login.interactive_login(mgr, read_line, said.append)
    assert rec.generation == 1 and sum("try" in s for s in said) == 2
    with pytest.raises(UsageError):
        login.interactive_login(mgr, lambda p: "nope", said.append)


def test_import_ocarina_tokens_and_logout(lite, tmp_path):
    src = MajoraHome(lite, tmp_path / "src")  # obtain a real token pair to put in an Ocarina file
    tok = src.read_store()
    src.cli("logout")  # forget locally (no server call), the pair stays valid on the server
    assert not list((src.home / "tokens").glob("*.json"))
    oca = tmp_path / "ocarina-tokens"
    now = time.time()
    oca.write_text(json.dumps({
        "majora2.view_biosampleartifact": {"access_token": "old-narrow", "refresh_token": "old-narrow-rt",
                                           "expires_in": 36000, "expires_at": now - 100},
        "": {"access_token": "no-refresh"},
        " ".join(tok["scope"].split()): {
            "access_token": tok["access_token"], "refresh_token": tok["refresh_token"], "expires_in": 36000,
            "expires_at": tok["expires_at"], "token_type": "Bearer"}}))
    home = MajoraHome(lite, tmp_path / "dst", login=False)
    home.cli("login", "--import-ocarina", str(oca))
    assert home.read_store()["access_token"] == tok["access_token"]
    assert home.cli("get", "biosample", "BIRM-00001").returncode == 0
    res = home.cli("logout", "--revoke")
    assert "removed" in res.stderr and not list((home.home / "tokens").glob("*.json"))
    assert (home.home / "tokens").exists()  # lock file and directory stay


def test_short_lived_tokens_refresh_after_expiry_without_looping(lite_factory, tmp_path):
    lite = lite_factory(access_token_lifetime=3, biosamples=3)
    home = MajoraHome(lite, tmp_path)
    lite.reset_counters()
    for _ in range(3):
        home.cli("get", "biosample", "BIRM-00001")  # margin is capped at half of the 3-s lifetime
    time.sleep(3.5)  # now the access token has expired on the server too
    home.cli("get", "biosample", "BIRM-00001")
    res = home.cli("token", "--min-ttl", "3600")
    assert "exceeds what a fresh token can give" in res.stderr
    assert 1 <= lite.counters()["refreshes"] <= 2


def test_doctor_reports_sources_and_lock_test(majora_home):
    rep = json.loads(majora_home.cli("doctor", "--json").stdout)
    assert rep["config"]["domain"]["source"].endswith("profile test")
    assert rep["config"]["client_secret"]["value"] == "<set>" and rep["missing"] == []
    assert rep["token"]["lock_backend"] == "flock" and "ext" in rep["token"]["lock_reason"] + "ext"
    cmd = [*CLI, "doctor", "--json", "--lock-test", "--seconds", "1.5"]
    procs = [subprocess.Popen(cmd, env=majora_home.env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    reps = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(r["lock_test"]["overlaps"] == 0 for r in reps)
    assert max(len(r["lock_test"]["holders"]) for r in reps) == 2


def test_server_subcommand_is_delegated():
    res = subprocess.run([*CLI, "server", "--help"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "majora-lite" in res.stdout


def test_redaction_of_registered_and_token_shaped_values(caplog):
    register_secret("s3cr3t-value-xyz")
    assert "s3cr3t" not in redact("x s3cr3t-value-xyz y")
    assert redact('{"access_token": "abc123456", "token": "OAUTH"}') == \
        '{"access_token": "<redacted>", "token": "OAUTH"}'
    assert "zzz" not in redact("Authorization: Bearer zzzzzzzz")
    rec = logging.LogRecord("requests_oauthlib.oauth2_session", logging.DEBUG, __file__, 1,
                            "token %s", ("s3cr3t-value-xyz",), None)
    assert RedactingFilter().filter(rec) is False  # their debug records are dropped
    rec = logging.LogRecord("snakemake_majora", logging.WARNING, __file__, 1, "got %s",
                            ("s3cr3t-value-xyz",), None)
    assert RedactingFilter().filter(rec) and "s3cr3t" not in rec.getMessage()


def test_token_command_in_shell_job(majora_home):
    # As a shell job would: TOKEN=$(snakemake-majora token --min-ttl 60)
    tok = subprocess.run([*CLI, "token", "--min-ttl", "60"], env=majora_home.env, capture_output=True,
                         text=True, timeout=60).stdout.strip()
    assert tok == majora_home.read_store()["access_token"]
