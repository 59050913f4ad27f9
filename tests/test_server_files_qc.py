"""majora-lite's file/add, metric forms, loaded QC rules, accessions, suppression and MAGs: Majora's rules,
checked with values other than the conformance corpus's (a lab's own node, paths, thresholds and dates).

One server for the module (no seed), set up through the admin interface: two organisations, the shipped
QC definitions plus a lab's own ``.qc`` file, and a node with a hard-path directory (``add-node``).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time

import pytest
import requests

from majora_lite.ops.harness import LiteServer

OWN_QC = "\n".join(
    [
        "Owl Lab Depth",
        "Owl Depth ILL",
        "4\t2023-05-06",
        "R\tdepth\t-\tmapping\tmean_cov\t-\t-\t25\t-",
        "R\tmasked\t-\tsequence\tpc_masked\t-\t-\t-\t30",
        "D\tdepth\tOR\tmasked",
        "F\ttechnology\t-\tsequencing\tplatform\tILLUMINA\tEQ",
    ]
)
SUPPRESS = "majora2.can_suppress_pags_via_api"
READ_PAGS = "majora2.temp_can_read_pags_via_api"


class Lab:
    """A user's API keys and helpers to call majora-lite as that user."""

    def __init__(self, server: LiteServer, username: str, perms=(SUPPRESS, READ_PAGS)) -> None:
        self.server, self.username = server, username
        self.keys = {None: server.apikey(username)}
        for perm in perms:
            self.keys[perm] = server.apikey(username, permission=perm)

    def call(self, endpoint: str, perm: str | None = None, /, **fields) -> dict:
        body = {"username": self.username, "token": self.keys[perm], **fields}
        r = requests.post(f"{self.server.url}/api/v2/{endpoint}", json=body, timeout=60)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module")
def owls(tmp_path_factory):
    """Server with users owl (OWLS) and fox (FOXS), shipped + own QC, node OWLS with /owl/runs/R7."""
    d = tmp_path_factory.mktemp("files-qc")
    qc_file = d / "owl-depth.qc"
    qc_file.write_text(OWN_QC + "\n")
    server = LiteServer(d / "data")
    server.setup(
        {
            "users": [
                {"username": "owl", "password": "owl-pw", "org": "OWLS", "all_perms": True},
                {"username": "fox", "password": "fox-pw", "org": "FOXS", "all_perms": True},
                # Can suppress its own organisation's PAGs only (no can_suppress_any_pags_via_api).
                {"username": "wren", "password": "wren-pw", "org": "OWLS", "perms": [SUPPRESS]},
            ],
            "qc": ["majora_lite/data/qc", str(qc_file)],
            "nodes": [{"name": "OWLS", "paths": ["/owl/runs/R7"]}],
        }
    )
    server.start()
    try:
        owl, fox = Lab(server, "owl"), Lab(server, "fox")
        for lab, sample in ((owl, "OWL-S1"), (owl, "OWL-S2"), (owl, "OWL-M1"), (fox, "FOX-S1")):
            today = dt.datetime.now(dt.UTC).date()
            out = lab.call(
                "artifact/biosample/add/",
                biosamples=[
                    {
                        "central_sample_id": sample,
                        "collection_date": str(today - dt.timedelta(days=9)),
                        "received_date": str(today - dt.timedelta(days=8)),
                        "adm1": "UK-WLS",
                        "is_surveillance": "N",
                    }
                ],
            )
            assert out["errors"] == 0, out
        yield {"server": server, "owl": owl, "fox": fox, "wren": Lab(server, "wren", perms=(SUPPRESS,))}
    finally:
        server.stop()


def consensus(sample: str, path: str, **extra) -> dict:
    return {
        "path": path,
        "sep": "/",
        "current_name": path.rsplit("/", 1)[1],
        "current_fext": "fasta",
        "current_hash": "f" * 32,
        "current_size": 30100,
        "resource_type": "consensus",
        "pipe_hook": f"owlpipe-{sample}",
        "pipe_kind": "",
        "pipe_name": "owlpipe",
        "pipe_version": "2.5",
        "source_artifact": [sample],
        "bridge_artifact": sample,
        "metadata": {"sequencing": {"platform": "illumina"}},
        **extra,
    }


