"""MajoraClient operations against majora-lite, in process (the API the plugin and users' jobs use)."""

import datetime as dt
import json
import os
import stat
import threading

import pytest

from snakemake_majora.client import MajoraClient
from snakemake_majora.config import load_settings
from snakemake_majora.errors import AuthError, NotFoundError, UsageError

#: Majora refuses collection dates more than a year old: test data stays recent.
RECENT = str(dt.date.today() - dt.timedelta(days=20))


@pytest.fixture
def client(majora_home):
    c = MajoraClient(load_settings(env=majora_home.env))
    yield c
    c.close()


def test_reads(client, majora_home):
    rec = client.get_biosample("BIRM-00001")
    assert rec["central_sample_id"] == "BIRM-00001"
    with pytest.raises(NotFoundError) as ei:
        client.get_biosample("NOPE-00001")
    assert ei.value.exit_code == 66 and ei.value.messages
    v = client.biosample_validity(["BIRM-00001", "NOPE-00001"])
    assert v["BIRM-00001"]["exists"] and not v["NOPE-00001"]["exists"]
    example = majora_home.lite.seed_summary["example"]["run_name"]
    assert example in client.get_sequencing([example])
    assert example in client.get_sequencing(["*"])  # async task
    pags = client.get_pags("cog-uk-elan-minimal-qc", pass_=True)
    assert pags["count"] == len(pags["result"]) > 0
    assert client.get_summary()["total_sequences"] > 0
    assert repr(client).startswith("MajoraClient(") and majora_home.lite.client_secret not in repr(client)


def test_task_results_are_persisted_once_read(client, majora_home):
    pags = client.get_pags("cog-uk-elan-minimal-qc")
    files = list((majora_home.home / "tasks").glob("*.json"))
    assert len(files) == 1 and stat.S_IMODE(os.stat(files[0]).st_mode) == 0o600
    calls = majora_home.lite.counters()["api_calls"]
    again = client.wait_task(files[0].stem)  # served from disk: Majora hands a result out only once
    assert again["get"]["count"] == pags["count"]
    assert majora_home.lite.counters()["api_calls"] == calls
    with pytest.raises(UsageError):
        client.wait_task("../../etc/passwd")


def test_dataview(client, majora_home):
    majora_home.lite.grant_dataview(majora_home.lite.username, "DA1")
    rows = client.get_dataview("DA1")
    assert isinstance(rows, list) and rows


def test_writes(client, majora_home):
    out = client.add_biosamples([{"central_sample_id": "HOOT-00101", "adm1": "UK-ENG",
                                  "collection_date": RECENT, "is_surveillance": "Y"}])
    assert out["success"] and out["new"][0][2] == "HOOT-00101"
    out = client.update_biosamples([{"central_sample_id": "HOOT-00101", "adm2": "Birmingham"}])
    assert out["success"] and client.get_biosample("HOOT-00101")["adm2"] == "BIRMINGHAM"
    with pytest.raises(AuthError) as ei:  # addempty needs force_add, which the default scopes leave out
        client.addempty_biosamples(["HOOT-00102"])
    assert "majora2.force_add_biosampleartifact" in str(ei.value) and ei.value.exit_code == 77
    lib = client.add_library({"library_name": "HOOT-LIB-1", "library_layout_config": "SINGLE",
                              "library_seq_kit": "NEB", "library_seq_protocol": "ARTIC",
                              "biosamples": [{"central_sample_id": "HOOT-00101",
                                              "library_source": "VIRAL_RNA", "library_selection": "PCR",
                                              "library_strategy": "AMPLICON"}]})
    assert lib["success"], lib["messages"]
    seq = client.add_sequencing({"library_name": "HOOT-LIB-1", "runs": [{
        "run_name": "HOOT-RUN-1", "instrument_make": "OXFORD_NANOPORE", "instrument_model": "GridION"}]})
    assert seq["success"], seq["messages"]
    assert "HOOT-RUN-1" in client.get_sequencing(["HOOT-RUN-1"])


def test_threads_share_one_refresh(client, majora_home):
    majora_home.expire_in(300)
    majora_home.lite.reset_counters()
    errors: list[Exception] = []

    def work():
        try:
            client.get_biosample("BIRM-00001")
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert majora_home.lite.counters()["refreshes"] == 1


