"""Faults: refreshers killed at each dangerous point, server errors during refresh, bad token files."""

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from fixtures_client import MajoraHome

from snakemake_majora.store import TokenStore

REFRESH = {"path": "/o/token/", "grant_type": "refresh_token"}

#: Majora refuses collection dates more than a year old: test data stays recent.
RECENT = str(dt.date.today() - dt.timedelta(days=20))


def _kill_at(home, phase):
    """Start a refresher that pauses at ``phase``; SIGKILL it there."""
    pause = home.root / f"paused-{phase}"
    procs = home.spawn(1, {"mode": "token", "pause_at": phase, "pause_file": str(pause)})
    home.release(procs)
    deadline = time.monotonic() + 60
    while not pause.exists() and time.monotonic() < deadline and procs[0].poll() is None:
        time.sleep(0.02)
    assert pause.exists(), procs[0].communicate()[1]
    procs[0].send_signal(signal.SIGKILL)
    procs[0].wait(10)


def test_killed_after_taking_the_lock(strict_home):
    before = strict_home.expire_in(300)
    _kill_at(strict_home, "after_lock")
    # The kernel dropped the flock with the process: the next process refreshes normally.
    res = strict_home.cli("get", "biosample", "BIRM-00001")
    assert res.returncode == 0
    assert strict_home.read_store()["generation"] == before["generation"] + 1
    c = strict_home.lite.counters()
    assert c["refreshes"] == 1 and c["invalid_grant"] == 0


def test_killed_after_server_commit_marks_invalid_once(strict_home):
    before = strict_home.expire_in(300)
    _kill_at(strict_home, "after_commit")
    res = strict_home.cli("get", "biosample", "BIRM-00001", check=False)
    assert res.returncode == 77
    assert "snakemake-majora: error:" in res.stderr and "snakemake-majora login" in res.stderr
    assert "Traceback" not in res.stderr
    after = strict_home.read_store()  # kept, not deleted
    assert after["invalid"]["reason"] == "invalid_grant" and after["generation"] == before["generation"]
    calls = strict_home.lite.counters()["token_endpoint_calls"]
    res2 = strict_home.cli("token", check=False)
    assert res2.returncode == 77 and "marked invalid" in res2.stderr
    assert strict_home.lite.counters()["token_endpoint_calls"] == calls  # fails fast, no loop
    strict_home.login()  # a new login repairs it
    assert strict_home.read_store()["invalid"] is None
    assert strict_home.read_store()["generation"] == before["generation"] + 1


def test_killed_between_temp_write_and_rename(strict_home):
    before = strict_home.expire_in(300)
    _kill_at(strict_home, "before_rename")
    st = TokenStore(strict_home.token_file)
    assert st.read(force=True).generation == before["generation"]  # old store intact
    tmps = list(st.dir.glob(".*.tmp"))
    assert len(tmps) == 1 and oct(tmps[0].stat().st_mode & 0o777) == oct(0o600)
    # Majora rotated the pair before the kill: the temp file holds the live one (issue 18 item 4). The
    # stale-temp cleanup keeps it, and the next refresh puts it back instead of sending the dead token.
    assert st.clean_stale_tmp(max_age=0) == 0 and tmps[0].exists()
    strict_home.lite.reset_counters()
    assert "recovered" in strict_home.cli("refresh").stderr
    assert not list(st.dir.glob(".*.tmp"))
    assert st.read(force=True).generation == before["generation"] + 1
    assert strict_home.lite.counters()["invalid_grant"] == 0


@pytest.mark.parametrize(("rules", "applied"), [
    ([{**REFRESH, "status": 503, "retry_after": 1, "count": 2}], 2),
    ([{**REFRESH, "status": 429, "retry_after": 1, "count": 1}], 1),
    ([{**REFRESH, "status": 500, "count": 1}], 1),
])
def test_refresh_survives_server_errors(strict_home, rules, applied):
    before = strict_home.expire_in(300)
    strict_home.lite.set_faults(rules)
    assert strict_home.cli("token").stdout.strip()
    c = strict_home.lite.counters()
    assert c["faults_applied"] == applied and c["refreshes"] == 1 and c["invalid_grant"] == 0
    assert strict_home.read_store()["generation"] == before["generation"] + 1


def test_persistent_500_is_temporary_and_keeps_the_store(strict_home):
    before = strict_home.expire_in(300)
    strict_home.lite.set_faults([{**REFRESH, "status": 500}])
    res = strict_home.cli("token", check=False)
    assert res.returncode == 75 and "try again later" in res.stderr
    assert strict_home.lite.counters()["faults_applied"] == 2  # the first try + one ambiguous retry
    assert strict_home.read_store() == before