def test_file_add_outside_a_hard_path_keeps_one_file_per_path(owls):
    owl = owls["owl"]
    first = owl.call("artifact/file/add/", **consensus("OWL-S1", "/scratch/x/OWL-S1.fasta"))
    assert first["messages"] == ["MAG not found from hard path"] and first["errors"] == 0
    ((kind, file_id, name),) = first["new"]
    assert kind == "Digital Resource" and name == file_id  # a file's dice name is its uuid
    # The same path again: the same file (found through the directory chain), nothing new.
    again = owl.call("artifact/file/add/", **consensus("OWL-S1", "/scratch/x/OWL-S1.fasta"))
    assert again["new"] == [] and again["updated"] == [] and again["errors"] == 0
    # A changed hash updates it.
    changed = owl.call(
        "artifact/file/add/", **consensus("OWL-S1", "/scratch/x/OWL-S1.fasta", current_hash="0" * 32)
    )
    assert changed["updated"] == [["Digital Resource", file_id, file_id]]
    # The pipeline kind defaults to "Pipeline"; a metric by path lands on that file.
    out = owl.call(
        "meta/metric/add/",
        artifact_path="/scratch/x/OWL-S1.fasta",
        metrics={
            "tile-mapping": {
                "n_tiles": 154,
                **{f"pc_tiles_medcov_gte{n}": 88.0 for n in (1, 5, 10, 20, 50, 100, 200)},
            }
        },
    )
    assert out["updated"] == [["Digital Resource", file_id, file_id]] and out["errors"] == 0


def test_file_add_into_an_admin_directory_and_mag_get(owls):
    owl = owls["owl"]
    out = owl.call("artifact/file/add/", **consensus("OWL-S2", "/owl/runs/R7/OWL-S2.fasta", node_name="OWLS"))
    assert out["messages"] == [] and out["errors"] == 0 and len(out["new"]) == 1
    mag = owl.call("group/mag/get/", path="OWLS:///owl/runs", sep="/")
    assert mag["errors"] == 0, mag
    assert mag["mag"]["group_path"] == "owl/runs" and mag["mag"]["root_group"]["name"] == "OWLS"
    (child,) = mag["mag"]["children"]
    assert child["name"] == "R7" and child["group_kind"] == "Digital Resource Group"
    # Majora lists a directory's tagged artifacts; file/add only files the file under it.
    assert child["artifacts"] == [] and mag["mag"]["hlinks"] == [] and mag["mag"]["slinks"] == []
    # Directories made by file/add have no hard path: Majora's MAG lookup cannot find them.
    assert owl.call("group/mag/get/", path="OWLS:///scratch/x")["messages"] == ["Invalid path."]
    assert owl.call("group/mag/get/", path="owl/runs")["messages"] == [
        "'path' key missing, empty or malformed"
    ]


def test_file_add_form_errors(owls):
    owl = owls["owl"]
    out = owl.call(
        "artifact/file/add/",
        path="/owl/y.bam",
        sep="/",
        current_name="y.bam",
        current_fext="bam",
        current_hash="a" * 65,
        current_size=-3,
        resource_type="bam",
        pipe_hook="p",
        source_artifact="OWL-S1",
        bridge_artifact="OWL-NOPE",
    )
    assert out["errors"] == 1 and out["new"] == []
    (errors,) = out["messages"]
    assert list(errors) == [
        "bridge_artifact",
        "source_artifact",
        "current_hash",
        "current_size",
        "resource_type",
    ]
    assert errors["source_artifact"][0]["code"] == "list"
    assert errors["current_hash"][0]["message"] == "Ensure this value has at most 64 characters (it has 65)."
    assert errors["current_size"][0]["code"] == "min_value"
    assert (
        errors["resource_type"][0]["message"]
        == "Select a valid choice. bam is not one of the available choices."
    )


def test_file_add_into_a_pag_needs_a_pipeline(owls):
    # Majora's PAG owner is the user of the pipeline that made the file: no source, no pipeline.
    body = consensus("OWL-S1", "/scratch/z/OWL-S1.fasta", publish_group="OWLPUB/NOSRC")
    body["source_artifact"] = []
    out = owls["owl"].call("artifact/file/add/", **body)
    assert out["errors"] == 1 and out["messages"][-1] == "'NoneType' object has no attribute 'who'"
    assert out["new"] == []


