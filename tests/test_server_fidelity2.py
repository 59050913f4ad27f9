"""majora-lite against Majora's rules, second round (issue 22 items 1-9), with values of its own.

One unseeded server for the module: user kite (org KITE, every permission), the shipped QC definitions.
Each test names the Majora code it follows (``majora2/tasks.py``, ``majora2/api_views.py``, ...).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
import requests

from majora_lite.ops.harness import LiteServer

READ_PAGS = "majora2.temp_can_read_pags_via_api"
TEST = "cog-uk-elan-minimal-qc"
TODAY = dt.datetime.now(dt.UTC).date()
TARGETS = "'artifact', 'group' or 'process'"


class Kite:
    """kite's API keys and helpers to call majora-lite as kite."""

    def __init__(self, server: LiteServer) -> None:
        self.server = server
        self.keys = {None: server.apikey("kite"), READ_PAGS: server.apikey("kite", permission=READ_PAGS)}

    def post(self, endpoint: str, perm: str | None = None, /, **fields) -> requests.Response:
        body = {"username": "kite", "token": self.keys[perm], **fields}
        return requests.post(f"{self.server.url}/api/v2/{endpoint}", json=body, timeout=60)

    def call(self, endpoint: str, perm: str | None = None, /, **fields) -> dict:
        r = self.post(endpoint, perm, **fields)
        assert r.status_code == 200, r.text
        return r.json()

    def task(self, **fields) -> dict:
        """Start ``pag/qc/get`` and poll ``task/get`` until the task leaves PENDING."""
        started = self.call("pag/qc/get/", READ_PAGS, **fields)
        assert started["errors"] == 0, started
        for _ in range(600):
            res = self.call("majora/task/get/", READ_PAGS, task_id=started["tasks"][0])
            if res["task"]["state"] != "PENDING":
                return res
            time.sleep(0.05)
        raise AssertionError("task still PENDING")


@pytest.fixture(scope="module")
def kite(tmp_path_factory):
    server = LiteServer(tmp_path_factory.mktemp("fidelity2") / "data")
    server.setup(
        {
            "users": [{"username": "kite", "password": "kite-pw", "org": "KITE", "all_perms": True}],
            "qc": ["majora_lite/data/qc"],
        }
    )
    server.start()
    try:
        yield Kite(server)
    finally:
        server.stop()


def add_sample(kite: Kite, sample: str) -> None:
    body = {
        "central_sample_id": sample,
        "collection_date": str(TODAY - dt.timedelta(days=6)),
        "received_date": str(TODAY - dt.timedelta(days=5)),
        "adm1": "UK-SCT",
        "is_surveillance": "Y",
    }
    out = kite.call("artifact/biosample/add/", biosamples=[body])
    assert out["errors"] == 0, out


def publish(kite: Kite, sample: str, name: str, path: str) -> None:
    """A consensus of ``sample`` filed into PAG ``name``, with mapping metrics and an elan-minimal PASS."""
    body = {
        "path": path,
        "sep": "/",
        "current_name": path.rsplit("/", 1)[1],
        "current_fext": "fa",
        "current_hash": "c" * 32,
        "current_size": 29777,
        "resource_type": "consensus",
        "pipe_hook": f"kitepipe-{sample}",
        "pipe_kind": "",
        "pipe_name": "kitepipe",
        "pipe_version": "0.9",
        "source_artifact": [sample],
        "bridge_artifact": sample,
        "publish_group": name,
        "metadata": {"sequencing": {"platform": "ILLUMINA"}},
    }
    assert kite.call("artifact/file/add/", **body)["errors"] == 0
    metrics = {
        "mapping": {"num_pos": 29777, "mean_cov": 61.5, "pc_pos_cov_gte10": 98.5, "pc_pos_cov_gte20": 97.0}
    }
    assert kite.call("meta/metric/add/", artifact_path=path, metrics=metrics)["errors"] == 0
    out = kite.call("meta/qc/add/", publish_group=name, test_name=TEST, test_version=3)
    assert out["errors"] == 0, out


def register_run(kite: Kite, sample: str, library: str, run: str) -> None:
    pool = {"library_source": "VIRAL_RNA", "library_strategy": "AMPLICON", "library_selection": "PCR"}
    out = kite.call(
        "artifact/library/add/",
        library_name=library,
        library_layout_config="PAIRED",
        library_seq_kit="KITEKIT",
        library_seq_protocol="KITEPROT",
        biosamples=[{"central_sample_id": sample, **pool}],
    )
    assert out["errors"] == 0, out
    runs = [{"run_name": run, "instrument_make": "ILLUMINA", "instrument_model": "MiniSeq"}]
    assert kite.call("process/sequencing/add/", library_name=library, runs=runs)["errors"] == 0


