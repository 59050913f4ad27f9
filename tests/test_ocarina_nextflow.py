"""The Elan-style Nextflow example (contrib/nextflow/elan.nf) without Nextflow: its processes' scripts run
as parallel tasks would, with `snakemake-majora ocarina`, against a strict majora-lite."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from fixtures_client import MajoraHome

from snakemake_majora.demo import register_run

NF_DIR = Path(__file__).resolve().parent.parent / "contrib" / "nextflow"
ELAN_NF = (NF_DIR / "elan.nf").read_text()
SAMPLES = ["BIRM-00001", "CAMB-00002", "EDIN-00003", "LOND-00004"]
PARAMS = dict(re.findall(r"^params\.(\w+) = '?([^'\n]*?)'?\s*(?://.*)?$", ELAN_NF, flags=re.M))
SEQUENCE_FIELDS = ("num_seqs", "num_bases", "pc_acgt", "pc_masked", "pc_invalid", "longest_gap",
                   "longest_ungap")
SCOPES = ("majora2.view_biosampleartifact majora2.temp_can_read_pags_via_api "
          "majora2.add_digitalresourceartifact majora2.change_digitalresourceartifact "
          "majora2.add_temporarymajoraartifactmetric majora2.change_temporarymajoraartifactmetric "
          "majora2.add_pagqualityreport majora2.change_pagqualityreport").split()


def _script(process: str) -> str:
    """The shell line of a process's ``script:`` block."""
    block = ELAN_NF.split(f"process {process} {{", 1)[1]
    return re.search(r'"""\n\s*(.+?)\n\s*"""', block, flags=re.S).group(1).strip()


def _fill(line: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{(params\.)?(\w+)\}", lambda m: values[m.group(2)], line)


def _home(lite, root: Path) -> MajoraHome:
    home = MajoraHome(lite, root, login=False)
    cfg = home.home / "config.yaml"
    data = json.loads(cfg.read_text())
    data["profiles"]["test"]["scopes"] = SCOPES
    cfg.write_text(json.dumps(data))
    home.login()
    home.env["PATH"] = os.pathsep.join([str(NF_DIR / "bin"), str(Path(sys.executable).parent),
                                        os.environ["PATH"]])
    return home


def _parallel(cmds: list[str], cwd: Path, env: dict[str, str]) -> list[tuple[int, str]]:
    procs = [subprocess.Popen(["bash", "-c", c], cwd=cwd, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for c in cmds]
    return [(p.wait(timeout=300), p.communicate()[1]) for p in procs]


def test_elan_tasks_register_files_metrics_and_qc_on_one_credential(strict_lite, tmp_path: Path) -> None:
    strict_lite.server.setup({"nodes": [{"name": PARAMS["node"]}]})  # the node Elan's files live on
    # The run the PAGs are named after was registered before, as Majora's PAG listing needs.
    register_run(strict_lite.server, strict_lite.username, PARAMS["run"], SAMPLES[0])
    home = _home(strict_lite, tmp_path)
    consensus = tmp_path / "consensus"
    consensus.mkdir()
    genome = "ACGT" * 7475 + "ACG"
    for i, sid in enumerate(SAMPLES):
        (consensus / f"{sid}.fa").write_text(f">{sid}\n{genome}\n")
        good = i % 2 == 0
        seq = (1, 29903, 99.0, 1.0, 0, 100, 29000) if good else (1, 29903, 20.0, 80.0, 0, 20000, 500)
        cov = (29903, 500.0, 99.0, 98.0) if good else (29903, 3.0, 10.0, 5.0)
        rows = [("sequence", name, value) for name, value in zip(SEQUENCE_FIELDS, seq, strict=True)]
        rows += [("mapping", name, value) for name, value in zip(
            ("num_pos", "mean_cov", "pc_pos_cov_gte10", "pc_pos_cov_gte20"), cov, strict=True)]
        (consensus / f"{sid}.metrics.tsv").write_text("".join(f"{a}\t{b}\t{c}\n" for a, b, c in rows))
    home.expire_in(1)  # every first task finds the token due: only one may refresh it
    strict_lite.server.reset_counters()

    values = [dict(PARAMS, sample=sid, fasta_path=str(consensus / f"{sid}.fa"),
                   metrics=str(consensus / f"{sid}.metrics.tsv")) for sid in SAMPLES]
    for process in ("PUT_FILE", "PUT_METRIC", "PUT_QC"):
        results = _parallel([_fill(_script(process), v) for v in values], tmp_path, home.env)
        assert [rc for rc, _ in results] == [0] * len(SAMPLES), (process, results[0][1][-2000:])
        assert not any("Traceback" in err for _, err in results)

    c = strict_lite.counters()
    assert c["refreshes"] == 1 and c["invalid_grant"] == 0 and c["family_revocations"] == 0

    listed = subprocess.run(
        [sys.executable, "-m", "snakemake_majora.cli", "ocarina", "--oauth", "-q", "get", "pag",
         "--test-name", PARAMS["qc_test"], "--mode", "pagfiles", "--task-wait"],
        env=home.env, capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr
    rows = [ln.split("\t") for ln in listed.stdout.splitlines()]
    ours = {r[0]: r for r in rows if r[0].endswith(f"{PARAMS['site']}:{PARAMS['run']}")}
    assert sorted(ours) == sorted(f"COGUK/{sid}/{PARAMS['site']}:{PARAMS['run']}" for sid in SAMPLES)
    # Majora's loaded QC rules decided each one (the latest test version; the shipped 2022 version only
    # asks for a mean depth, so only the high-quality genomes' verdict is certain).
    verdicts = {name.split("/")[1]: r[6] for name, r in ours.items()}
    assert set(verdicts.values()) <= {"PASS", "FAIL"}
    assert all(verdicts[sid] == "PASS" for sid in SAMPLES[::2])
    assert all(r[2] == str(consensus / f"{name.split('/')[1]}.fa") for name, r in ours.items())
