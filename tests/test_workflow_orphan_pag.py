"""The example workflow's QC read-back on a server holding PAGs without a sequencing run (Majora's
default-mode pag/qc/get task fails on those, for every user): the read-back asks only for the PAGs
published around the batch, in pagfiles mode, and a failed default-mode listing names the PAG at fault."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from fixtures_client import MajoraHome
from fixtures_server import start_lite
from workflow_helpers import QC_TEST, calls, manifest, snakemake, write_config

from snakemake_majora.config import DEFAULT_SCOPES
from snakemake_majora.demo import PUBLISH_SCOPES

BATCH = ["BIRM-00001", "CAMB-00002", "EDIN-00003", "LOND-00004"]
ORPHANS = 2


@pytest.fixture(scope="module")
def orphan_lite(tmp_path_factory):
    # 20 seeded samples (the lab QC files' IDs) with PAGs, plus bulk-seeded PAGs published 60 days ago,
    # two of which name a run nobody registered.
    anchor = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=60)).isoformat()
    handle = start_lite(tmp_path_factory.mktemp("lite-orphan"), biosamples=20,
                        bulk_seed={"biosamples": 12, "pags": 10, "orphan_pags": ORPHANS, "anchor": anchor})
    try:
        yield handle
    finally:
        handle.server.stop()


def test_qc_read_back_asks_for_the_batch_only_and_runless_pags_do_not_break_it(orphan_lite, tmp_path: Path):
    home = MajoraHome(orphan_lite, tmp_path, scopes=[*DEFAULT_SCOPES, *PUBLISH_SCOPES])
    work = tmp_path / "work"
    write_config(work, {"samples": BATCH}, publish={"run_name": "ORPHAN-WF-RUN"})
    orphan_lite.server.reset_counters()
    proc = snakemake(work, home.env, "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-4000:]
    rows = manifest(work)
    assert sorted(r["central_sample_id"] for r in rows) == BATCH
    # Every published PAG got Majora's verdict back (none "NOT EVALUATED"), from one query ...
    assert {r["majora_qc"] for r in rows} <= {"PASS", "FAIL"}, rows
    assert calls(orphan_lite.counters(), "pag/qc/get") == 1
    # ... that asked for the PAGs published around this run: the batch's, not the server's other PAGs
    # of the test (seeded on earlier days, and the bulk seed's, orphans among them).
    log = (work / "results" / "logs" / "majora_qc.log").read_text()
    asked = re.search(r"mode=pagfiles published_after=(\S+) published_before=(\S+): (\d+) rows", log)
    assert asked, log
    after, before, got = asked[1], asked[2], int(asked[3])
    everything = json.loads(home.cli("get", "pag", "--test-name", published_test(work),
                                     "--mode", "pagfiles").stdout)["result"]
    in_window = [r for r in everything if after < r[7][:10] < before]
    assert got == len(in_window) < len(everything), (got, len(everything))
    assert any(":ORPHAN-UNREGISTERED-RUN" in r[0] for r in everything)
    for sample in BATCH:
        assert json.loads((work / "results" / "published" / f"{sample}.json").read_text())["published_on"]


def published_test(work: Path) -> str:
    return json.loads(next((work / "results" / "published").glob("*-*.json")).read_text())["qc_test"]


def test_failed_pag_listing_names_the_pag_without_a_run_and_what_to_do(orphan_lite, tmp_path: Path):
    home = MajoraHome(orphan_lite, tmp_path)
    # Majora's task fails on such a PAG; majora-lite's may not (yet): the first listing task fails
    # as Majora's does, the diagnosis that follows runs on the server as it is.
    orphan_lite.server.set_faults([{"path": "/api/v2/pag/qc/get/", "action": "fail_task", "count": 1}])
    try:
        res = home.cli("get", "pag", "--test-name", QC_TEST, check=False)
    finally:
        orphan_lite.server.clear_faults()
    assert res.returncode == 69, res.stderr
    err = res.stderr.strip()
    assert "ORPHAN-UNREGISTERED-RUN" in err and "a sequencing run Majora does not know" in err, err
    assert "register the run" in err and "mode=pagfiles" in err, err
    assert "Traceback" not in err
