"""The bulk seed makes what the API makes: a small plan bulk-seeded into one majora-lite and sent
through the API of another answers the same to biosample/get, sequencing/get and pag/qc/get (both
modes), ids and timestamps aside."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
import requests

from majora_lite.ops import bulk_plan
from majora_lite.ops.harness import LiteServer

READ_PAGS = "majora2.temp_can_read_pags_via_api"
QC_TESTS = ("cog-uk-elan-minimal-qc", "cog-uk-high-quality-public")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")
SIZES = {"biosamples": 9, "pags": 8, "orphan_pags": 1}


def _spec(bulk: dict) -> dict:
    sites = [code for code, _a, _b in bulk_plan.SITES]
    return {
        "bulk_seed": bulk,
        # The site bots may write (the API path), alice may read everything (both servers alike).
        "users": [
            {"username": f"{c.lower()}-bot", "password": "pw", "org": c, "all_perms": True} for c in sites
        ]
        + [{"username": "alice", "password": "pw", "org": "HOOT", "all_perms": True}],
        "apikeys": [{"username": f"{c.lower()}-bot", "days": 1} for c in sites]
        + [{"username": "alice", "days": 1}, {"username": "alice", "days": 1, "permission": READ_PAGS}],
    }


class Api:
    def __init__(self, server: LiteServer, keys: list[dict]) -> None:
        self.url = server.url
        self.keys = {k["username"]: k["key"] for k in keys if not k["permission"]}
        self.pag_key = next(k["key"] for k in keys if k["permission"] == READ_PAGS)

    def call(self, path: str, body: dict, user: str = "alice", key: str | None = None) -> dict:
        body = {"username": user, "token": key or self.keys[user], **body}
        r = requests.post(f"{self.url}api/v2/{path}/", json=body, timeout=60)
        assert r.status_code == 200, (path, r.text[:500])
        return r.json()

    def write(self, path: str, body: dict, site: str) -> None:
        out = self.call(path, body, user=f"{site.lower()}-bot")
        assert out["errors"] == 0, (path, out["messages"])

    def task(self, path: str, body: dict, key: str | None = None) -> dict:
        started = self.call(path, body, key=key)
        (task_id,) = started["tasks"]
        for _ in range(600):
            out = self.call("majora/task/get", {"task_id": task_id}, key=key)
            if out["task"]["state"] != "PENDING":
                return out
            time.sleep(0.05)
        raise AssertionError(f"task {task_id} of {path} never finished")


def send(api: Api, plan: bulk_plan.Plan) -> None:
    """The plan through the API, in the order a site sends it."""
    strip = ("site", "metrics")
    for sample in plan.samples:
        api.write(
            "artifact/biosample/add",
            {"biosamples": [{k: v for k, v in sample.items() if k != "site"}]},
            sample["site"],
        )
    for lib in plan.libraries:
        api.write("artifact/library/add", {k: v for k, v in lib.items() if k != "site"}, lib["site"])
    for run in plan.runs:
        body = {k: v for k, v in run.items() if k != "site"}
        api.write(
            "process/sequencing/add", {"library_name": body["library_name"], "runs": [body]}, run["site"]
        )
    for f in plan.files:
        api.write("artifact/file/add", {k: v for k, v in f.items() if k not in strip}, f["site"])
        api.write("meta/metric/add", {"artifact_path": f["path"], "metrics": f["metrics"]}, f["site"])
        for test in QC_TESTS:
            api.write(
                "meta/qc/add",
                {"publish_group": f["publish_group"], "test_name": test, "test_version": 1},
                f["site"],
            )


def answers(api: Api, plan: bulk_plan.Plan) -> dict:
    ids = [s["central_sample_id"] for s in plan.samples]
    out = {
        "biosamples": [api.call("artifact/biosample/get", {"central_sample_id": i})["get"] for i in ids],
        "runs": api.call("process/sequencing/get", {"run_name": [r["run_name"] for r in plan.runs]})["get"],
    }
    for test in QC_TESTS:
        for mode in ("pagfiles", ""):
            got = api.task("pag/qc/get", {"test_name": test, "mode": mode}, key=api.pag_key)
            out[f"{test}:{mode}"] = {k: got.get(k) for k in ("get", "messages", "errors")} | {
                "state": got["task"]["state"]
            }
    return out


def normalised(obj):
    """Ids and timestamps differ between any two servers; everything else must not."""
    if isinstance(obj, dict):
        return {normalised(k): normalised(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [normalised(v) for v in obj]
    if isinstance(obj, str):
        return TIMESTAMP.sub("<time>", UUID.sub("<id>", obj))
    return obj


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    anchor = dt.datetime.now(dt.UTC).date().isoformat()  # file/add dates PAGs by the server's (UTC) day
    bulk = LiteServer(tmp_path_factory.mktemp("bulk"))
    via_api = LiteServer(tmp_path_factory.mktemp("api"))
    made = bulk.setup(_spec({**SIZES, "anchor": anchor}))
    # The API server gets the same preparation (users, QC families, dataviews) and no data.
    ready = via_api.setup(_spec({"biosamples": 0, "pags": 0}))
    bulk.start()
    via_api.start()
    try:
        yield (made, Api(bulk, made["apikeys"])), (ready, Api(via_api, ready["apikeys"])), anchor
    finally:
        bulk.stop()
        via_api.stop()


def test_small_bulk_seed_answers_as_the_same_data_sent_through_the_api(servers) -> None:
    (made, bulk), (_ready, via_api), anchor = servers
    plan = bulk_plan.plan(
        SIZES["biosamples"],
        SIZES["pags"],
        orphan_pags=SIZES["orphan_pags"],
        anchor=dt.date.fromisoformat(anchor),
    )
    assert made["bulk_seed"]["runs"] == len(plan.runs) >= 2 and len(plan.files) == SIZES["pags"]
    send(via_api, plan)
    want, got = answers(via_api, plan), answers(bulk, plan)
    # The data is really there: every sample, every run, every PAG with its file in pagfiles mode.
    assert len(want["biosamples"]) == SIZES["biosamples"]
    assert len(want["runs"]) == len(plan.runs)
    assert len(want[f"{QC_TESTS[0]}:pagfiles"]["get"]["result"]) == SIZES["pags"]
    for key in want:
        assert normalised(got[key]) == normalised(want[key]), key


def test_bulk_seed_cli_refuses_impossible_sizes(tmp_path) -> None:
    server = LiteServer(tmp_path / "d")
    with pytest.raises(Exception, match="orphan-pags"):
        server._cli("seed", "--data-dir", str(tmp_path / "d"), "--biosamples", "2", "--pags", "3")