# ------------------------------------------------------------------ item 1 and 2


def test_a_pag_without_its_run_fails_the_listing_until_the_run_exists(kite):
    # tasks.py task_get_pag_v2: a biosample's PAG is looked up through the run named after its ":".
    add_sample(kite, "KITE-R1")
    publish(kite, "KITE-R1", "KITEPUB/KITE-R1/KITE:KRUN-07", "/kite/KRUN-07/KITE-R1.fa")
    res = kite.task(test_name=TEST)
    assert res["task"] == {"id": res["task"]["id"], "state": "FAILURE", "cleaned": False}
    assert res["warnings"] == 1 and res["messages"] == ["Task is not (yet) SUCCESS..."]
    assert "get" not in res
    # mode pagfiles reads no run: its task succeeds, and its dates go through Celery's JSON.
    files = kite.task(test_name=TEST, mode="pagfiles")
    assert files["task"]["state"] == "SUCCESS"
    ((name, kind, path, _md5, size, suppressed, is_pass, published),) = files["get"]["result"]
    assert (name, kind, path, size, suppressed, is_pass) == (
        "KITEPUB/KITE-R1/KITE:KRUN-07", "consensus", "/kite/KRUN-07/KITE-R1.fa", 29777, False, True
    )
    assert published in {f"{day}T00:00:00" for day in (TODAY, dt.datetime.now(dt.UTC).date())}
    # Once the run is registered, the default listing works again.
    register_run(kite, "KITE-R1", "KITE-LIB-07", "KRUN-07")
    res = kite.task(test_name=TEST)
    assert res["task"]["state"] == "SUCCESS"
    ((row,),) = [res["get"]["result"]]
    assert row["pag"]["artifacts"]["sequencing"][0]["run_name"] == "KRUN-07"
    assert row["pag"]["artifacts"]["library"][0]["seq_kit"] == "KITEKIT"


# ------------------------------------------------------------------ item 7


def test_unparseable_dates_are_the_tasks_errors(kite):
    # tasks.py _get_pags_by_qc_options: the view starts the task; the task reports strptime's message.
    res = kite.task(test_name=TEST, suppressed_after="07/11/2026")
    assert res["task"]["state"] == "SUCCESS"
    assert res["errors"] == 1 and res["get"] == {"result": [], "count": 0}
    assert res["messages"] == [
        "time data '07/11/2026' does not match format '%Y-%m-%d'",
        "No PAGs found.",
    ]
    # A bad published_after is reported and its filter dropped: the listing goes on.
    res = kite.task(test_name=TEST, mode="pagfiles", published_after="2026-13-01", suppressed_after=20261107)
    assert res["errors"] == 2 and res["messages"] == [
        "time data '2026-13-01' does not match format '%Y-%m-%d'",
        "strptime() argument 1 must be str, not int",
        "No PAGs found",
    ]


# ------------------------------------------------------------------ item 9


def test_tag_add_with_a_process_id_that_is_no_uuid(kite):
    # forms.py TestMetadataForm: process is a ModelChoiceField on a UUID primary key; Django's UUIDField
    # message comes first, then the form's own "provide one" error on all three targets.
    must = {"message": f"You must provide one {TARGETS} to attach metadata to", "code": ""}
    out = kite.call("meta/tag/add/", process="run-KITE-9", metadata={"kite": {"note": "x"}})
    assert out["errors"] == 1 and out["ignored"] == ["metadata__kite__note"]
    (errors,) = out["messages"]
    assert errors["process"] == [{"message": "'run-KITE-9' is not a valid UUID.", "code": "invalid"}, must]
    assert errors["artifact"] == errors["group"] == [must]
    # A well-formed UUID that names no process is the choice error, as before.
    unknown = "0b9c3f5e-1d2a-4c3b-9e8f-7a6b5c4d3e2f"
    out = kite.call("meta/tag/add/", process=unknown, metadata={"kite": {"n": "y"}})
    assert out["messages"][0]["process"][0]["code"] == "invalid_choice"


# ------------------------------------------------------------------ item 8