def test_metric_forms(owls):
    owl = owls["owl"]
    out = owl.call(
        "meta/metric/add/",
        artifact="OWL-M1",
        metrics={
            "mapping": {"num_maps": 12},
            "sequence": {
                "num_seqs": "x",
                "num_bases": 2.5,
                "pc_acgt": "nan",
                "pc_masked": 1,
                "pc_invalid": 1,
            },
            "ct": {"records": {}},
        },
    )
    assert out["errors"] == 2 and out["warnings"] == 1 and out["updated"] == []
    assert out["ignored"] == ["mapping", "sequence", "ct"]
    assert out["messages"][0] == {"num_pos": [{"message": "This field is required.", "code": "required"}]}
    assert out["messages"][1] == {
        "num_seqs": [{"message": "Enter a whole number.", "code": "invalid"}],
        "num_bases": [{"message": "Enter a whole number.", "code": "invalid"}],
        "pc_acgt": [{"message": "Enter a number.", "code": "invalid"}],
    }
    # metric/add knows only sequence, mapping and tile-mapping: ct is a warning here.
    assert out["messages"][2] == "'ct' does not describe a valid metric"
    ok = owl.call("meta/metric/add/", artifact="OWL-M1", metrics={"mapping": {"num_pos": "29000.0"}})
    assert ok["errors"] == 0 and ok["updated"][0][2] == "OWL-M1"
    assert owl.call("meta/metric/add/", artifact="", artifact_path="/no/such", metrics={})["ignored"] == [
        ["", "/no/such"]
    ]


def publish(lab: Lab, sample: str, run: str, pc_masked: float, mean_cov: float, platform="ILLUMINA") -> str:
    # Named SAMPLE:RUN with the run registered: Majora's PAG listing fails on a PAG whose run it cannot find.
    name = f"OWLPUB/{sample}/{lab.username.upper()}:{run}"
    pool = {"library_source": "VIRAL_RNA", "library_strategy": "AMPLICON", "library_selection": "PCR"}
    library = f"OWLLIB-{run}"
    out = lab.call(
        "artifact/library/add/",
        library_name=library,
        library_layout_config="PAIRED",
        library_seq_kit="OWLKIT",
        library_seq_protocol="OWLPROT",
        biosamples=[{"central_sample_id": sample, **pool}],
    )
    assert out["errors"] == 0, out
    runs = [{"run_name": run, "instrument_make": "ILLUMINA", "instrument_model": "MiSeq"}]
    assert lab.call("process/sequencing/add/", library_name=library, runs=runs)["errors"] == 0
    path = f"/data/{run}/{sample}.fa"
    body = consensus(sample, path, publish_group=name, metadata={"sequencing": {"platform": platform}})
    out = lab.call("artifact/file/add/", **body)
    assert out["errors"] == 0, out
    out = lab.call(
        "meta/metric/add/",
        artifact_path=path,
        metrics={
            "sequence": {
                "num_seqs": 1,
                "num_bases": 29800,
                "pc_acgt": 100 - pc_masked,
                "pc_masked": pc_masked,
                "pc_invalid": 0,
                "longest_ungap": 25000,
            },
            "mapping": {
                "num_pos": 29800,
                "mean_cov": mean_cov,
                "pc_pos_cov_gte10": 97.0,
                "pc_pos_cov_gte20": 96.0,
            },
        },
    )
    assert out["errors"] == 0, out
    return name


def qc(lab: Lab, pag: str, test: str) -> dict:
    return lab.call("meta/qc/add/", publish_group=pag, test_name=test, test_version=9)


def pag_names(lab: Lab, **flags) -> set[str]:
    started = lab.call("pag/qc/get/", READ_PAGS, **flags)
    for _ in range(600):
        res = lab.call("majora/task/get/", READ_PAGS, task_id=started["tasks"][0])
        if res["task"]["state"] == "SUCCESS":
            return {r["published_name"] for r in res["get"]["result"]}
        time.sleep(0.05)
    raise AssertionError("task did not finish")


