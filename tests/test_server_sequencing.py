"""majora-lite library/add, sequencing/add, sequencing/get and get2 ('*' tasks) and task/get, against a
real server: Majora's rules checked with other values than the conformance corpus."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
import requests

TASK_MESSAGE = "Call api.majora.task.get with the appropriate task ID later..."
POOL = {"library_source": "GENOMIC", "library_strategy": "WGS", "library_selection": "RANDOM"}
TODAY = dt.datetime.now(dt.UTC).date()


@pytest.fixture(scope="module")
def key(lite):
    return lite.server.apikey(lite.username)


@pytest.fixture(scope="module")
def plain(lite):
    """A user of the same site without ``can_wildcard_sequencing_runs``."""
    lite.server.add_user("seqplain", "seqplain-pw", perms=["majora2.add_biosampleartifact"], org="HOOT")
    return lite.server.apikey("seqplain")


def call(lite, key, path, user=None, **fields):
    r = requests.post(
        lite.url + path, json={"username": user or lite.username, "token": key, **fields}, timeout=30
    )
    assert r.status_code == 200, r.text
    return r.json()


def add_samples(lite, key, *ids):
    body = [
        {
            "central_sample_id": sid,
            "adm1": "UK-WLS",
            "is_surveillance": "N",
            "collection_date": (TODAY - dt.timedelta(days=9)).isoformat(),
            "received_date": (TODAY - dt.timedelta(days=7)).isoformat(),
        }
        for sid in ids
    ]
    out = call(lite, key, "api/v2/artifact/biosample/add/", biosamples=body)
    assert out["errors"] == 0, out


def library(lite, key, name, samples, **over):
    body = {
        "library_name": name,
        "library_layout_config": "PAIRED",
        "library_seq_kit": "NEXTERA",
        "library_seq_protocol": "TAGMENTATION",
        "biosamples": [{"central_sample_id": s, **POOL} for s in samples],
        **over,
    }
    return call(lite, key, "api/v2/artifact/library/add/", **body)


def run(name, **over):
    return {
        "run_name": name,
        "instrument_make": "ION_TORRENT",
        "instrument_model": "S5",
        "start_time": f"{TODAY - dt.timedelta(days=1)} 07:45",
        "end_time": f"{TODAY - dt.timedelta(days=1)} 19:05",
        **over,
    }


def sequencing(lite, key, lib, *runs, **over):
    return call(lite, key, "api/v2/process/sequencing/add/", library_name=lib, runs=list(runs), **over)


def kinds(tuples):
    return [(t[0], t[2]) for t in tuples]


def wait_task(lite, key, task_id, user=None, until=("SUCCESS", "FAILURE", "PERMISSION_DENIED")):
    """Poll task/get until the task leaves PENDING (a SUCCESS read consumes the result)."""
    for _ in range(600):
        out = call(lite, key, "api/v2/majora/task/get/", user=user, task_id=task_id)
        if out["task"]["state"] in until:
            return out
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} never left PENDING")


# ---------------------------------------------------------------- library/add


def test_library_form_rules(lite, key):
    add_samples(lite, key, "HOOT-S7001")
    # Choices are case-sensitive (no upper-casing for libraries) and refuse the library before it exists.
    out = library(lite, key, "HOOT-SLIB-1", ["HOOT-S7001"], library_layout_config="paired")
    assert out["errors"] == 1 and out["ignored"] == ["HOOT-SLIB-1"] and out["new"] == []
    assert out["messages"] == [
        {
            "library_layout_config": [
                {
                    "message": "Select a valid choice. paired is not one of the available choices.",
                    "code": "invalid_choice",
                }
            ]
        }
    ]
    out = library(lite, key, "SL-1", ["HOOT-S7001"], library_seq_kit="", library_layout_read_length=-3)
    assert out["ignored"] == ["SL-1"] and out["messages"] == [
        {
            "library_name": [
                {"message": "Ensure this value has at least 5 characters (it has 4).", "code": "min_length"}
            ],
            "library_layout_read_length": [
                {"message": "Ensure this value is greater than or equal to 0.", "code": "min_value"}
            ],
            "library_seq_kit": [{"message": "This field is required.", "code": "required"}],
        }
    ]


def test_library_pooling_enums_refused_after_the_library_is_made(lite, key):
    add_samples(lite, key, "HOOT-S7002")
    body = [{"central_sample_id": "HOOT-S7002", "library_strategy": "SHOTGUN", "library_source": "RNA"}]
    out = library(lite, key, "HOOT-SLIB-2", [], biosamples=body)
    # Majora validates each pooling record after creating the library: the library is new, the
    # record is refused, and the ignored entry is the form's (empty) initial data.
    assert kinds(out["new"]) == [("Library", "HOOT-SLIB-2")] and out["updated"] == []
    assert out["errors"] == 1 and out["ignored"] == [{}] and out["success"] is False
    assert out["messages"] == [
        {
            "library_strategy": [
                {
                    "message": "Select a valid choice. SHOTGUN is not one of the available choices.",
                    "code": "invalid_choice",
                }
            ],
            "library_source": [
                {
                    "message": "Select a valid choice. RNA is not one of the available choices.",
                    "code": "invalid_choice",
                }
            ],
            "library_selection": [{"message": "This field is required.", "code": "required"}],
        }
    ]


def test_library_unregistered_then_registered_then_unchanged(lite, key):
    add_samples(lite, key, "HOOT-S7003")
    out = library(lite, key, "HOOT-SLIB-3", ["HOOT-S7003", "HOOT-S7003-NOPE", "HOOT-S7003-NADA"])
    assert kinds(out["new"]) == [("Library", "HOOT-SLIB-3")] and out["updated"] == []
    assert out["errors"] == 2 and out["ignored"] == ["HOOT-S7003-NOPE", "HOOT-S7003-NADA"]
    assert out["messages"][0].startswith("At least one Biosample in your Library was not registered.")
    # The library stayed; adding only the registered sample pools it (the biosample is "updated").
    out = library(lite, key, "HOOT-SLIB-3", ["HOOT-S7003"])
    assert out["new"] == [] and kinds(out["updated"]) == [("Biosample", "HOOT-S7003")] and out["success"]
    # The same request again changes nothing, so nothing is reported.
    out = library(lite, key, "HOOT-SLIB-3", ["HOOT-S7003"])
    assert (out["new"], out["updated"], out["errors"]) == ([], [], 0)
    # A changed attribute updates the library (not its pooled samples).
    out = library(lite, key, "HOOT-SLIB-3", ["HOOT-S7003"], library_seq_kit="NEXTERA-XT")
    assert kinds(out["updated"]) == [("Library", "HOOT-SLIB-3")]


def test_library_biosamples_not_a_list_and_forced_stubs(lite, key):
    out = library(lite, key, "HOOT-SLIB-4", [], biosamples="HOOT-S7004")
    assert out["messages"] == ["'biosamples' appears malformed"] and out["new"] == []
    out = library(lite, key, "HOOT-SLIB-4", ["HOOT-S7004-A", "HOOT-S7004-B"], force_biosamples=True)
    assert kinds(out["new"]) == [
        ("Library", "HOOT-SLIB-4"),
        ("Biosample", "HOOT-S7004-A"),
        ("Biosample", "HOOT-S7004-B"),
    ]
    assert kinds(out["updated"]) == [("Biosample", "HOOT-S7004-A"), ("Biosample", "HOOT-S7004-B")]
    assert out["warnings"] == 2 and out["errors"] == 0 and len(out["messages"]) == 1
    assert out["messages"][0].startswith("You forced the creation of at least one Biosample.")


# ---------------------------------------------------------------- sequencing/add


def test_sequencing_form_rules(lite, key):
    add_samples(lite, key, "HOOT-S7010")
    assert library(lite, key, "HOOT-SLIB-10", ["HOOT-S7010"])["success"]

    def refused(**fields):
        out = sequencing(lite, key, "HOOT-SLIB-10", run("HOOT-SRUN-10", **fields))
        assert out["errors"] == 1 and out["new"] == [] and out["updated"] == [], out
        return out["messages"]

    assert refused(instrument_make="PACBIO") == [
        {
            "instrument_make": [
                {
                    "message": "Select a valid choice. PACBIO is not one of the available choices.",
                    "code": "invalid_choice",
                }
            ]
        }
    ]
    for bad in (f"{TODAY}T07:45", f"{TODAY} 07:45:00", f"{TODAY}"):
        assert refused(end_time=bad) == [
            {"end_time": [{"message": "Enter a valid date/time.", "code": "invalid"}]}
        ]
    tomorrow = f"{TODAY + dt.timedelta(days=1)} 08:00"
    assert refused(start_time=tomorrow) == [
        {"start_time": [{"message": "Sequencing run cannot start in the future", "code": ""}]}
    ]
    assert refused(run_name="SR10") == [
        {
            "run_name": [
                {"message": "Ensure this value has at least 5 characters (it has 4).", "code": "min_length"},
                {"message": "If you don't provide a sequencing_id, you must provide a run_name", "code": ""},
            ]
        }
    ]
    assert refused(run_name="HOOT/SRUN.10") == [
        {
            "run_name": [
                {"message": "run_name cannot contain a reserved character: ['.', '/', '\\\\']", "code": ""}
            ]
        }
    ]
    out = sequencing(lite, key, "HOOT-SLIB-NONE", run("HOOT-SRUN-10"))
    assert out["messages"] == [
        {
            "library_name": [
                {
                    "message": "Could not add sequencing to Library HOOT-SLIB-NONE as it does not exist. "
                    "Check and fix errors in your library fields and resubmit.",
                    "code": "",
                }
            ]
        }
    ]
    out = call(lite, key, "api/v2/process/sequencing/add/", library_name="HOOT-SLIB-10", runs=[])
    assert out["messages"] == ["'runs' key missing or empty"]
    # A run that is not an object is that run's error; the other runs are still added.
    out = sequencing(lite, key, "HOOT-SLIB-10", "HOOT-SRUN-10", run("HOOT-SRUN-10B"))
    assert out["errors"] == 1 and out["messages"] == ["'str' object has no attribute 'get'"]
    assert kinds(out["new"])[0] == ("Sequencing", "")


def test_sequencing_new_objects_run_group_and_update(lite, key):
    add_samples(lite, key, "HOOT-S7011")
    assert library(lite, key, "HOOT-SLIB-11", ["HOOT-S7011"])["success"]
    # instrument_make is normalised before the choice check (upper case, spaces to underscores).
    submitted = dt.datetime.now(dt.UTC).date()
    out = sequencing(lite, key, "HOOT-SLIB-11", run("HOOT-SRUN-11", instrument_make=" oxford nanopore"))
    # The submission date is the server's day when the run was added (it may have turned since).
    submission_days = {submitted.isoformat(), dt.datetime.now(dt.UTC).date().isoformat()}
    assert out["errors"] == 0 and out["updated"] == []
    assert kinds(out["new"]) == [
        ("Sequencing", ""),
        ("Digital Resource Group", "sequencing-dummy-tree-HOOT-SRUN-11"),
        ("Digital Resource", "sequencing-dummy-reads-HOOT-SRUN-11"),
        ("Bioinformatics: Pipeline", ""),
    ]
    run_id, pipe_id = out["new"][0][1], out["new"][3][1]
    got = call(lite, key, "api/v2/process/sequencing/get/", run_name=["HOOT-SRUN-11"])["get"]["HOOT-SRUN-11"]
    assert got["run_group"] == "HOOT-SRUN-11" and got["instrument_make"] == "OXFORD_NANOPORE"
    assert got["sequencing_uuid"] == run_id and got["sequencing_submission_date"] in submission_days
    # Again, with the request's run_group (a run's own run_group is not read): the run and its pipeline
    # are updated, nothing is new, and the ids are the same objects.
    again = run("HOOT-SRUN-11", instrument_make="OXFORD_NANOPORE", run_group="IGNORED")
    out = sequencing(lite, key, "HOOT-SLIB-11", again, run_group="HOOT-GROUP-11")
    assert out["new"] == [] and out["updated"] == [
        ["Sequencing", run_id, ""],
        ["Bioinformatics: Pipeline", pipe_id, ""],
    ]
    got = call(lite, key, "api/v2/process/sequencing/get/", run_name=["HOOT-SRUN-11"])["get"]["HOOT-SRUN-11"]
    assert got["run_group"] == "HOOT-GROUP-11"


def test_sequencing_submission_date_from_the_run_name(lite, key):
    # Majora dates a new run from a date in its name (Illumina's YYMMDD prefix), if this year or last.
    add_samples(lite, key, "HOOT-S7012")
    assert library(lite, key, "HOOT-SLIB-12", ["HOOT-S7012"])["success"]
    day = TODAY - dt.timedelta(days=20)
    name = f"{day:%y%m%d}_M0042_0012_HOOT"
    assert sequencing(lite, key, "HOOT-SLIB-12", run(name))["success"]
    got = call(lite, key, "api/v2/process/sequencing/get/", run_name=[name])["get"][name]
    assert got["sequencing_submission_date"] == day.isoformat()


def test_one_run_several_libraries(lite, key):
    add_samples(lite, key, "HOOT-S7020", "HOOT-S7021", "HOOT-S7022")
    assert library(lite, key, "HOOT-SLIB-20", ["HOOT-S7020"])["success"]
    assert library(lite, key, "HOOT-SLIB-21", ["HOOT-S7021", "HOOT-S7022"])["success"]
    first = sequencing(lite, key, "HOOT-SLIB-20", run("HOOT-SRUN-20"))
    second = sequencing(lite, key, "HOOT-SLIB-21", run("HOOT-SRUN-20"))
    assert len(first["new"]) == 4 and second["new"] == []
    assert kinds(second["updated"]) == [("Sequencing", ""), ("Bioinformatics: Pipeline", "")]
    for path in ("api/v2/process/sequencing/get/", "api/v2/process/sequencing/get2/"):
        got = call(lite, key, path, run_name=["HOOT-SRUN-20"])["get"]["HOOT-SRUN-20"]
        libs = {
            lib["library_name"]: [b["central_sample_id"] for b in lib["biosamples"]]
            for lib in got["libraries"]
        }
        assert libs == {"HOOT-SLIB-20": ["HOOT-S7020"], "HOOT-SLIB-21": ["HOOT-S7021", "HOOT-S7022"]}


# ---------------------------------------------------------------- sequencing/get, get2, '*' and task/get

RUN_KEYS = {
    "run_name",
    "run_group",
    "instrument_make",
    "instrument_model",
    "flowcell_type",
    "flowcell_id",
    "start_time",
    "end_time",
    "libraries",
    "sequencing_uuid",
    "sequencing_org",
    "sequencing_org_code",
    "sequencing_submission_date",
}
LIBRARY_KEYS = {
    "library_name",
    "library_layout_config",
    "layout_read_length",
    "layout_insert_length",
    "library_seq_kit",
    "library_seq_protocol",
    "metadata",
    "biosamples",
}
# task_get_sequencing_faster's biosample row: its values() columns, the pooling record's, then the
# keys it sets (metrics, metadata, published_as, collected_by).
FASTER_BIOSAMPLE_KEYS = {
    "central_sample_id",
    "anonymous_sample_id",
    "root_sample_id",
    "sample_type_collected",
    "root_biosample_source_id",
    "collection_date",
    "received_date",
    "submission_user",
    "submission_org",
    "submission_org_code",
    "source_sex",
    "source_age",
    "adm0",
    "adm1",
    "adm2",
    "adm2_private",
    "is_surveillance",
    "collection_pillar",
    "biosample_source_id",
    "sample_type_received",
    "swab_site",
    "library_strategy",
    "library_source",
    "library_selection",
    "library_protocol",
    "library_primers",
    "sequencing_org_received_date",
    "library_adaptor_barcode",
    "metrics",
    "metadata",
    "published_as",
    "collected_by",
}


@pytest.fixture(scope="module")
def wild_run(lite, key):
    add_samples(lite, key, "HOOT-S7030", "HOOT-S7031")
    assert library(lite, key, "HOOT-SLIB-30", ["HOOT-S7030", "HOOT-S7031"])["success"]
    assert sequencing(lite, key, "HOOT-SLIB-30", run("HOOT-SRUN-30", flowcell_id="FC-30"))["success"]
    return "HOOT-SRUN-30"


def test_get_shapes_and_unknown_runs(lite, key, wild_run):
    out = call(lite, key, "api/v2/process/sequencing/get/", run_name=[wild_run, "HOOT-SRUN-NONE"])
    assert out["warnings"] == 1 and out["ignored"] == ["HOOT-SRUN-NONE"] and "count" not in out["get"]
    got = out["get"][wild_run]
    assert set(got) == RUN_KEYS and set(got["libraries"][0]) == LIBRARY_KEYS
    assert got["start_time"].startswith(f"{TODAY - dt.timedelta(days=1)} 07:")
    bs = got["libraries"][0]["biosamples"][0]
    assert bs["is_surveillance"] == "N" and bs["library_strategy"] == "WGS"
    assert bs["library_adaptor_barcode"] is None
    out = call(lite, key, "api/v2/process/sequencing/get/", run_name=[])
    assert out["messages"] == ["'run_name' key missing or empty"] and "get" not in out


@pytest.mark.parametrize("path", ["api/v2/process/sequencing/get/", "api/v2/process/sequencing/get2/"])
def test_wildcard_without_permission_has_no_task(lite, plain, path):
    out = call(lite, plain, path, user="seqplain", run_name=["*"])
    assert (out["errors"], out["warnings"], out["tasks"], out["messages"]) == (0, 0, [], [])
    assert "get" not in out and out["success"] is True


def test_wildcard_get_task_has_get_structs(lite, key, wild_run):
    out = call(lite, key, "api/v2/process/sequencing/get/", run_name=["*"])
    assert out["messages"] == [TASK_MESSAGE] and out["ignored"] == ["*"] and out["get"] == {}
    (task_id,) = out["tasks"]
    res = wait_task(lite, key, task_id)
    assert res["task"] == {"id": task_id, "state": "SUCCESS", "cleaned": True}
    # The reply is the starting request's envelope (Majora's api_o, as it was when the task was queued).
    assert res["request"] == out["request"] and (res["warnings"], res["ignored"], res["tasks"]) == (0, [], [])
    result = res["get"]["result"]
    assert res["get"]["count"] == len(result) and wild_run in result
    direct = call(lite, key, "api/v2/process/sequencing/get/", run_name=[wild_run])["get"][wild_run]
    assert result[wild_run] == direct


def test_wildcard_get2_task_has_the_faster_shape(lite, key, wild_run):
    out = call(lite, key, "api/v2/process/sequencing/get2/", run_name=["*"])
    (task_id,) = out["tasks"]
    res = wait_task(lite, key, task_id)
    get = res["get"]
    assert set(get) == {"result", "count", "legend", "count_detail"} and get["legend"] == {}
    n_runs, n_libs, n_samples = get["count_detail"]
    assert n_runs == get["count"] == len(get["result"]) and n_libs >= n_runs and n_samples >= 2
    got = get["result"][wild_run]
    assert set(got) == RUN_KEYS and got["flowcell_id"] == "FC-30"
    (lib,) = got["libraries"]
    assert set(lib) == LIBRARY_KEYS
    # Biosamples keyed by central_sample_id (Ocarina's --faster reads them so), raw is_surveillance.
    assert set(lib["biosamples"]) == {"HOOT-S7030", "HOOT-S7031"}
    row = lib["biosamples"]["HOOT-S7030"]
    assert set(row) == FASTER_BIOSAMPLE_KEYS
    assert row["is_surveillance"] is False and row["collected_by"] == "" and row["adm1"] == "UK-WLS"
    assert row["library_source"] == "GENOMIC" and row["submission_org_code"] == "HOOT"


def test_task_get_edges(lite, key, plain, wild_run):
    out = call(lite, key, "api/v2/majora/task/get/")
    assert out["messages"] == ["'task_id' key missing or empty"] and out["errors"] == 1
    unknown = str(uuid.uuid4())
    out = call(lite, key, "api/v2/majora/task/get/", task_id=unknown)
    assert out["task"] == {"id": unknown, "state": "PENDING", "cleaned": False}
    assert (
        out["warnings"] == 2
        and out["errors"] == 0
        and out["messages"]
        == [
            "Task does not exist: it may not have been added to the Task Database yet...",
            "Task is not (yet) SUCCESS...",
        ]
    )
    (task_id,) = call(lite, key, "api/v2/process/sequencing/get/", run_name=["*"])["tasks"]
    # Another user cannot read a finished task, and their attempt does not consume it.
    other = wait_task(lite, plain, task_id, user="seqplain")
    assert other["task"] == {"id": task_id, "state": "PERMISSION_DENIED"} and other["errors"] == 1
    assert other["messages"] == [
        "You do not have permission to read this task result as your are not the task owner"
    ]
    first = call(lite, key, "api/v2/majora/task/get/", task_id=task_id)
    assert first["task"]["state"] == "SUCCESS" and wild_run in first["get"]["result"]
    second = call(lite, key, "api/v2/majora/task/get/", task_id=task_id)
    assert second["task"] == {"id": task_id, "state": "PENDING", "cleaned": False} and "get" not in second
    assert second["warnings"] == 1 and second["messages"] == ["Task is not (yet) SUCCESS..."]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        # Majora's sample check calls .get on each item: a name instead of an object raises.
        (
            "api/v2/artifact/library/add/",
            {
                "library_name": "HOOT-SLIB-50",
                "library_layout_config": "SINGLE",
                "library_seq_kit": "K",
                "library_seq_protocol": "P",
                "biosamples": ["HOOT-S7050"],
            },
        ),
        # Majora compares run_name[0] with "*": a dict has no key 0.
        ("api/v2/process/sequencing/get2/", {"run_name": {"HOOT-SRUN-50": 1}}),
    ],
)
def test_where_majora_raises_the_answer_is_500(lite, key, path, body):
    r = requests.post(lite.url + path, json={"username": lite.username, "token": key, **body}, timeout=30)
    assert r.status_code == 500
