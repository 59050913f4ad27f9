"""`make demo` (python -m snakemake_majora.demo) from scratch, then again: the second run redoes nothing."""

from __future__ import annotations

import csv
import re

from fixtures_demo import demo


def test_demo_runs_logs_in_refreshes_and_is_idempotent(demo_run) -> None:
    state, first = demo_run.state, demo_run.first
    out = first.stdout + first.stderr
    assert first.returncode == 0, out[-4000:]
    assert "login: `snakemake-majora login --callback-url` stored the token" in out
    refreshes = int(re.search(r"refreshes: (\d+) token refresh", out).group(1))
    assert refreshes >= 1, out[-2000:]
    assert re.search(r"0 invalid_grant, 0 family revocation", out)
    # Every sample with a lab file was registered, measured and QC'd; Majora's QC passed and failed some.
    published = re.search(r"(\d+) PAGs published \(consensus file, metrics, QC\): (\d+) passed and (\d+) "
                          r"failed Majora's QC \(cog-uk-high-quality-public\)", out)
    assert published, out[-2000:]
    n, passed, failed = map(int, published.groups())
    assert n == 28 and passed + failed == n and passed > 0 and failed > 0
    assert (state / "report.html").stat().st_size > 0

    with open(state / "work" / "results" / "manifest.tsv", newline="") as fh:
        rows = {r["central_sample_id"]: r for r in csv.DictReader(fh, delimiter="\t")}
    assert len(rows) == 33
    assert rows["LOND-09999"]["in_majora"] == "no"  # not in Majora: reported, not dropped
    assert rows["BIRM-00901"]["metadata_problems"].startswith("metadata: none submitted yet")
    assert rows["NORW-00005"]["qc_pass"] == "fail"  # the shipped lab QC file has 74% coverage
    assert rows["NORW-00005"]["majora_qc"] == "FAIL" and rows["BIRM-00001"]["majora_qc"] == "PASS"
    assert rows["BIRM-00001"]["publish_group"] == "COGUK/BIRM-00001/BIRM:DEMO-RUN-0001"
    assert rows["BIRM-00001"]["metadata_valid"] == "yes" and rows["BIRM-00001"]["metrics_pushed"] == "yes"
    assert rows["NORW-00029"]["qc_pass"] == "" and rows["NORW-00029"]["metrics_pushed"] == "no"  # no QC file

    second = demo(state)
    out2 = second.stdout + second.stderr
    assert second.returncode == 0, out2[-4000:]
    assert "Nothing to be done" in out2
    assert "seeding majora-lite" not in out2  # the server's data was kept