def test_qc_runs_the_loaded_rules(owls):
    owl = owls["owl"]
    good = publish(owl, "OWL-S1", "RUN-Q1", pc_masked=12.0, mean_cov=40.0)
    shallow = publish(owl, "OWL-S2", "RUN-Q2", pc_masked=12.0, mean_cov=20.0)
    # The lab's own test: fail when mean_cov < 25 OR pc_masked >= 30.
    assert qc(owl, good, "owl-lab-depth")["errors"] == 0
    assert qc(owl, shallow, "owl-lab-depth")["errors"] == 0
    assert good in pag_names(owl, test_name="owl-lab-depth", **{"pass": True})
    assert shallow in pag_names(owl, test_name="owl-lab-depth", fail=True)
    assert shallow not in pag_names(owl, test_name="owl-lab-depth", **{"pass": True})
    # Majora's published high-quality ILL test: pc_masked 12 >= 10 fails it.
    out = qc(owl, good, "cog-uk-high-quality-public")
    results = json.loads(out["test_results"])
    assert [r["test"] for r in results if not r["is_skip"]] == ["High Quality Sequence ILL"]
    assert good in pag_names(owl, test_name="cog-uk-high-quality-public", fail=True)
    # The newest elan-minimal versions (2022) only require a mean_cov: both pass.
    for pag in (good, shallow):
        assert qc(owl, pag, "cog-uk-elan-minimal-qc")["errors"] == 0
    assert {good, shallow} <= pag_names(owl, test_name="cog-uk-elan-minimal-qc", **{"pass": True})


def test_qc_refusals(owls):
    owl = owls["owl"]
    pacbio = publish(owl, "OWL-S1", "RUN-Q3", 1.0, 80.0, platform="PACBIO")
    out = qc(owl, pacbio, "cog-uk-high-quality-public")
    assert out["messages"] == ["Cowardly refusing to create QC report as no tests were performed..."]
    # A file without the platform metadata: the filter's field is required.
    name = "OWLPUB/OWL-S2/RUN-Q4"
    body = consensus("OWL-S2", "/data/RUN-Q4/OWL-S2.fa", publish_group=name, metadata={})
    assert owl.call("artifact/file/add/", **body)["errors"] == 0
    out = qc(owl, name, "owl-lab-depth")
    assert out["errors"] == 1 and out["messages"] == [
        "Cannot automatically QC a PAG that is missing required metadata (sequencing.platform)"
    ]
    # With the platform but no metrics: every rule reports its missing namespace, then the refusal.
    body["metadata"] = {"sequencing": {"platform": "ILLUMINA"}}
    assert owl.call("artifact/file/add/", **body)["errors"] == 0
    out = qc(owl, name, "owl-lab-depth")
    assert out["messages"] == [
        "Namespace mapping not found in metrics",
        "Namespace sequence not found in metrics",
        "Refusing to create QC report as not all target metrics could be assessed...",
    ]
    assert out["ignored"] == ["mapping", "sequence"] and out["errors"] == 3
    assert qc(owl, name, "no-such-test")["messages"] == ["Invalid 'test_name'"]


def test_accessions_and_outbound_summary(owls):
    owl = owls["owl"]
    pag = publish(owl, "OWL-S2", "RUN-A1", 2.0, 300.0)
    svc = "OWLSVC-ENA"
    assert owl.call("pag/accession/add/", publish_group=pag, service=svc, accession="OWLACC1")["updated"]
    out = owl.call("outbound/summary/get/", service=svc, gte_date=str(dt.datetime.now(dt.UTC).date()))
    # Neither submitted nor public yet: counted as an accession, in no interval.
    assert out["get"]["accessions"] == 1
    assert [(i["submitted"], i["released"]) for i in out["get"]["intervals"]] == [(0, 0)]
    owl.call("pag/accession/add/", publish_group=pag, service=svc, accession="OWLACC1", submitted=True)
    out = owl.call("pag/accession/add/", publish_group=pag, service=svc, accession="OWLACC1", public=True)
    assert out["messages"] == ["PAG marked as public"]
    start = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=4)
    out = owl.call("outbound/summary/get/", service=svc, gte_date=str(start), user="owl")
    days = out["get"]["intervals"]
    assert len(days) == 5 and days[0]["last_dt"] == "" and days[1]["last_dt"] == str(start)
    assert [(d["submitted"], d["released"]) for d in days] == [(0, 0)] * 4 + [(1, 1)]
    # Public again: already public, no second message.
    out = owl.call("pag/accession/add/", publish_group=pag, service=svc, accession="OWLACC1", public=True)
    assert out["messages"] == [] and out["errors"] == 0
    out = owl.call("outbound/summary/get/", service=svc, gte_date=str(start), user="nobody")
    assert out["messages"] == ["Could not find named user."]


