"""``pag/qc/get`` task results and task get replies in the shapes production Majora gives them.

Expected keys follow CLIMB-COVID/majora2 ``majora2/tasks.py`` (``task_get_pag_v2``, ``task_get_pagfiles``)
and ``majora2/api_views.py`` (``get_pag_by_qc_celery``, ``get_task_result``); values come from the seeded
data (``majora_lite/ops/seed.py``).
"""

from __future__ import annotations

import json
import time

import pytest
import requests

PAG_KEYS = {
    "published_name",
    "published_version",
    "published_date",
    "owner_institute_code",
    "published_uuid",
    "owner_org_ena_assembly_opted",
    "owner_org_ena_opted",
    "owner_org_gisaid_opted",
    "owner_username",
    "owner_org_code",
    "owner_org_name",
    "owner_org_gisaid_user",
    "owner_org_gisaid_mail",
    "qc_reports",
    "artifacts",
}
CREDIT_KEYS = {
    "credit_code_only",
    "credit_code",
    "institute_code",
    "credit_lab_org_name",
    "credit_lab_name",
    "credit_lab_addr",
    "credit_lab_list",
}
SEQUENCING_KEYS = {"id", "run_name", "instrument_make", "instrument_model", "sequencing_org_run_date"}
BIOSAMPLE_KEYS = {
    "central_sample_id",
    "anonymous_sample_id",
    "collection_date",
    "received_date",
    "submission_user",
    "submission_org",
    "submission_org_credit_name",
    "submission_org_code",
    "adm0",
    "adm1",
    "min_ct",
    "max_ct",
    "is_surveillance",
    "collection_pillar",
    "adm1_trans",
}
LIBRARY_KEYS = {
    "in_artifact__dice_name",
    "library_strategy",
    "library_source",
    "library_selection",
    "library_protocol",
    "library_primers",
    "sequencing_org_received_date",
    "seq_kit",
    "seq_protocol",
    "library_adaptor_barcode",
}
FILE_KEYS = {
    "current_kind",
    "current_path",
    "current_hash",
    "current_size",
    "num_bases",
    "longest_ungap",
    "pc_acgt",
    "pc_masked",
    "mean_cov",
    "num_pos",
    "pc_pos_cov_gte10",
    "pc_pos_cov_gte20",
    "pipe_id",
    "pipe_kind",
    "pipe_name",
    "pipe_version",
}
TEST = "cog-uk-elan-minimal-qc"
# task_get_pag_v2's adm1 translation (Northern_Ireland with an underscore; the seed has no UK-NIR sample).
ADM1_NAMES = {"UK-ENG": "England", "UK-SCT": "Scotland", "UK-WLS": "Wales", "UK-NIR": "Northern_Ireland"}
TASK_MESSAGE = "Call api.majora.task.get with the appropriate task ID later..."


@pytest.fixture(scope="module")
def key(lite):
    return lite.server.apikey(lite.username, permission="majora2.temp_can_read_pags_via_api")


