"""Issue 12 items 3, 5, 6, 9 and 10: the holder file, importing over a live credential, unsafe token
directories and lock files, redaction gaps, and wrongly typed token files and settings."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from snakemake_majora.config import load_settings
from snakemake_majora.credentials import CredentialManager
from snakemake_majora.errors import ConfigError, LockTimeoutError
from snakemake_majora.logsafe import redact


def _one_line(res) -> str:
    err = res.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def _manager(home, **kw) -> CredentialManager:
    return CredentialManager(load_settings(config_file=home.home / "config.yaml", env=home.env), **kw)


def _hold_flock(path):
    """A real other process holding the flock on ``path`` until killed."""
    code = ("import fcntl,sys,time\nf=open(sys.argv[1],'a')\nfcntl.flock(f,fcntl.LOCK_EX)\n"
            "print('held',flush=True)\ntime.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


# -- item 3: .holder ---------------------------------------------------------------------------------
def test_holder_symlink_to_the_token_file_never_reaches_the_error(majora_home, caplog):
    data = majora_home.expire_in(-10)  # expired: a waiter cannot fall back to the current token
    tok = majora_home.token_file
    tok.parent.chmod(0o750)  # readable by the group: worth one warning, not one per lock slice
    holder = tok.with_name(tok.name + ".holder")
    holder.unlink(missing_ok=True)
    holder.symlink_to(tok)
    proc = _hold_flock(tok.with_name(tok.name + ".lock"))
    try:
        mgr = _manager(majora_home, lock_wait=1.5)
        with caplog.at_level(logging.WARNING, logger="snakemake_majora"):
            with pytest.raises(LockTimeoutError) as err:
                mgr.ensure_token()
    finally:
        proc.kill()
        proc.wait()
    msg = str(err.value)
    for secret in (data["access_token"], data["refresh_token"]):
        assert secret not in msg and secret not in caplog.text
    assert "refresh_token" not in msg and "held by unknown" in msg
    warned = [r for r in caplog.records if "accessible by group/others" in r.getMessage()]
    assert len(warned) == 1, [r.getMessage() for r in warned]


def test_holder_shows_only_the_shape_we_write(majora_home):
    mgr = _manager(majora_home)
    with mgr.lock.hold(timeout=5):
        assert mgr.lock.holder().split(" since ")[0].endswith(f":{os.getpid()}")
    mgr.lock.holder_path.write_text("x" * 5000 + "\x1b[2J\n")
    assert mgr.lock.holder() == "unknown (unexpected .holder file)"


# -- item 6: directories others can write, foreign or symlinked .lock ------------------------------
def test_token_directory_writable_by_others_is_refused(majora_home):
    tokens = majora_home.token_file.parent
    tokens.chmod(0o777)
    res = majora_home.cli("token", check=False)
    assert res.returncode == 78 and "writable by group/others" in _one_line(res) and "chmod 700" in res.stderr
    tokens.chmod(0o1777)  # sticky and ours: others cannot replace our entries
    assert majora_home.cli("token").returncode == 0
    tokens.chmod(0o700)


def test_symlinked_or_foreign_lock_file_is_refused_in_one_line(majora_home):
    tok = majora_home.token_file
    lock = tok.with_name(tok.name + ".lock")
    lock.unlink(missing_ok=True)
    lock.symlink_to(majora_home.root / "no-such-dir" / "x")
    res = majora_home.cli("refresh", check=False)
    assert res.returncode == 78 and "symbolic link" in _one_line(res)
    lock.unlink()
    lock.touch()
    os.chown(lock, 54321, 54321)  # as if another user planted it
    res = majora_home.cli("refresh", check=False)
    assert res.returncode == 78 and "owned by uid 54321" in _one_line(res)
    lock.unlink()
    assert majora_home.cli("refresh").returncode == 0


# -- item 5: --import-ocarina over a live credential ----------------------------------------------------
def test_import_ocarina_refuses_to_replace_a_working_credential(strict_home):
    home = strict_home
    old = home.read_store()
    home.cli("refresh")  # Majora rotated: the old pair (still in Ocarina's file) is dead
    live = home.read_store()
    tokens = home.root / "ocarina-tokens.json"
    tokens.write_text(json.dumps({"majora2.view_biosampleartifact": {
        "access_token": old["access_token"], "refresh_token": old["refresh_token"], "token_type": "Bearer",
        "expires_in": 36000, "expires_at": old["expires_at"]}}))
    res = home.cli("login", "--import-ocarina", str(tokens), check=False)
    assert res.returncode == 64 and "working credential" in _one_line(res) and "--force" in res.stderr
    assert home.read_store() == live
    res = home.cli("login", "--url-only", "--keep", check=False)
    assert res.returncode == 64 and "working credential" in res.stderr
    home.cli("get", "biosample", "BIRM-00001")
    c = home.lite.counters()
    assert c["invalid_grant"] == 0 and c["family_revocations"] == 0
    # Over a dead store the import goes ahead; --force replaces even a working one.
    home.cli("login", "--import-ocarina", str(tokens), "--force")
    assert home.read_store()["refresh_token"] == old["refresh_token"]


# -- item 10: wrong types ------------------------------------------------------------------------------
@pytest.mark.parametrize("field,value", [("expires_at", "soon"), ("expires_at", None), ("invalid", "yes"),
                                         ("generation", "2"), ("refresh_token", 5)])
def test_wrongly_typed_token_file_is_one_line(majora_home, field, value):
    data = majora_home.read_store()
    data[field] = value
    majora_home.token_file.write_text(json.dumps(data))
    res = majora_home.cli("token", check=False)
    err = _one_line(res)
    assert res.returncode == 78 and field in err and str(majora_home.token_file) in err


@pytest.mark.parametrize("key,value", [("scopes", 5), ("token_file", 5), ("user", ["a", "b"]),
                                       ("client_secret", ["s3cr3t-list"])])
def test_wrongly_typed_settings_are_one_line(majora_home, key, value):
    cfg = majora_home.home / "config.yaml"
    conf = json.loads(cfg.read_text())
    conf["profiles"]["test"][key] = value
    cfg.write_text(json.dumps(conf))
    res = majora_home.cli("status", check=False)
    err = _one_line(res)
    assert res.returncode == 78 and key in err and str(cfg) in err
    assert "s3cr3t-list" not in err


# -- item 9: redaction gaps ------------------------------------------------------------------------------
def test_lazily_imported_loggers_are_redacted_on_late_handlers():
    code = """
