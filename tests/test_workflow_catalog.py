"""The example workflow as the Snakemake workflow catalog presents it: `.snakemake-workflow-catalog.yml`,
the `.test/` configuration (a sample sheet) run against majora-lite, and the sample sheet's checks."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import yaml
from fixtures_client import MajoraHome
from fixtures_server import start_lite
from workflow_helpers import LAB_QC, REPO, manifest, snakemake

from snakemake_majora.config import DEFAULT_SCOPES
from snakemake_majora.demo import PUBLISH_SCOPES

TEST_DIR = REPO / ".test"


@pytest.fixture(scope="module")
def sheet_lite(tmp_path_factory):
    handle = start_lite(tmp_path_factory.mktemp("lite-sheet"), biosamples=20)
    try:
        yield handle
    finally:
        handle.server.stop()


def _copy_test_dir(dest: Path) -> Path:
    """`.test/` as shipped, with the lab QC directory (relative to the repository) made absolute."""
    shutil.copytree(TEST_DIR, dest)
    conf_path = dest / "config" / "config.yaml"
    conf = yaml.safe_load(conf_path.read_text())
    assert conf["lab_qc"]["dir"] == "../resources/lab-qc"  # .test/ is a working directory of the repo
    conf["lab_qc"]["dir"] = str(LAB_QC)
    conf_path.write_text(yaml.safe_dump(conf, sort_keys=False))
    return dest


def _sheet_ids(path: Path) -> list[str]:
    with open(path, newline="") as fh:
        return [r["central_sample_id"] for r in csv.DictReader(fh, delimiter="\t")]


def test_catalog_file_declares_usage():
    conf = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())
    usage = conf["usage"]
    assert usage["report"] is True
    assert any(usage["software-stack-deployment"].values())
    assert "snakemake-majora login" in usage["mandatory-flags"]["desc"]
    assert (REPO / "workflow" / "Snakefile").is_file() and (REPO / "config" / "README.md").is_file()


def test_test_config_runs_the_sample_sheet_batch(sheet_lite, tmp_path):
    home = MajoraHome(sheet_lite, tmp_path, scopes=[*DEFAULT_SCOPES, *PUBLISH_SCOPES])
    work = _copy_test_dir(tmp_path / "test")
    ids = _sheet_ids(work / "config" / "samples.tsv")

    proc = snakemake(work, home.env, "--cores", "2")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    rows = manifest(work)
    assert [r["central_sample_id"] for r in rows] == ids  # sheet order, unknown IDs kept
    by_id = {r["central_sample_id"]: r for r in rows}
    assert by_id["LOND-09999"]["in_majora"] == "no"
    assert by_id["NORW-00005"]["qc_pass"] == "fail"
    with open(work / "results" / "batch" / "samples.tsv", newline="") as fh:
        assert {r["source"] for r in csv.DictReader(fh, delimiter="\t")} == {"sample_sheet"}

    # Finished batch: nothing to do, and planning it offline asks Majora nothing at all.
    before = sum(sheet_lite.counters()["paths"].values())
    again = snakemake(work, home.env, "--cores", "2", "--dry-run", "--storage-majora-recheck", "never")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Nothing to be done" in again.stdout + again.stderr
    assert sum(sheet_lite.counters()["paths"].values()) == before

    # A sample added to the sheet: the batch is resolved again and only the new sample is validated.
    with open(work / "config" / "samples.tsv", "a") as fh:
        fh.write("CWAR-00006\tT0006\tadded later\n")
    more = snakemake(work, home.env, "--cores", "2")
    out = more.stdout + more.stderr
    assert more.returncode == 0, out[-4000:]
    assert "checkpoint resolve_batch" in out or "rule resolve_batch" in out
    assert out.count("rule validate:") == 1, out[-3000:]
    assert [r["central_sample_id"] for r in manifest(work)] == [*ids, "CWAR-00006"]


@pytest.mark.parametrize(
    ("sheet", "message"),
    [
        ("central_sample_id\tnote\nBIRM-00001\t\nBIRM-00001\tagain\n", "line 3: BIRM-00001 is listed twice"),
        ("central_sample_id\nBIRM 00001\n", "line 2, column central_sample_id: 'BIRM 00001' does not match"),
        ("sample\nBIRM-00001\n",
         "line 2, column central_sample_id: 'central_sample_id' is a required property"),
        ("central_sample_id\n", "no samples"),
    ],
)
def test_bad_sample_sheet_is_one_line(tmp_path, sheet, message):
    work = _copy_test_dir(tmp_path / "test")
    (work / "config" / "samples.tsv").write_text(sheet)
    proc = snakemake(work, None, "--cores", "1", "--dry-run", kill_after=120)
    err = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "invalid sample sheet config/samples.tsv" in err and message in err, err[-2000:]
    assert "Traceback" not in err


def test_test_config_is_lint_clean(tmp_path):
    work = _copy_test_dir(tmp_path / "test")
    proc = snakemake(work, None, "--lint", kill_after=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Lints for" not in proc.stdout + proc.stderr