def call(lite, key, path, **fields):
    r = requests.post(lite.url + path, json={"username": lite.username, "token": key, **fields}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def start_and_poll(lite, key, path, **fields):
    """The starting reply, the first (PENDING or final) poll reply, and the final poll reply."""
    started = call(lite, key, path, **fields)
    (task_id,) = started["tasks"]
    first = None
    for _ in range(600):
        res = call(lite, key, "api/v2/majora/task/get/", task_id=task_id)
        first = first or res
        if res["task"]["state"] != "PENDING":
            return started, first, res
        time.sleep(0.05)
    raise AssertionError("task still PENDING")


@pytest.fixture(scope="module")
def public_pags(lite, key):
    _started, _first, res = start_and_poll(lite, key, "api/v2/pag/qc/get/", test_name=TEST, public=True)
    assert res["task"]["state"] == "SUCCESS" and res["get"]["count"] > 0
    return res["get"]["result"]


def test_pag_struct_keys_are_majoras(public_pags):
    for row in public_pags:
        pag = row["pag"]
        # Public PAGs have a public accession, so Majora adds `accessions`; biosample-backed PAGs get credit.
        assert set(pag) == PAG_KEYS | CREDIT_KEYS | {"accessions"}, row["published_name"]
        assert "is_public" not in pag and "is_suppressed" not in pag
        art = pag["artifacts"]
        assert set(art) == {"sequencing", "biosample", "library", "consensus"}
        assert all(len(v) == 1 for v in art.values())
        assert set(art["sequencing"][0]) == SEQUENCING_KEYS
        assert set(art["biosample"][0]) == BIOSAMPLE_KEYS
        assert set(art["library"][0]) == LIBRARY_KEYS
        assert set(art["consensus"][0]) == FILE_KEYS
        assert set(pag["accessions"]["ENA-ASSEMBLY"]) == {"primary_accession", "secondary_accession"}


def test_pag_struct_values_come_from_the_seed(public_pags):
    for row in public_pags:
        pag, name = row["pag"], row["published_name"]
        csid = name.split("/")[1]
        code = csid.split("-")[0]
        assert pag["published_name"] == name and pag["published_version"] == 1
        assert pag["owner_username"] == f"{code.lower()}-bot"
        assert pag["owner_institute_code"] == pag["owner_org_code"] == code
        # Majora's Institute defaults for the opt-ins and GISAID details majora-lite does not store.
        assert (
            pag["owner_org_ena_opted"],
            pag["owner_org_ena_assembly_opted"],
            pag["owner_org_gisaid_opted"],
        ) == (
            True,
            False,
            False,
        )
        assert pag["owner_org_gisaid_user"] is None and pag["owner_org_gisaid_mail"] is None
        # v1 (institute) credit, with the lab name falling back to the institute's name.
        assert pag["credit_code"] == pag["institute_code"] == code and pag["credit_code_only"] is False
        assert pag["credit_lab_name"] == pag["credit_lab_org_name"] == pag["owner_org_name"]
        assert pag["qc_reports"]["cog_uk_elan_minimal_qc"] == "PASS"

        art = pag["artifacts"]
        run = art["sequencing"][0]
        assert run["run_name"] == name.split(":")[1] and run["instrument_make"] == "ILLUMINA"
        assert run["sequencing_org_run_date"] == pag["published_date"]  # the seed runs and publishes same day
        bs = art["biosample"][0]
        assert bs["central_sample_id"] == csid and bs["submission_org_code"] == code
        assert bs["submission_org_credit_name"] == bs["submission_org"] == pag["owner_org_name"]
        assert bs["adm1_trans"] == ADM1_NAMES[bs["adm1"]]
        assert isinstance(bs["is_surveillance"], bool)  # raw boolean in task_get_pag_v2, not Y/N
        assert bs["min_ct"] <= bs["max_ct"]
        lib = art["library"][0]
        assert lib["in_artifact__dice_name"] == csid and lib["seq_kit"] == "ARTIC"
        assert lib["sequencing_org_received_date"] == bs["received_date"]
        f = art["consensus"][0]
        assert f["current_path"].endswith(f"/{csid}.fasta")
        # As Majora (corpus p13): only the newest metric's columns are filled (the seed adds mapping
        # after sequence), and the pipe keys come from the pipeline that file/add recorded.
        assert f["mean_cov"] >= 10 and f["pc_pos_cov_gte10"] >= 50 and f["num_pos"] == 29903
        assert f["num_bases"] is None and f["pc_acgt"] is None and f["pc_masked"] is None
        assert f["pipe_kind"] == "Pipeline" and f["pipe_name"] == "ARTIC" and f["pipe_id"]


def test_pagfiles_rows_keep_majoras_columns(lite, key):
    _s, _f, res = start_and_poll(
        lite, key, "api/v2/pag/qc/get/", test_name=TEST, mode="pagfiles", public=True
    )
    rows = res["get"]["result"]
    assert rows and res["get"]["count"] == len(rows)
    for name, kind, path, md5, size, suppressed, is_pass, published in rows:
        assert name.startswith("COG-UK/") and kind == "consensus" and path.endswith(".fasta")
        assert len(md5) == 32 and isinstance(size, int)
        # Celery's JSON writes the published date as midnight of that day (issue 22 item 2).
        assert suppressed is False and is_pass is True
        assert published.endswith("T00:00:00") and len(published) == 19


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("api/v2/pag/qc/get/", {"test_name": TEST, "fail": True}),
        ("api/v2/process/sequencing/get/", {"run_name": ["*"]}),
    ],
)
def test_task_reply_is_the_stored_result_of_the_starting_request(lite, key, path, fields):
    if "run_name" in fields:
        key = lite.server.apikey(lite.username)
    started, first, res = start_and_poll(lite, key, path, **fields)
    assert res["task"]["state"] == "SUCCESS"
    # Majora's task get does api_o.update(res.get()): the stored api_o is the one the starting view passed
    # to the task before adding the task id and its message, so its uuid, lists and counters replace the
    # poll's own.
    assert res["request"] == started["request"]
    assert res["tasks"] == [] and TASK_MESSAGE not in res["messages"]
    assert res["success"] is True and res["errors"] == 0
    if first is not res:
        # A poll that finds the task still PENDING answers with its own request uuid.
        assert first["request"] != started["request"]