import logging, sys
from snakemake_majora import logsafe
logsafe.install()                     # as the client does when it is created
logging.basicConfig(stream=sys.stderr, level=logging.DEBUG, force=True)   # a handler added later
assert "snakemake_majora.oauth" not in sys.modules
from snakemake_majora import oauth    # imported lazily, at the first refresh
logsafe.register_secret("registered-secret-value-1")
oauth.log.warning("sending registered-secret-value-1 and refresh_token=unregistered-2")
logging.getLogger("snakemake_majora.brand_new").error("Authorization: Basic dXNlcjpwYXNzd29yZA==")
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    for secret in ("registered-secret-value-1", "unregistered-2", "dXNlcjpwYXNzd29yZA"):
        assert secret not in res.stderr, res.stderr
    assert res.stderr.count("<redacted>") == 3


def test_basic_urlencoded_and_userinfo_are_masked():
    for text, secret in [("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA"),
                         ("POST body grant_type=refresh_token&refresh_token%3Dq1w2e3r4t5y6", "q1w2e3r4t5y6"),
                         ("GET /cb?x=1%26access_token%3DAbC123xyz789%26y", "AbC123xyz789"),
                         ("{%22access_token%22%3A%22zzzzzzzz99%22}", "zzzzzzzz99"),
                         ("failed at https://sam:p4ssw0rd-9@majora.example/api", "p4ssw0rd-9")]:
        assert secret not in redact(text), text


def test_password_in_the_domain_is_refused_without_printing_it(majora_home):
    with pytest.raises(ConfigError) as err:
        load_settings(domain="https://sam:p4ssw0rd-9@majora.example/", user="u", api_key="k" * 20, env={})
    assert "p4ssw0rd-9" not in str(err.value) and "user:password@" in str(err.value)
    env = dict(majora_home.env, MAJORA_DOMAIN="https://sam:p4ssw0rd-9@majora.example/")
    res = subprocess.run([sys.executable, "-m", "snakemake_majora.cli", "doctor"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert "p4ssw0rd-9" not in res.stdout + res.stderr
    assert "user name or password" in res.stdout + res.stderr
