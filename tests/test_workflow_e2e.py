"""The example workflow end to end on the local executor, against majora-lite in strict mode with
access tokens that expire several times during the run (so refreshes happen while jobs run)."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from fixtures_client import MajoraHome
from fixtures_server import start_lite
from workflow_helpers import LAB_QC, QC_TEST, calls, manifest, snakemake, write_config

from snakemake_majora.config import DEFAULT_SCOPES
from snakemake_majora.demo import PUBLISH_SCOPES, register_run

HQ_TEST = "cog-uk-high-quality-public"

TOKEN_LIFETIME = 6  # seconds; the client refreshes at half-life, so every ~3 s of a ~15 s run


@pytest.fixture(scope="module")
def wf_lite(tmp_path_factory):
    handle = start_lite(tmp_path_factory.mktemp("lite-wf"), biosamples=20, strict=True,
                        access_token_lifetime=TOKEN_LIFETIME)
    try:
        yield handle
    finally:
        handle.server.stop()


def majora_rule(row: dict[str, str], read_length: int = 150) -> str:
    """cog-uk-high-quality-public's Illumina rules (Majora's data/qc/high-quality/gisaid1-*-ill.qc) on a
    lab QC row: fail when pc_masked >= 10, mean_cov < 10 or pc_pos_cov_gte10 < 90."""
    mean_cov = round(int(row["num_aligned_reads"]) * read_length / 29903, 1)
    fail = float(row["pct_N_bases"]) >= 10 or mean_cov < 10 or float(row["pct_covered_bases"]) < 90
    return "FAIL" if fail else "PASS"


def lab_row(lab: Path, sample: str) -> dict[str, str]:
    with open(lab / f"{sample}.qc.csv", newline="") as fh:
        return next(csv.DictReader(fh))


def test_pag_batch_publishes_measures_and_qcs_then_nothing_to_do(wf_lite, tmp_path: Path) -> None:
    """A PAG-query batch: every sample with a lab file is published by parallel jobs (consensus file in
    its PAG, metrics, Majora's QC) through one shared credential, without refresh-token reuse; what
    Majora made of it is read back through `get pag`; a rerun has nothing to do; editing one lab QC file
    re-publishes exactly that sample."""
    home = MajoraHome(wf_lite, tmp_path, scopes=[*DEFAULT_SCOPES, *PUBLISH_SCOPES])
    lab = tmp_path / "lab-qc"
    shutil.copytree(LAB_QC, lab)
    work = tmp_path / "work"
    write_config(work, {"pag": {"test_name": QC_TEST, "pass": True}}, publish={"run_name": "E2E-RUN-1"},
                 lab_qc={"dir": str(lab), "min_pct_covered_bases": 90.0, "min_longest_no_N_run": 10000})
    # The run the PAGs are named after exists, as on Majora (whose listing fails on a PAG without one).
    example = wf_lite.seed_summary["example"]["central_sample_id"]
    register_run(wf_lite.server, wf_lite.username, "E2E-RUN-1", example)
    wf_lite.server.reset_counters()

    proc = snakemake(work, home.env, "--cores", "4")
    assert proc.returncode == 0, proc.stderr[-4000:]

    rows = manifest(work)
    expected = wf_lite.seed_summary["pags"][QC_TEST]["pass"]
    assert len(rows) == expected > 0
    assert {r["in_majora"] for r in rows} == {"yes"}
    assert {r["metadata_valid"] for r in rows} == {"yes"}, [r["metadata_problems"] for r in rows]
    assert {r["adm1"] for r in rows} <= {"UK-ENG", "UK-SCT", "UK-WLS", "UK-NIR"}
    # Seeded IDs 1..20 all have a lab QC file: every sample was published, once each.
    assert {r["metrics_pushed"] for r in rows} == {"yes"}
    counters = wf_lite.counters()
    for endpoint in ("artifact/file/add", "meta/metric/add", "meta/qc/add"):
        assert calls(counters, endpoint) == len(rows), endpoint
    # The PAGs, metrics and QC outcomes as Majora's side made them, read back through `get pag`.
    pags = {r["published_name"]: r["pag"] for r in
            json.loads(home.cli("get", "pag", "--test-name", HQ_TEST).stdout)["result"]}
    outcomes = set()
    for r in rows:
        sid = r["central_sample_id"]
        assert r["publish_group"] == f"COGUK/{sid}/BIRM:E2E-RUN-1"
        pag = pags[r["publish_group"]]
        qc = lab_row(lab, sid)
        fasta = (lab / qc["fasta"]).absolute()
        (consensus,) = pag["artifacts"]["consensus"]
        assert consensus["current_path"] == str(fasta)
        assert consensus["current_hash"] == hashlib.md5(fasta.read_bytes(), usedforsecurity=False).hexdigest()
        assert consensus["current_size"] == fasta.stat().st_size
        assert consensus["num_pos"] == 29903
        assert consensus["pc_pos_cov_gte10"] == float(qc["pct_covered_bases"])
        assert [b["central_sample_id"] for b in pag["artifacts"]["biosample"]] == [sid]
        assert pag["qc_reports"]["cog_uk_high_quality_public"] == r["majora_qc"] == majora_rule(qc)
        outcomes.add(r["majora_qc"])
    assert outcomes == {"PASS", "FAIL"}  # the seeded batch has both
    for png in ("samples_per_region_week.png", "qc_pass_fail.png"):
        assert (work / "results" / "plots" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The tokens expired during the run and were refreshed, never with a reused refresh token.
    assert counters["refreshes"] >= 1
    assert counters["invalid_grant"] == 0
    assert counters["family_revocations"] == 0
    # No secret in anything the workflow wrote.
    texts = [p.read_text(errors="replace") for p in (work / ".snakemake" / "log").glob("*.log")]
    texts += [p.read_text(errors="replace") for p in (work / "results").rglob("*") if p.is_file()
              and p.suffix != ".png"]
    for secret in home.secrets():
        assert not any(secret in t for t in texts)

    # Its own write-back changed nothing the workflow reads before it: a rerun has nothing to do.
    again = snakemake(work, home.env, "--cores", "4", "--dry-run")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout[-3000:]

    # Edit one lab QC file: exactly that sample is published again, and Majora's QC now fails it.
    passing = next(r["central_sample_id"] for r in rows if r["majora_qc"] == "PASS")
    qc_file = lab / f"{passing}.qc.csv"
    header, values = qc_file.read_text().splitlines()
    fields = dict(zip(header.split(","), values.split(","), strict=True))
    fields["pct_covered_bases"] = "61.5"
    qc_file.write_text(header + "\n" + ",".join(fields[k] for k in header.split(",")) + "\n")
    wf_lite.server.reset_counters()
    third = snakemake(work, home.env, "--cores", "4")
    assert third.returncode == 0, third.stderr[-4000:]
    counters = wf_lite.counters()
    for endpoint in ("artifact/file/add", "meta/metric/add", "meta/qc/add"):
        assert calls(counters, endpoint) == 1, endpoint
    stats = third.stdout + third.stderr
    assert re.search(r"^publish\s+1$", stats, re.M), stats[-3000:]
    assert not re.search(r"^validate\s+\d+$", stats, re.M), stats[-3000:]  # the records did not change
    edited = {r["central_sample_id"]: r for r in manifest(work)}[passing]
    assert edited["majora_qc"] == "FAIL" and edited["pct_covered_bases"] == "61.5"
    pag = {r["published_name"]: r["pag"] for r in json.loads(
        home.cli("get", "pag", "--test-name", HQ_TEST, "--fail").stdout)["result"]}[edited["publish_group"]]
    assert pag["artifacts"]["consensus"][0]["pc_pos_cov_gte10"] == 61.5


def test_bad_config_gets_one_line_naming_the_key(tmp_path: Path) -> None:
    """Schema validation: a wrong type is reported with the key's path, without a traceback."""
    work = tmp_path / "work"
    write_config(work, {"samples": ["BIRM-00001"]},
                 lab_qc={"dir": "qc", "min_pct_covered_bases": "ninety"})
    proc = snakemake(work, None, "--cores", "1", "--dry-run", kill_after=120)
    assert proc.returncode != 0
    err = proc.stdout + proc.stderr
    assert "invalid config at 'lab_qc.min_pct_covered_bases': 'ninety' is not of type 'number'" in err
    assert "Traceback" not in err


def test_batch_must_name_exactly_one_source(tmp_path: Path) -> None:
    work = tmp_path / "work"
    write_config(work, {"run_name": "RUN1", "samples": ["BIRM-00001"]})
    proc = snakemake(work, None, "--cores", "1", "--dry-run", kill_after=120)
    assert proc.returncode != 0
    assert ("set exactly one of batch.run_name, batch.pag, batch.samples, batch.sample_sheet "
            "(found run_name, samples)") in proc.stdout + proc.stderr
