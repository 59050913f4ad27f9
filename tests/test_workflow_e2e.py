"""The example workflow end to end on the local executor, against majora-lite in strict mode with
access tokens that expire several times during the run (so refreshes happen while jobs run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures_client import MajoraHome
from fixtures_server import start_lite
from workflow_helpers import QC_TEST, manifest, metric_adds, snakemake, write_config

TOKEN_LIFETIME = 6  # seconds; the client refreshes at half-life, so every ~3 s of a ~15 s run


@pytest.fixture(scope="module")
def wf_lite(tmp_path_factory):
    handle = start_lite(tmp_path_factory.mktemp("lite-wf"), biosamples=20, strict=True,
                        access_token_lifetime=TOKEN_LIFETIME)
    try:
        yield handle
    finally:
        handle.server.stop()


def test_pag_batch_end_to_end_then_nothing_to_do(wf_lite, tmp_path: Path) -> None:
    """A PAG-query batch: every sample validated, metrics pushed by parallel jobs, one shared credential,
    no refresh-token reuse; a rerun redoes the batch once (the pushed metrics change the PAG record),
    then nothing is left to do."""
    home = MajoraHome(wf_lite, tmp_path)
    work = tmp_path / "work"
    write_config(work, {"pag": {"test_name": QC_TEST, "pass": True}})
    wf_lite.server.reset_counters()

    proc = snakemake(work, home.env, "--cores", "4")
    assert proc.returncode == 0, proc.stderr[-4000:]

    rows = manifest(work)
    expected = wf_lite.seed_summary["pags"][QC_TEST]["pass"]
    assert len(rows) == expected > 0
    assert {r["in_majora"] for r in rows} == {"yes"}
    assert {r["metadata_valid"] for r in rows} == {"yes"}, [r["metadata_problems"] for r in rows]
    assert {r["adm1"] for r in rows} <= {"UK-ENG", "UK-SCT", "UK-WLS", "UK-NIR"}
    # Seeded IDs 1..20 all have a lab QC file: every sample's metrics went to Majora, once each.
    assert {r["metrics_pushed"] for r in rows} == {"yes"}
    assert {r["qc_pass"] for r in rows} <= {"pass", "fail"}
    counters = wf_lite.counters()
    assert metric_adds(counters) == len(rows)
    for r in rows:
        pushed = json.loads((work / "results" / "pushed" / f"{r['central_sample_id']}.json").read_text())
        assert pushed["updated"], pushed  # Majora acknowledged the artifact it updated
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

    # The metrics went to the PAGs' consensus files, whose metrics the PAG record lists (as Majora's
    # task_get_pag_v2 does), so the next run sees a changed batch record and redoes the batch once.
    second = snakemake(work, home.env, "--cores", "4")
    assert second.returncode == 0, second.stderr[-4000:]
    assert "Updated input files: majora://pag/" in second.stdout + second.stderr
    again = snakemake(work, home.env, "--cores", "4", "--dry-run")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Nothing to be done" in again.stdout + again.stderr


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