def test_http_edges(kite):
    url = kite.server.url
    body = {"username": "kite", "token": kite.keys[None], "central_sample_id": "KITE-H1"}
    # Django's APPEND_SLASH (as deployed): no trailing slash is a 301 to the path with it, empty body.
    r = requests.post(f"{url}/api/v2/artifact/biosample/get", json=body, timeout=30, allow_redirects=False)
    assert (r.status_code, r.content, r.headers["Location"]) == (301, b"", "/api/v2/artifact/biosample/get/")
    # Ocarina's doubled slashes are merged by the front end, as before.
    r = requests.post(f"{url}//api/v2/artifact/biosample/get//", json=body, timeout=30, allow_redirects=False)
    assert r.status_code == 200 and r.json()["request"]
    # biosample add/update are a class-based View with only post(): other methods are Django's 405.
    for method in ("PUT", "GET", "DELETE"):
        r = requests.request(method, f"{url}/api/v2/artifact/biosample/add/", json=body, timeout=30)
        assert (r.status_code, r.content, r.headers["Allow"]) == (405, b"", "POST, OPTIONS"), method
    r = requests.options(f"{url}/api/v2/artifact/biosample/update/", timeout=30)
    assert (r.status_code, r.content, r.headers["Allow"]) == (200, b"", "POST, OPTIONS")
    # The function views answer any other method with wrap_api_v2's empty 400.
    r = requests.put(f"{url}/api/v2/meta/tag/add/", json=body, timeout=30)
    assert (r.status_code, r.content) == (400, b"")
    # Majora has no task/delete endpoint: 404 with or without the slash (no 301 to a path that is not there).
    for path in ("/api/v2/majora/task/delete/", "/api/v2/majora/task/delete"):
        r = requests.post(url + path, json={**body, "task_id": "x"}, timeout=30, allow_redirects=False)
        assert r.status_code == 404, path


# ------------------------------------------------------------------ item 3


def test_biosample_source_ids_are_uuids_and_ct_bounds_are_floats(kite):
    # models.py: BiosampleSource is a MajoraArtifactGroup (UUID id); ThresholdCycle's min_ct/max_ct are
    # FloatFields, so a ct whose only record is refused reads back as 0.0, not 0.
    body = {
        "central_sample_id": "KITE-C3",
        "collection_date": str(TODAY - dt.timedelta(days=4)),
        "adm1": "UK-SCT",
        "is_surveillance": "N",
        "biosample_source_id": "KITE-PATIENT-3",
        "metrics": {"ct": {"records": {"1": {"ct_value": 27.5, "test_platform": "KITEPLAT",
                                              "test_target": "E", "test_kit": "INHOUSE"}}}},
    }
    out = kite.call("artifact/biosample/add/", biosamples=[body])
    (source,) = [t for t in out["new"] if t[0] == "Biosample Source"]
    assert source[2] == "KITE-PATIENT-3" and str(uuid.UUID(source[1])) == source[1]
    got = kite.call("artifact/biosample/get/", central_sample_id="KITE-C3")["get"]["KITE-C3"]
    ct = got["metrics"]["ct"]
    assert (ct["min_ct"], ct["max_ct"]) == (0.0, 0.0)
    assert type(ct["min_ct"]) is float and type(ct["max_ct"]) is float
    # A valid record: the bounds are that record's value.
    body["central_sample_id"] = "KITE-C4"
    body["metrics"]["ct"]["records"]["1"]["test_platform"] = "ROCHE_COBAS"
    body["biosample_source_id"] = "KITE-PATIENT-4"
    out = kite.call("artifact/biosample/add/", biosamples=[body])
    (other,) = [t for t in out["new"] if t[0] == "Biosample Source"]
    assert str(uuid.UUID(other[1])) == other[1] != source[1]
    ct = kite.call("artifact/biosample/get/", central_sample_id="KITE-C4")["get"]["KITE-C4"]["metrics"]["ct"]
    assert (ct["min_ct"], ct["max_ct"], ct["num_tests"]) == (27.5, 27.5, 1)


# ------------------------------------------------------------------ item 4