def test_pag_struct_follows_later_changes(lite_factory):
    """Own server (it adds QC and metrics): QC filter, file metrics and adm1_trans follow the data."""
    own = lite_factory(biosamples=6)
    key = own.server.apikey(own.username)
    pags = own.server.apikey(own.username, permission="majora2.temp_can_read_pags_via_api")
    _s, _f, res = start_and_poll(own, pags, "api/v2/pag/qc/get/", test_name=TEST, **{"pass": True})
    pag = res["get"]["result"][0]["pag"]
    name, fasta = pag["published_name"], pag["artifacts"]["consensus"][0]["current_path"]
    csid = pag["artifacts"]["biosample"][0]["central_sample_id"]

    sequence = {"num_seqs": 1, "num_bases": 29903, "pc_acgt": 10.0, "pc_masked": 90.0, "pc_invalid": 0.0}
    mapping = {"num_pos": 29000, "mean_cov": 812.5, "pc_pos_cov_gte10": 98.1, "pc_pos_cov_gte20": 97.0}
    out = call(
        own,
        key,
        "api/v2/meta/metric/add/",
        artifact_path=fasta,
        metrics={"sequence": sequence, "mapping": mapping},
    )
    assert out["errors"] == 0, out
    # A second QC test that this PAG fails (the loaded high-quality rules: pc_masked 90 >= 10).
    out = call(
        own,
        key,
        "api/v2/meta/qc/add/",
        publish_group=name,
        test_name="cog-uk-high-quality-public",
        test_version=1,
    )
    assert out["errors"] == 0, out
    ill = json.loads(out["test_results"])[0]
    assert ill["test"] == "High Quality Sequence ILL" and ill["is_pass"] is False, out
    out = call(
        own,
        key,
        "api/v2/artifact/biosample/update/",
        biosamples=[{"central_sample_id": csid, "adm1": "UK-NIR"}],
    )
    assert out["errors"] == 0, out

    # Majora applies the test and pass/fail to the same QC report: failing another test does not make
    # this PAG a minimal-QC failure.
    _s, _f, res = start_and_poll(own, pags, "api/v2/pag/qc/get/", test_name=TEST, fail=True)
    assert name not in {r["published_name"] for r in res["get"]["result"]}
    _s, _f, res = start_and_poll(
        own, pags, "api/v2/pag/qc/get/", test_name="cog-uk-high-quality-public", fail=True
    )
    (pag,) = [r["pag"] for r in res["get"]["result"] if r["published_name"] == name]
    assert pag["qc_reports"] == {"cog_uk_elan_minimal_qc": "PASS", "cog_uk_high_quality_public": "FAIL"}
    f = pag["artifacts"]["consensus"][0]
    # The metrics were re-sent (same rows, sequence first): the mapping row is the newest, so only its
    # columns are filled (Majora's one-join-row-per-metric listing).
    assert (f["pc_acgt"], f["mean_cov"], f["num_pos"], f["pc_pos_cov_gte20"]) == (None, 812.5, 29000, 97.0)
    assert pag["artifacts"]["biosample"][0]["adm1_trans"] == "Northern_Ireland"