def test_commit_then_drop_without_grace_needs_login(strict_home):
    strict_home.expire_in(300)
    strict_home.lite.set_faults([{**REFRESH, "action": "commit_then_drop", "count": 1}])
    res = strict_home.cli("token", check=False)
    assert res.returncode == 77 and "invalid_grant" in res.stderr
    assert strict_home.read_store()["invalid"] is not None
    assert strict_home.lite.counters()["invalid_grant"] == 1


def test_grace_period_recovers_ambiguous_refreshes(lite_factory, tmp_path):
    lite = lite_factory(grace=120, biosamples=5)
    home = MajoraHome(lite, tmp_path / "a")
    home.expire_in(300)
    lite.set_faults([{**REFRESH, "action": "commit_then_drop", "count": 1}])
    assert home.cli("get", "biosample", "BIRM-00001").returncode == 0
    lite.clear_faults()
    home.expire_in(300)
    _kill_at(home, "after_commit")
    assert home.cli("get", "biosample", "BIRM-00001").returncode == 0
    assert home.read_store()["invalid"] is None


@pytest.mark.parametrize("content", ["", "{broken"])
def test_corrupt_or_empty_token_file_via_cli(majora_home, content):
    f = majora_home.token_file
    f.write_text(content)
    res = majora_home.cli("token", check=False)
    assert res.returncode == 78 and str(f) in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert f.read_text() == content


def test_world_readable_token_file_warns(majora_home):
    os.chmod(majora_home.token_file, 0o644)
    res = majora_home.cli("get", "biosample", "BIRM-00001")
    assert "chmod 600" in res.stderr


def test_login_without_terminal_fails_at_once(majora_home):
    res = subprocess.run([sys.executable, "-m", "snakemake_majora.cli", "login"], env=majora_home.env,
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert res.returncode == 64
    assert "--url-only" in res.stderr and "--callback-url" in res.stderr


def test_envelope_errors_are_one_line(majora_home):
    lite = majora_home.lite
    res = majora_home.cli("get", "biosample", "NOPE-99999", check=False)
    assert res.returncode == 66 and "NOPE-99999 not found" in res.stderr
    try:
        lite.set_faults([{"path": "/api/v2/artifact/biosample/add/", "status": 502, "body": "html"}])
        res = majora_home.cli("put", "biosample", "--central-sample-id", "HOOT-01234", "--adm1", "UK-ENG",
                              "--collection-date", RECENT, "--is-surveillance", "Y", check=False)
        assert res.returncode == 69 and "HTTP 502 (text/html)" in res.stderr
        assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
        lite.set_faults([{"path": "/api/v2/artifact/biosample/get/", "status": 502, "body": "html",
                          "count": 1}])
        assert majora_home.cli("get", "biosample", "BIRM-00001").returncode == 0  # reads are retried
    finally:
        lite.clear_faults()


def test_failed_task_is_one_line_and_not_kept(majora_home):
    """An async task that fails on the server: exit 69 with one line naming the task; nothing persisted,
    so the next run asks again (and gets the result)."""
    lite = majora_home.lite
    lite.set_faults([{"path": "/api/v2/pag/qc/get/", "action": "fail_task", "count": 1}])
    try:
        res = majora_home.cli("get", "pag", "--test-name", "cog-uk-elan-minimal-qc", check=False)
    finally:
        lite.clear_faults()
    assert res.returncode == 69 and "Majora task" in res.stderr and "failed" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not list((majora_home.home / "tasks").glob("*.json"))
    again = majora_home.cli("get", "pag", "--test-name", "cog-uk-elan-minimal-qc")
    assert json.loads(again.stdout)["count"] > 0


def test_api_key_mode(lite, tmp_path):
    key = lite.apikey(lite.username)
    home = MajoraHome(lite, tmp_path, api_key=key)
    data = json.loads(home.cli("get", "biosample", "BIRM-00001").stdout)
    assert data["BIRM-00001"]["central_sample_id"] == "BIRM-00001"
    st = json.loads(home.cli("status", "--json").stdout)
    assert st["mode"] == "api-key" and key not in json.dumps(st)
    assert home.cli("refresh", check=False).returncode == 64
    bad = MajoraHome(lite, tmp_path / "bad", api_key="not-a-valid-key-123")
    res = bad.cli("get", "biosample", "BIRM-00001", check=False)
    assert res.returncode == 77 and "API key" in res.stderr and "not-a-valid-key-123" not in res.stderr