def test_suppress_is_per_organisation_and_published_as_keeps_it(owls):
    owl, fox = owls["owl"], owls["fox"]
    owl_pag = publish(owl, "OWL-S1", "RUN-S1", 2.0, 300.0)
    fox_pag = publish(fox, "FOX-S1", "RUN-S2", 2.0, 300.0)
    out = owls["wren"].call(
        "group/pag/suppress/", SUPPRESS, publish_group=[fox_pag, owl_pag], reason="control_fail"
    )
    assert out["errors"] == 1 and out["ignored"] == [fox_pag]
    assert out["messages"] == [f"Your organisation (OWLS) does not own {fox_pag} (FOXS)"]
    assert [u[2] for u in out["updated"]] == [owl_pag]  # no minimal-QC pass: no counter message
    # With can_suppress_any_pags_via_api (owl has every permission) another organisation's PAG goes too.
    out = owl.call("group/pag/suppress/", SUPPRESS, publish_group=fox_pag, reason="WRONG_BARCODE")
    assert out["errors"] == 0 and [u[2] for u in out["updated"]] == [fox_pag]
    # A suppressed PAG is still named in the sample's published_as, and can no longer get accessions.
    sample = owl.call("artifact/biosample/get/", central_sample_id="OWL-S1")["get"]["OWL-S1"]
    assert owl_pag in sample["published_as"].split(",")
    out = owl.call("pag/accession/add/", publish_group=owl_pag, service="X")
    assert out["messages"] == [f"PAG {owl_pag} not known to Majora"]
    assert owl_pag not in pag_names(owl, test_name="owl-lab-depth")


def test_admin_cli_rejects_bad_qc_files(tmp_path):
    bad = tmp_path / "bad.qc"
    bad.write_text("Family\nTest\nnot-a-version\n")
    cmd = [sys.executable, "-m", "majora_lite", "load-qc", "--data-dir", str(tmp_path / "d")]
    res = subprocess.run([*cmd, str(bad)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 65 and res.stderr.count("\n") == 1 and "bad.qc:3" in res.stderr
    res = subprocess.run([*cmd, str(tmp_path / "none.qc")], capture_output=True, text=True, timeout=120)
    assert res.returncode == 66 and "cannot read" in res.stderr
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 64


def test_admin_cli_add_node(tmp_path):
    cmd = [sys.executable, "-m", "majora_lite", "add-node", "--data-dir", str(tmp_path / "d")]
    res = subprocess.run(
        [*cmd, "LABNODE", "--path", "/seq/out/", "--path", "/seq/tmp"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["created"] is True and out["directories"] == ["LABNODE:///seq/out", "LABNODE:///seq/tmp"]
    again = json.loads(subprocess.run([*cmd, "LABNODE"], capture_output=True, text=True, timeout=120).stdout)
    assert again["created"] is False and again["id"] == out["id"]
    res = subprocess.run([*cmd, "BAD://NODE"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 64 and "'://'" in res.stderr and "Traceback" not in res.stderr


def test_where_majoras_views_raise_the_answer_is_500(owls):
    owl = owls["owl"]
    for endpoint, fields in (
        ("meta/metric/add/", {"artifact": "OWL-M1", "metrics": {"hooting": 5}}),
        ("meta/qc/add/", {"publish_group": 7, "test_name": "owl-lab-depth", "test_version": 1}),
        ("outbound/summary/get/", {"service": "OWLSVC-NONE"}),  # no gte_date: Majora's day list is empty
    ):
        body = {"username": "owl", "token": owl.keys[None], **fields}
        r = requests.post(f"{owl.server.url}/api/v2/{endpoint}", json=body, timeout=60)
        assert r.status_code == 500, (endpoint, r.status_code, r.text[:200])
