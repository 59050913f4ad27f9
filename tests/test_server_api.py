"""majora-lite v2 envelope and endpoints, against a real server subprocess (legacy API keys)."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

GET = "api/v2/artifact/biosample/get/"


@pytest.fixture(scope="module")
def key(lite):
    return lite.server.apikey(lite.username)


def post(lite, path, body, **kw):
    return requests.post(lite.url + path, json=body, timeout=30, **kw)


def call(lite, key, path, user=None, **fields):
    r = post(lite, path, {"username": user or lite.username, "token": key, **fields})
    assert r.status_code == 200, r.text
    return r.json()


def sample(csid, **over):
    today = dt.date.today()
    body = {
        "central_sample_id": csid,
        "adm1": "UK-ENG",
        "adm2": "Birmingham",
        "is_surveillance": "N",
        "collection_date": (today - dt.timedelta(days=5)).isoformat(),
        "received_date": (today - dt.timedelta(days=3)).isoformat(),
        "source_sex": "F",
        "source_age": 40,
        "biosample_source_id": f"SRC-{csid}",
        "metadata": {"test": {"bubo": "bubo", "hoots": 8}},
        "metrics": {
            "ct": {
                "records": {
                    "1": {
                        "ct_value": 20,
                        "test_platform": "INHOUSE",
                        "test_target": "S",
                        "test_kit": "INHOUSE",
                    }
                }
            }
        },
    }
    body.update(over)
    return body


@pytest.mark.parametrize(
    "case",
    [
        "no_username",
        "no_token",
        "empty_token",
        "not_json",
        "get",
        "bad_key",
        "bad_bearer",
        "deep_json",
        "not_utf8",
        "non_str_credentials",
    ],
)
def test_empty_400(lite, key, case):
    url = lite.url + GET
    body = {"username": lite.username, "token": key, "central_sample_id": "BIRM-00001"}
    if case == "no_username":
        r = requests.post(url, json={k: v for k, v in body.items() if k != "username"}, timeout=10)
    elif case == "no_token":
        r = requests.post(url, json={k: v for k, v in body.items() if k != "token"}, timeout=10)
    elif case == "empty_token":
        r = requests.post(url, json={**body, "token": ""}, timeout=10)
    elif case == "not_json":
        r = requests.post(url, data=b"{not json", timeout=10)
    elif case == "get":
        r = requests.get(url, timeout=10)
    elif case == "deep_json":
        r = requests.post(url, data=b"[" * 100_000, timeout=10)
    elif case == "not_utf8":
        r = requests.post(url, data=b"\xff\xfe{}", timeout=10)
    elif case == "non_str_credentials":
        r = requests.post(url, json={**body, "username": [lite.username], "token": {"k": key}}, timeout=10)
    elif case == "bad_key":
        r = requests.post(url, json={**body, "token": "not-a-key"}, timeout=10)
    else:
        r = requests.post(
            url, json={**body, "token": "OAUTH"}, headers={"Authorization": "Bearer nope"}, timeout=10
        )
    assert r.status_code == 400
    assert r.content == b""


@pytest.mark.parametrize("body", [b'[{"username": "alice"}]', b'"alice"', b"5", b"null"])
def test_json_not_an_object_is_500_as_majora(lite, body):
    """Majora's envelope calls ``.get`` on the decoded body: any JSON but an object raises there."""
    r = requests.post(lite.url + GET, data=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 500


def test_expired_api_key_is_400(lite):
    expired = lite.server.apikey(lite.username, days=-1)
    r = post(lite, GET, {"username": lite.username, "token": expired, "central_sample_id": "BIRM-00001"})
    assert (r.status_code, r.content) == (400, b"")


def test_get_biosample_struct_and_doubled_slashes(lite, key):
    body = {"username": lite.username, "token": key, "central_sample_id": "BIRM-00001"}
    r = requests.post(lite.url.rstrip("/") + "//" + GET + "/", json=body, timeout=10)
    assert r.status_code == 200
    out = r.json()
    assert {
        "errors",
        "warnings",
        "messages",
        "tasks",
        "new",
        "updated",
        "ignored",
        "request",
        "success",
    } <= set(out)
    assert out["success"] is True and out["errors"] == 0
    s = out["get"]["BIRM-00001"]
    assert s["central_sample_id"] == "BIRM-00001" and s["adm0"] == "United Kingdom"
    assert s["adm2"] == s["adm2"].upper() and s["is_surveillance"] in ("Y", "N")
    dt.date.fromisoformat(s["collection_date"])
    assert "sender_sample_id" not in s and "modified" not in s and "revision" not in s
    assert all(isinstance(v, str) for tag in s["metadata"].values() for v in tag.values())
    assert s["metrics"]["ct"]["num_tests"] == 2
    assert s["biosample_sources"][0]["source_type"] == "human"


def test_unknown_biosample_is_logical_error(lite, key):
    out = call(lite, key, GET, central_sample_id="NOPE-99999")
    assert out["errors"] == 1 and out["success"] is False
    assert out["messages"] == ["'NoneType' object has no attribute 'as_struct'"]
    assert "get" not in out


def test_ocarina_version_check(lite, key):
    old = call(lite, key, GET, central_sample_id="BIRM-00001", client_name="ocarina", client_version="0.43.9")
    assert old["errors"] == 1 and "Update your 'ocarina' client to version v0.44.0" in old["messages"]
    assert "get" not in old
    new = call(lite, key, GET, central_sample_id="BIRM-00001", client_name="ocarina", client_version="1.0.0")
    assert new["success"] and "get" in new
    other = call(
        lite, key, GET, central_sample_id="BIRM-00001", client_name="snakemake-majora", client_version="0.0.1"
    )
    assert other["success"]
    # Majora splits the version string: a number is reported as nonsense, not compared.
    number = call(lite, key, GET, central_sample_id="BIRM-00001", client_name="ocarina", client_version=2)
    assert number["errors"] == 1 and "get" not in number
    assert number["messages"][0].startswith("It appears you are using 'ocarina', but your version number")


def test_validity_query(lite, key):
    out = call(lite, key, "api/v2/artifact/biosample/query/validity/", biosamples=["BIRM-00001", "NOPE-1"])
    assert out["result"]["BIRM-00001"] == {
        "central_sample_id": "BIRM-00001",
        "exists": True,
        "has_sender_id": True,
        "has_metadata": True,
    }
    assert out["result"]["NOPE-1"]["exists"] is False


def test_add_update_and_change_detection(lite, key):
    add = "api/v2/artifact/biosample/add/"
    out = call(lite, key, add, biosamples=[sample("HOOT-70001")], unknown_field="ignored")
    assert out["success"], out
    assert out["new"][0][0] == "Biosample" and out["new"][0][2] == "HOOT-70001"
    s = call(lite, key, GET, central_sample_id="HOOT-70001")["get"]["HOOT-70001"]
    assert s["adm2"] == "BIRMINGHAM" and s["metadata"]["test"]["hoots"] == "8"
    assert s["submission_org_code"] == "HOOT" and s["metrics"]["ct"]["max_ct"] == 20.0
    rev = lite.server.biosample_revision("HOOT-70001")
    same = call(lite, key, add, biosamples=[sample("HOOT-70001")])
    assert same["success"] and same["updated"][0][2] == "HOOT-70001"
    assert lite.server.biosample_revision("HOOT-70001") == rev, "identical re-add must not bump the revision"
    # overwrite: blank fields are deleted
    out = call(lite, key, add, biosamples=[sample("HOOT-70001", source_sex="", adm2="")])
    assert out["success"] and out["updated"][0][2] == "HOOT-70001"
    assert lite.server.biosample_revision("HOOT-70001") == rev + 1
    s2 = call(lite, key, GET, central_sample_id="HOOT-70001")["get"]["HOOT-70001"]
    assert s2["source_sex"] == "" and s2["adm2"] is None  # Majora stores an empty adm2 as None
    # partial update changes only what is sent
    out = call(
        lite,
        key,
        "api/v2/artifact/biosample/update/",
        biosamples=[{"central_sample_id": "HOOT-70001", "source_age": 41}],
    )
    assert out["success"], out
    s3 = call(lite, key, GET, central_sample_id="HOOT-70001")["get"]["HOOT-70001"]
    assert s3["source_age"] == 41 and s3["adm1"] == "UK-ENG"
    out = call(
        lite, key, "api/v2/artifact/biosample/update/", biosamples=[{"central_sample_id": "HOOT-7999"}]
    )
    assert out["errors"] == 1 and "Cannot use `partial` on new BiosampleArtifact HOOT-7999" in out["messages"]


def _form_errors(out: dict) -> dict:
    """The form errors of a refused biosample (after Majora's ZANA warning)."""
    return next(m for m in out["messages"] if isinstance(m, dict))


def test_validation_messages(lite, key):
    add = "api/v2/artifact/biosample/add/"
    today = dt.date.today()
    soon = (today + dt.timedelta(days=2)).isoformat()
    cases = {
        "collection_date": (
            {"collection_date": soon, "received_date": soon},
            "Sample cannot be collected in the future",
        ),
        "received_date": ({"received_date": soon}, "Sample cannot be received in the future"),
    }
    for field, (values, message) in cases.items():
        out = call(lite, key, add, biosamples=[sample("HOOT-71000", **values)])
        assert out["errors"] == 1 and out["ignored"] == ["HOOT-71000"]
        assert message in [m["message"] for m in _form_errors(out)[field]]
    old = (today - dt.timedelta(days=400)).isoformat()
    out = call(lite, key, add, biosamples=[sample("HOOT-71001", collection_date=old, received_date=old)])
    assert "Sample cannot be collected more than a year ago..." in str(out["messages"])
    out = call(
        lite,
        key,
        add,
        biosamples=[
            sample(
                "HOOT-71002",
                collection_date=today.isoformat(),
                received_date=(today - dt.timedelta(days=1)).isoformat(),
            )
        ],
    )
    # Majora reports a swap on collection_date, in these words.
    swapped = "Sample cannot be collected after it was received. Perhaps they have been swapped?"
    assert _form_errors(out) == {"collection_date": [{"message": swapped, "code": ""}]}
    # Majora's first form (the COG-UK supplement) fails alone: the sampling form is not reported.
    out = call(lite, key, add, biosamples=[{"central_sample_id": "HOOT-71003"}])
    assert set(_form_errors(out)) == {"is_surveillance"}
    out = call(lite, key, add, biosamples=[sample("HOOT-71004", collection_date="2020-13-45")])
    assert _form_errors(out)["collection_date"][0]["message"] == "Enter a valid date."
    # nothing was created
    v = call(
        lite,
        key,
        "api/v2/artifact/biosample/query/validity/",
        biosamples=["HOOT-71000", "HOOT-71001", "HOOT-71002", "HOOT-71003", "HOOT-71004"],
    )
    assert not any(r["exists"] for r in v["result"].values())


@pytest.mark.parametrize(
    "biosamples",
    [
        "HOOT-1",
        {"a": 1},
        [["x"]],
        [{"central_sample_id": ["x"]}],
        [sample("HOOT-72000", source_age="old", adm1=["UK-ENG"])],
    ],
)
def test_wrong_types_are_reported(lite, key, biosamples):
    r = post(
        lite,
        "api/v2/artifact/biosample/add/",
        {"username": lite.username, "token": key, "biosamples": biosamples},
    )
    assert r.status_code == 200
    assert r.json()["errors"] >= 1


@pytest.mark.parametrize("biosamples", [7, None])
def test_biosamples_not_iterable_is_500_as_majora(lite, key, biosamples):
    """Majora's view loops over ``biosamples`` unguarded: a number or null raises, and the answer is 500."""
    r = post(
        lite,
        "api/v2/artifact/biosample/add/",
        {"username": lite.username, "token": key, "biosamples": biosamples},
    )
    assert r.status_code == 500


@pytest.mark.parametrize(
    "path",
    [
        GET,
        "api/v2/artifact/biosample/query/validity/",
        "api/v2/artifact/library/add/",
        "api/v2/process/sequencing/add/",
        "api/v2/process/sequencing/get/",
        "api/v2/meta/metric/add/",
        "api/v2/meta/qc/add/",
        "api/v2/majora/task/get/",
        "api/v2/majora/summary/get/",
        "api/v2/meta/tag/add/",
    ],
)
def test_garbage_fields_never_500(lite, key, path):
    for junk in (
        {
            "central_sample_id": {"x": 1},
            "biosamples": 5,
            "run_name": {"a": 1},
            "library_name": [1],
            "runs": "x",
            "artifact": 3,
            "metrics": [1],
            "publish_group": [],
            "task_id": ["x"],
            "gte_date": 5,
        },
        {
            "central_sample_id": 12,
            "biosamples": [None],
            "run_name": [None],
            "library_name": "L",
            "biosamples2": {},
            "runs": [{"run_name": {}}],
            "artifact": "BIRM-00001",
            "metrics": {"sequence": "x", "bogus": {}},
            "task_id": "not-a-uuid",
            "gte_date": "x",
        },
    ):
        r = post(lite, path, {"username": lite.username, "token": key, **junk})
        if path.endswith("query/validity/") and junk["biosamples"] == 5:
            # Majora loops over the number and its view raises: 500.
            assert r.status_code == 500
            continue
        if path.endswith("sequencing/get/") and isinstance(junk["run_name"], dict):
            # Majora checks run_name[0] == "*": a dict has no key 0 and its view raises: 500.
            assert r.status_code == 500, (path, r.status_code, r.text[:200])
            continue
        if path.endswith("metric/add/") and junk["artifact"] == "BIRM-00001":
            # Majora's view assigns into the metric body, here the string "x", and raises: 500.
            assert r.status_code == 500, (path, r.status_code, r.text[:200])
            continue
        assert r.status_code == 200, (path, r.status_code, r.text[:200])
        assert set(r.json()) >= {"errors", "success"}


def test_oversized_body_is_4xx(lite, key):
    big = b'{"username": "alice", "token": "x", "pad": "' + b"x" * (11 * 1024 * 1024) + b'"}'
    try:
        r = requests.post(lite.url + GET, data=big, headers={"Content-Type": "application/json"}, timeout=30)
    except requests.ConnectionError:
        pytest.skip("server closed the connection before reading the whole body")
    assert r.status_code == 413


def test_addempty_is_oauth_only(lite, key):
    r = post(
        lite,
        "api/v2/artifact/biosample/addempty/",
        {"username": lite.username, "token": key, "biosamples": ["HOOT-73000"]},
    )
    assert (r.status_code, r.content) == (400, b"")


def test_sudo_as(lite, key):
    lite.server.add_user("bob", "bob-pw", perms=["majora2.view_biosampleartifact"], org="BIRM")
    bob_key = lite.server.apikey("bob")
    out = call(lite, key, "api/v2/artifact/biosample/add/", biosamples=[sample("HOOT-74000")], sudo_as="bob")
    assert out["success"], out
    s = call(lite, key, GET, central_sample_id="HOOT-74000")["get"]["HOOT-74000"]
    assert s["submission_user"] == "bob" and s["submission_org_code"] == "BIRM"
    r = post(
        lite,
        GET,
        {"username": "bob", "token": bob_key, "central_sample_id": "BIRM-00001", "sudo_as": lite.username},
    )
    assert (r.status_code, r.content) == (400, b"")


# Majora's pooling form requires the three library enums.
POOLING = {"library_source": "VIRAL_RNA", "library_strategy": "AMPLICON", "library_selection": "PCR"}


def test_library_sequencing_metrics_qc(lite, key):
    # The session server is shared with other test modules: use names no other test uses.
    call(lite, key, "api/v2/artifact/biosample/add/", biosamples=[sample("HOOT-75000"), sample("HOOT-75001")])
    out = call(
        lite,
        key,
        "api/v2/artifact/library/add/",
        library_name="HOOT-LIB-SRVTEST-1",
        library_layout_config="PAIRED",
        library_seq_kit="ARTIC",
        library_seq_protocol="ARTIC_V4",
        library_layout_read_length=150,
        biosamples=[{"central_sample_id": sid, **POOLING} for sid in ("HOOT-75000", "HOOT-75001")],
    )
    assert out["success"], out
    out = call(
        lite,
        key,
        "api/v2/artifact/library/add/",
        library_name="HOOT-LIB-SRVTEST-2",
        library_layout_config="PAIRED",
        library_seq_kit="ARTIC",
        library_seq_protocol="ARTIC_V4",
        biosamples=[{"central_sample_id": "HOOT-NOPE"}],
    )
    assert out["errors"] == 1 and "was not registered" in out["messages"][0]
    out = call(
        lite,
        key,
        "api/v2/process/sequencing/add/",
        library_name="HOOT-LIB-SRVTEST-1",
        run_group="G1",
        runs=[
            {
                "run_name": "HOOT-RUN-SRVTEST-1",
                "instrument_make": "ILLUMINA",
                "instrument_model": "MiSeq",
                "start_time": "2026-01-01 10:00",
            }
        ],
    )
    assert out["success"], out
    out = call(lite, key, "api/v2/process/sequencing/get/", run_name=["HOOT-RUN-SRVTEST-1", "NO-RUN"])
    assert set(out["get"]) == {"HOOT-RUN-SRVTEST-1"} and out["ignored"] == ["NO-RUN"] and "count" not in out
    run = out["get"]["HOOT-RUN-SRVTEST-1"]
    assert [b["central_sample_id"] for b in run["libraries"][0]["biosamples"]] == ["HOOT-75000", "HOOT-75001"]
    out = call(
        lite,
        key,
        "api/v2/meta/metric/add/",
        artifact="HOOT-75000",
        metrics={
            "sequence": {
                "num_seqs": 1,
                "num_bases": 29000,
                "pc_acgt": 99.1,
                "pc_masked": 0.9,
                "pc_invalid": 0,
            },
            "nonsense": {},
        },
    )
    assert out["success"] and out["warnings"] == 1
    s = call(lite, key, GET, central_sample_id="HOOT-75000")["get"]["HOOT-75000"]
    assert s["metrics"]["sequence"]["pc_acgt"] == 99.1
    pag = s["published_as"] or "COG-UK/BIRM-00001"
    out = call(
        lite,
        key,
        "api/v2/meta/qc/add/",
        publish_group="nope",
        test_name="cog-uk-elan-minimal-qc",
        test_version=1,
    )
    assert out["errors"] == 1 and out["messages"] == ["Invalid 'pag_name'"]
    assert pag


def test_summary(lite, key):
    out = call(lite, key, "api/v2/majora/summary/get/", gte_date="2020-01-01")
    assert out["get"]["total_sequences"] >= lite.seed_summary["biosamples"]
    sites = {row["sourcesite"] for row in out["get"]["site_qc"]}
    assert sites == set(lite.seed_summary["organisations"])
    row = out["get"]["site_qc"][0]
    assert row["count"] == row["pass_count"] + row["fail_count"]


def _wait_task(lite, key, task_id):
    import time

    for _ in range(200):
        out = call(lite, key, "api/v2/majora/task/get/", task_id=task_id)
        if out["task"]["state"] != "PENDING":
            return out
        time.sleep(0.05)
    raise AssertionError("task still PENDING")


def test_fail_task_fault_ends_the_task_in_failure(lite):
    """The ``fail_task`` fault: the request is answered as usual, the task it started ends in FAILURE and
    task/get reports it as Majora does (state FAILURE, a warning, no result). One use, then normal."""
    key = lite.server.apikey(lite.username, permission="majora2.temp_can_read_pags_via_api")
    lite.server.set_faults([{"path": "/api/v2/pag/qc/get/", "action": "fail_task", "count": 1}])
    try:
        failing = call(lite, key, "api/v2/pag/qc/get/", test_name="cog-uk-elan-minimal-qc")
        normal = call(lite, key, "api/v2/pag/qc/get/", test_name="cog-uk-elan-minimal-qc")
    finally:
        lite.server.clear_faults()
    assert failing["errors"] == 0 and len(failing["tasks"]) == 1
    out = _wait_task(lite, key, failing["tasks"][0])
    assert out["task"] == {"id": failing["tasks"][0], "state": "FAILURE", "cleaned": False}
    assert out["warnings"] == 1 and "Task is not (yet) SUCCESS..." in out["messages"] and "get" not in out
    done = _wait_task(lite, key, normal["tasks"][0])
    assert done["task"]["state"] == "SUCCESS" and done["get"]["count"] > 0


def test_pag_qc_get_is_async_and_single_read(lite):
    key = lite.server.apikey(lite.username, permission="majora2.temp_can_read_pags_via_api")
    plain = lite.server.apikey(lite.username)
    r = post(
        lite,
        "api/v2/pag/qc/get/",
        {"username": lite.username, "token": plain, "test_name": "cog-uk-elan-minimal-qc"},
    )
    assert (r.status_code, r.content) == (400, b""), "key without the view's permission"
    out = call(lite, key, "api/v2/pag/qc/get/", test_name="cog-uk-elan-minimal-qc")
    assert "Call api.majora.task.get with the appropriate task ID later..." in out["messages"]
    (task_id,) = out["tasks"]
    # another user may not read it
    lite.server.add_user("carol", "carol-pw", perms=["majora2.view_biosampleartifact"])
    carol = lite.server.apikey("carol")
    done = None
    import time

    for _ in range(200):
        other = call(lite, carol, "api/v2/majora/task/get/", user="carol", task_id=task_id)
        if other["task"]["state"] != "PENDING":
            done = other
            break
        time.sleep(0.05)
    assert done["task"]["state"] == "PERMISSION_DENIED" and done["errors"] == 1
    first = call(lite, key, "api/v2/majora/task/get/", task_id=task_id)
    assert first["task"] == {"id": task_id, "state": "SUCCESS", "cleaned": True}
    qc = lite.seed_summary["pags"]["cog-uk-elan-minimal-qc"]
    assert first["get"]["count"] == qc["pass"] + qc["fail"]
    assert first["get"]["result"][0]["pag"]["qc_reports"]["cog_uk_elan_minimal_qc"] in ("PASS", "FAIL")
    second = call(lite, key, "api/v2/majora/task/get/", task_id=task_id)
    assert second["task"]["state"] == "PENDING" and "get" not in second
    # filters
    out = call(lite, key, "api/v2/pag/qc/get/", test_name="cog-uk-elan-minimal-qc", **{"pass": True})
    passed = _wait_task(lite, key, out["tasks"][0])
    assert passed["get"]["count"] == qc["pass"]
    out = call(
        lite, key, "api/v2/pag/qc/get/", test_name="cog-uk-elan-minimal-qc", mode="pagfiles", fail=True
    )
    files = _wait_task(lite, key, out["tasks"][0])
    assert len(files["get"]["result"]) == qc["fail"] and len(files["get"]["result"][0]) == 8
    out = call(lite, key, "api/v2/pag/qc/get/", test_name="no-such-test")
    assert out["errors"] == 1 and out["messages"] == ["Invalid 'test_name'"]
    # Majora starts the task with a bad date: the task reports it and drops that filter.
    out = call(lite, key, "api/v2/pag/qc/get/", test_name="cog-uk-elan-minimal-qc", published_after="x")
    assert out["errors"] == 0 and len(out["tasks"]) == 1
    res = _wait_task(lite, key, out["tasks"][0])
    assert res["errors"] == 1 and "time data 'x' does not match format '%Y-%m-%d'" in res["messages"]


def test_unknown_task(lite, key):
    out = call(lite, key, "api/v2/majora/task/get/", task_id="00000000-0000-0000-0000-000000000000")
    assert out["task"]["state"] == "PENDING" and out["warnings"] >= 1 and out["errors"] == 0


def test_wildcard_sequencing(lite, key):
    out = call(lite, key, "api/v2/process/sequencing/get/", run_name=["*"])
    (task_id,) = out["tasks"]
    res = _wait_task(lite, key, task_id)
    assert res["get"]["count"] >= lite.seed_summary["runs"]
    assert lite.seed_summary["example"]["run_name"] in res["get"]["result"]
    lite.server.add_user("dave", "dave-pw", perms=["majora2.view_biosampleartifact"])
    dave = lite.server.apikey("dave")
    out = call(lite, dave, "api/v2/process/sequencing/get/", user="dave", run_name=["*"])
    assert out["tasks"] == [] and "get" not in out


@pytest.mark.parametrize(
    ("method", "path", "kw"),
    [
        ("POST", "o/token/", {"data": b"\xff\xfe"}),
        ("POST", "o/token/", {"data": {"grant_type": "refresh_token", "refresh_token": "x"}}),
        ("POST", "o/token/", {"data": {"grant_type": "x"}, "headers": {"Authorization": "Basic %%%"}}),
        ("GET", "o/token/", {}),
        ("POST", "o/introspect/", {"data": {"token": "x"}}),
        ("POST", "o/revoke_token/", {"data": {"token": "x"}}),
        ("POST", "accounts/login/", {"data": {"username": "x"}}),
        ("GET", "o/authorize/?response_type=code&client_id=nope", {"allow_redirects": False}),
        ("GET", "api/v3/mdv/?mdv=" + "x" * 3000, {"headers": {"Authorization": "Bearer abc"}}),
        ("POST", "api/v3/mdv/", {}),
        ("GET", "no/such/page/", {}),
    ],
)
def test_other_endpoints_never_500(lite, method, path, kw):
    r = requests.request(method, lite.url + path, timeout=20, **kw)
    assert 200 <= r.status_code < 500
    assert "Traceback" not in r.text
