"""`snakemake-majora ocarina` fails as Ocarina 1.0.0 does when Majora refuses or fails a call (issue 22
items 10-12), and keeps a one-time task result whose reply was lost (issue 18 item 5), against majora-lite.

What the real Ocarina does (measured against majora-lite, which answers these as Majora does): a 400 or
403 dumps the request and Majora's answer on stderr and exits 77; without `--oauth` under `MAJORA_TOKEN:
OAUTH` it sends no bearer, Majora answers 400, nothing is written, exit 77; a 500 dumps and exits 69;
`--env` without MAJORA_USER, MAJORA_TOKEN, CLIENT_ID or CLIENT_SECRET exits 78 with one `[FAIL]` line.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from fixtures_client import MajoraHome

from snakemake_majora.client import MajoraClient
from snakemake_majora.config import load_settings
from snakemake_majora.errors import RefusedError

DENIED = '{"detail": "You do not have permission to perform this action."}'
DEAD = "http://127.0.0.1:9/"  # nothing listens on the discard port


def _ocarina(home: MajoraHome, *args: str, env: dict[str, str] | None = None):
    saved = home.env
    home.env = {**saved, **(env or {})}
    try:
        return home.cli("ocarina", "--no-banner", *args, check=False, timeout=300)
    finally:
        home.env = saved


def _calls(lite, path: str) -> int:
    return lite.counters()["paths"].get(path, 0)


def _exists(home: MajoraHome, central_sample_id: str) -> bool:
    res = _ocarina(home, "--oauth", "-q", "get", "biosample-validity", "--biosamples", central_sample_id,
                   "--tsv")
    assert res.returncode == 0, res.stderr
    return f"{central_sample_id}\t1\t" in res.stdout


# -- item 10: a refusal with a working token shows Majora's answer, and no re-login advice ------------------
def test_403_with_a_working_token_dumps_majoras_answer(majora_home):
    generation = majora_home.read_store()["generation"]
    res = _ocarina(majora_home, "--oauth", "get", "dataview", "--mdv", "NOT-GRANTED")
    assert res.returncode == 77
    assert "Request====" in res.stderr and "STATUS CODE 403\n" + DENIED in res.stderr
    assert "login" not in res.stderr and "Traceback" not in res.stderr
    assert majora_home.read_store()["generation"] == generation  # refused, not refreshed


def test_sudo_as_refused_dumps_the_request_and_writes_nothing(majora_home):
    lite = majora_home.lite
    before = _calls(lite, "/api/v2/artifact/biosample/add/")
    res = _ocarina(majora_home, "--oauth", "put", "biosample", "--sudo-as", "nobody-here",
                   "--central-sample-id", "SUDO-00001", "--adm1", "UK-ENG", "--is-surveillance", "Y",
                   "--received-date", dt.date.today().isoformat())
    assert res.returncode == 77, res.stderr
    assert '"sudo_as": "nobody-here"' in res.stderr and "STATUS CODE 400" in res.stderr
    assert "login" not in res.stderr and "although" not in res.stderr
    assert _calls(lite, "/api/v2/artifact/biosample/add/") == before + 1  # asked once, not retried
    assert not _exists(majora_home, "SUDO-00001")


def test_library_refusal_keeps_majoras_reason_and_drops_login_advice(majora_home):
    settings = load_settings(config_file=majora_home.home / "config.yaml", env=majora_home.env)
    with MajoraClient(settings) as client, pytest.raises(RefusedError) as err:
        client.get_dataview("NOT-GRANTED")
    text = str(err.value)
    assert "HTTP 403: You do not have permission to perform this action." in text
    assert "snakemake-majora login" not in text and err.value.exit_code == 77


def test_dead_api_key_dumps_then_says_what_to_do(lite, tmp_path):
    home = MajoraHome(lite, tmp_path, api_key="not-a-real-key-0000")
    res = _ocarina(home, "get", "biosample", "--central-sample-id", "BIRM-00001")
    assert res.returncode == 77
    assert "STATUS CODE 400" in res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("snakemake-majora ocarina: error: ") and "renew it" in last
    assert "not-a-real-key-0000" not in res.stderr


# -- item 11: no --oauth under MAJORA_TOKEN OAUTH is refused before anything is sent ------------------------
def test_without_oauth_flag_nothing_is_sent_or_written(majora_home):
    lite = majora_home.lite
    before = lite.counters()["paths"]
    res = _ocarina(majora_home, "empty", "biosample", "--central-sample-id", "NOFLAG-00001")
    assert res.returncode == 77
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "--oauth" in lines[0] and "Traceback" not in res.stderr
    after = lite.counters()["paths"]
    assert {p: n for p, n in after.items() if p.startswith("/api/")} == \
        {p: n for p, n in before.items() if p.startswith("/api/")}
    assert not _exists(majora_home, "NOFLAG-00001")
    # A task lookup (no query to start) is refused the same way.
    task = _ocarina(majora_home, "get", "pag", "--test-name", "cog-uk-elan-minimal-qc", "--task-id",
                    "00000000-0000-4000-8000-000000000000")
    assert task.returncode == 77 and "--oauth" in task.stderr


# -- item 12: a 500 after the retries is dumped; --env needs every key Ocarina needs -------------------------
def test_500_on_a_read_is_dumped_after_the_retries(majora_home):
    lite = majora_home.lite
    lite.set_faults([{"path": "/api/v2/artifact/biosample/get/", "action": "error", "status": 500,
                      "body": "html"}])
    try:
        res = _ocarina(majora_home, "--oauth", "get", "biosample", "--central-sample-id", "BIRM-00001")
    finally:
        lite.clear_faults()
    assert res.returncode == 69
    assert '"central_sample_id": "BIRM-00001"' in res.stderr and "STATUS CODE 500\n<html>" in res.stderr
    assert res.stderr.count("retrying") >= 1 and "Traceback" not in res.stderr


@pytest.mark.parametrize("drop", ["MAJORA_DOMAIN", "MAJORA_USER", "MAJORA_TOKEN", "CLIENT_ID",
                                  "CLIENT_SECRET"])
def test_env_without_a_required_key_exits_78(lite, tmp_path, drop):
    home = MajoraHome(lite, tmp_path, login=False)  # refused before any token is needed
    env = {"MAJORA_DOMAIN": lite.url, "MAJORA_USER": lite.username, "MAJORA_TOKEN": "OAUTH",
           "CLIENT_ID": lite.client_id, "CLIENT_SECRET": lite.client_secret}
    del env[drop]
    before = _calls(lite, "/api/v2/artifact/biosample/get/")
    res = _ocarina(home, "--env", "--oauth", "get", "biosample", "--central-sample-id", "BIRM-00001", env=env)
    assert res.returncode == 78
    assert res.stderr.strip().splitlines() == [res.stderr.strip()]
    assert res.stderr.startswith("[FAIL] ") and f"(missing: {drop})" in res.stderr
    assert _calls(lite, "/api/v2/artifact/biosample/get/") == before


# -- issue 18 item 5: a lost task/get reply -----------------------------------------------------------------
def test_lost_task_reply_still_prints_every_run(majora_home):
    lite = majora_home.lite
    argv = ("--oauth", "-q", "get", "sequencing", "--run-name", "*", "--task-wait", "--tsv")
    clean = _ocarina(majora_home, *argv)
    assert clean.returncode == 0, clean.stderr
    rows = sorted(clean.stdout.splitlines())
    assert len(rows) > 2
    starts = _calls(lite, "/api/v2/process/sequencing/get/")
    # The first task/get waits for the task to finish, is served (Majora forgets the result), and its reply
    # is dropped on the way back.
    lite.set_faults([{"path": "/api/v2/majora/task/get/", "action": "commit_then_drop", "delay": 2,
                      "count": 1}])
    try:
        res = _ocarina(majora_home, *argv)
    finally:
        lite.clear_faults()
    assert lite.counters()["faults_applied"] >= 1
    assert res.returncode == 0, res.stderr
    assert sorted(res.stdout.splitlines()) == rows
    assert _calls(lite, "/api/v2/process/sequencing/get/") - starts == 2  # started again after the loss
    # The result is kept where the client keeps every task result, so --task-id can read it again.
    saved = sorted((majora_home.home / "tasks").glob("*.json"))
    assert saved and all("get" in json.loads(p.read_text()) for p in saved)
    again = _ocarina(majora_home, *argv[:-2], "--task-id", saved[-1].stem, "--tsv")
    assert again.returncode == 0 and sorted(again.stdout.splitlines()) == rows