def test_biosample_get_of_a_file_id_is_the_files_struct(kite):
    # api_views.py get_biosample: any artifact by dice name (a file's is its UUID), then its as_struct().
    add_sample(kite, "KITE-F4")
    path = "/kite/KRUN-44/KITE-F4.fa"
    body = {
        "path": path, "sep": "/", "current_name": "KITE-F4.fa", "current_fext": "fa",
        "current_hash": "4" * 32, "current_size": 29444, "resource_type": "consensus",
        "pipe_hook": "kitepipe-F4", "pipe_kind": "", "pipe_name": "kitepipe", "pipe_version": "0.9",
        "source_artifact": ["KITE-F4"], "metadata": {"sequencing": {"platform": "ILLUMINA"}},
    }
    out = kite.call("artifact/file/add/", **body)
    ((_kind, file_id, _name),) = [t for t in out["new"] if t[0] == "Digital Resource"]
    mapping = {"num_pos": 29444, "mean_cov": 42.0, "pc_pos_cov_gte10": 95.5, "pc_pos_cov_gte20": 90.0}
    metrics = {"mapping": mapping}
    assert kite.call("meta/metric/add/", artifact_path=path, metrics=metrics)["errors"] == 0
    got = kite.call("artifact/biosample/get/", central_sample_id=file_id)
    assert got["errors"] == 0
    assert got["get"] == {
        file_id: {
            "current_path": path,
            "current_name": "KITE-F4.fa",
            "current_hash": "4" * 32,
            "current_size": 29444,
            "current_kind": "consensus",
            "metadata": {"sequencing": {"platform": "ILLUMINA"}},
            "metrics": {"mapping": {"num_pos": 29444, "pc_pos_cov_gte10": 95.5, "pc_pos_cov_gte20": 90.0,
                                    "mean_cov": 42.0}},
        }
    }


# ------------------------------------------------------------------ item 5


def test_put_file_directories_are_not_listable_and_a_bare_node_crashes(kite):
    # form_handlers.py handle_testdigitalresource makes directories without a hard path; util.get_mag
    # (group/mag/get) finds directories by hard path only, and indexes path[0] (IndexError on NODE://).
    body = {
        "path": "/kite/lab5/run5/KITE-F5.fa", "sep": "/", "current_name": "KITE-F5.fa", "current_fext": "fa",
        "current_hash": "5" * 32, "current_size": 29555, "resource_type": "consensus", "pipe_hook": "kite-5",
    }  # no node_name: the uploader's institute code (KITE), made on first use
    out = kite.call("artifact/file/add/", **body)
    assert out["errors"] == 0 and out["messages"] == ["MAG not found from hard path"]
    for path in ("KITE:///kite/lab5/run5", "KITE:///kite/lab5", "KITE:///kite"):
        got = kite.call("group/mag/get/", path=path)
        assert (got["errors"], got["messages"]) == (1, ["Invalid path."]), path
    r = kite.post("group/mag/get/", path="KITE://")
    assert r.status_code == 500


# ------------------------------------------------------------------ item 6


def test_qc_of_a_pag_without_metrics_reports_the_first_assessed_tests_rules(kite):
    # api_views.py add_qc: tests in load order, the newest version of each; the first test that is not
    # skipped reports each of its rules whose namespace is missing, then refuses (no later test runs).
    add_sample(kite, "KITE-Q6")
    name = "KITEPUB/KITE-Q6/KITE:KQ6"
    body = {
        "path": "/kite/q6/KITE-Q6.fa", "sep": "/", "current_name": "KITE-Q6.fa", "current_fext": "fa",
        "current_hash": "6" * 32, "current_size": 29666, "resource_type": "consensus", "pipe_hook": "kite-6",
        "source_artifact": ["KITE-Q6"], "bridge_artifact": "KITE-Q6", "publish_group": name,
        "metadata": {"sequencing": {"platform": "OXFORD_NANOPORE"}},
    }
    assert kite.call("artifact/file/add/", **body)["errors"] == 0
    refuse = "Refusing to create QC report as not all target metrics could be assessed..."
    # elan-minimal: version 3 (2022) of "Minimal ONT" has one rule, on mapping: one message.
    out = kite.call("meta/qc/add/", publish_group=name, test_name=TEST, test_version=3)
    assert (out["errors"], out["ignored"]) == (2, ["mapping"])
    assert out["messages"] == ["Namespace mapping not found in metrics", refuse] and out["metrics"] == {}
    # high-quality ONT has three rules (sequence, mapping, mapping): one message per rule, in rule order.
    hq = "cog-uk-high-quality-public"
    out = kite.call("meta/qc/add/", publish_group=name, test_name=hq, test_version=1)
    assert out["ignored"] == ["sequence", "mapping", "mapping"] and out["messages"][-1] == refuse