def test_cli_get_and_put(majora_home, tmp_path):
    out = tmp_path / "bs.json"
    majora_home.cli("get", "biosample", "BIRM-00001", "-o", str(out))
    assert set(json.loads(out.read_text())) == {"BIRM-00001"}
    tsv = tmp_path / "samples.tsv"
    tsv.write_text("central_sample_id\tadm1\tcollection_date\tis_surveillance\tmetadata.epi.cluster\n"
                   f"HOOT-00201\tUK-ENG\t{RECENT}\tN\tC7\n")
    res = json.loads(majora_home.cli("put", "biosample", "--file", str(tsv)).stdout)
    assert res["success"]
    got = json.loads(majora_home.cli("get", "biosample", "HOOT-00201").stdout)["HOOT-00201"]
    assert got["metadata"]["epi"]["cluster"] == "C7"
    bad = majora_home.cli("get", "nonsense", check=False)
    assert bad.returncode == 64 and bad.stderr.startswith("snakemake-majora: error:")
    st = json.loads(majora_home.cli("status", "--json").stdout)
    assert st["state"] == "valid" and st["lock_backend"] == "flock" and "access_token" not in st


def test_cli_put_flags(majora_home):
    def put(*args):
        return json.loads(majora_home.cli("put", *args).stdout)

    assert put("biosample", "--central-sample-id", "HOOT-00301", "--adm1", "UK-WLS", "--received-date",
               RECENT, "--is-surveillance", "Y", "-m", "epi", "cluster", "C2")["success"]
    assert put("library", "--library-name", "HOOT-LIB-3", "--library-layout-config", "SINGLE",
               "--library-seq-kit", "NEB", "--library-seq-protocol", "ARTIC",
               "--biosample", "HOOT-00301", "VIRAL_RNA", "PCR", "AMPLICON", "ARTIC", "v3")["success"]
    assert put("sequencing", "--library-name", "HOOT-LIB-3", "--run-name", "HOOT-RUN-3",
               "--instrument-make", "OXFORD_NANOPORE", "--instrument-model", "GridION")["success"]
    # Every field Majora's sequence form requires (a partial namespace is refused: test_client_answers).
    assert put("metric", "--artifact", "HOOT-00301", "--metric", "sequence", "num_seqs", "1",
               "--metric", "sequence", "num_bases", "29903", "--metric", "sequence", "pc_acgt", "99.2",
               "--metric", "sequence", "pc_masked", "0.8",
               "--metric", "sequence", "pc_invalid", "0")["success"]
    res = majora_home.cli("put", "sequencing", "--run-name", "X", check=False)
    assert res.returncode == 64 and "--library-name" in res.stderr


def test_status_exit_code_means_login_needed(majora_home):
    """`status` is a health check: an expired access token is routine (exit 0), a dead credential is 77."""
    data = majora_home.expire_in(-3600)
    res = majora_home.cli("status", "--json", check=False)
    st = json.loads(res.stdout)
    assert res.returncode == 0 and st["state"] == "expired" and st["login_needed"] is False
    data["invalid"] = {"since": data["expires_at"], "reason": "invalid_grant",
                       "generation": data["generation"]}
    majora_home.token_file.write_text(json.dumps(data))
    res = majora_home.cli("status", "--json", check=False)
    assert res.returncode == 77 and json.loads(res.stdout)["login_needed"] is True
    assert "snakemake-majora login" in majora_home.cli("token", check=False).stderr


def test_task_polling_backs_off_and_stops_before_the_deadline(client, majora_home, monkeypatch):
    # An unknown task id stays PENDING on Majora (celery's AsyncResult), so the client polls until it
    # gives up: every 0.25 s for the first 2.5 s, then a tenth of the time waited, and no sleep that
    # would end past the 3 s deadline.
    import time

    from snakemake_majora.errors import TemporaryError

    slept, said = [], []
    real_sleep = time.sleep
    monkeypatch.setattr(time, "sleep", lambda s: (slept.append(s), real_sleep(s)))
    client.progress = said.append
    calls = majora_home.lite.counters()["api_calls"]
    t0 = time.monotonic()
    with pytest.raises(TemporaryError, match=r"still PENDING after \ds; fetch it later with"):
        client.wait_task("0b6f4c2e-6d1a-4f3e-9a57-0c3c9d0e7f11", timeout=3)
    assert time.monotonic() - t0 < 3
    assert slept[0] == 0.25 and all(0.25 <= s <= 0.31 for s in slept) and 3 <= len(slept) <= 12
    assert majora_home.lite.counters()["api_calls"] - calls == len(slept) + 1
    assert len(said) == len(slept) and said[0].startswith("waiting for task 0b6f4c2e: PENDING")


def test_task_polling_is_at_most_a_tenth_late():
    """A long task is asked about every tenth of the time waited (at most 15 s): the former x1.6 backoff
    saw a task that took 20 s only at 28 s, most of a large listing's cost over a raw download."""
    from types import SimpleNamespace

    from snakemake_majora.client import _poll_wait

    waits = {t: _poll_wait(SimpleNamespace(seconds_since_start=t)) for t in (0.0, 1.0, 20.0, 100.0, 1000.0)}
    assert waits == {0.0: 0.25, 1.0: 0.25, 20.0: 2.0, 100.0: 10.0, 1000.0: 15.0}
