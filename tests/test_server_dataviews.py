"""Dataviews (MDV) from Majora's definition files: rows and fields exactly as the definition selects."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time

import pytest
import requests
from requests_oauthlib import OAuth2Session

from majora_lite.server.settings import DB_NAME

SCOPES = [
    "majora2.can_read_dataview_via_api",
    "majora2.force_add_biosampleartifact",
    "majora2.add_biosampleartifact",
    "majora2.change_biosampleartifact",
    "majora2.add_biosourcesamplingprocess",
    "majora2.change_biosourcesamplingprocess",
]
WALES = """HOOTV1
Welsh samples
\t
BiosampleArtifact
MF\tBiosampleArtifact\tcentral_sample_id
MF\tBiosourceSamplingProcess\tadm2
MF\tBiosourceSamplingProcess\tcollection_date
MF\tBiosampleArtifact\tno_such_field
# a comment line, ignored as Majora's loader ignores it
FF\tcreated__biosourcesamplingprocess__collection_location_adm1\texact\tstr\tUK-WLS
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """A server of its own (12 seeded samples) with a lab's own view loaded from a file."""
    from fixtures_server import start_lite

    handle = start_lite(tmp_path_factory.mktemp("mdv"), biosamples=12)
    path = tmp_path_factory.mktemp("defs") / "HOOTV1"
    path.write_text(WALES)
    cmd = [sys.executable, "-m", "majora_lite", "load-dataview", "--data-dir", handle.data_dir]
    r = subprocess.run([*cmd, str(path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [
        {"mdv": "HOOTV1", "created": True, "entry_point": "BiosampleArtifact", "fields": 4, "filters": 1}
    ]
    handle.server.setup(
        {
            "agreements": [{"username": "lond-bot", "slug": "eng-sendersampleid-phe-1"}],
            "dataviews": [
                {"username": handle.username, "mdv": m} for m in ("HOOTV1", "DA1", "PHE1", "PHE1-FAST")
            ],
        }
    )
    try:
        yield handle
    finally:
        handle.server.stop()


@pytest.fixture(scope="module")
def bearer(srv):
    import os

    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"  # requests-oauthlib and http on loopback
    sess = OAuth2Session(srv.client_id, redirect_uri=srv.url + "o/callback/", scope=SCOPES)
    url, _ = sess.authorization_url(srv.url + "o/authorize/")
    token = sess.fetch_token(
        srv.url + "o/token/",
        authorization_response=srv.approve(url, srv.username, srv.password),
        client_secret=srv.client_secret,
        include_client_id=True,
    )
    return {"Authorization": f"Bearer {token['access_token']}"}


def v2(srv, bearer, path, **body):
    body = {"username": srv.username, "token": "oauth", **body}
    return requests.post(srv.url + path, json=body, headers=bearer, timeout=30).json()


def view(srv, bearer, code):
    r = requests.get(srv.url + "api/v3/mdv/", params={"mdv": code}, headers=bearer, timeout=30)
    assert r.status_code == 200, r.text
    head = r.json()
    for _ in range(600):
        out = v2(srv, bearer, "api/v2/majora/task/get/", task_id=head["tasks"][0])
        if out["task"]["state"] != "PENDING":
            break
        time.sleep(0.05)
    assert out["task"]["state"] == "SUCCESS", out
    return head, out["data"]


def db(srv, sql):
    with sqlite3.connect(f"file:{srv.data_dir}/{DB_NAME}?mode=ro", uri=True) as con:
        return con.execute(sql).fetchall()


SAMPLES = (
    "SELECT b.central_sample_id, b.sender_sample_id, p.collection_location_adm1, p.collection_location_adm2,"
    " p.collection_date, p.received_date, u.username FROM majora2_biosampleartifact b"
    " JOIN majora2_biosourcesamplingprocess p ON p.id = b.created_id"
    " JOIN auth_user u ON u.id = p.submission_user_id ORDER BY b.central_sample_id"
)


def test_view_selects_its_fields_and_rows(srv, bearer):
    head, rows = view(srv, bearer, "HOOTV1")
    expected = [
        {
            "central_sample_id": csid,
            "created": {
                "adm2": adm2,
                "collection_date": collected,
                "process_model": "BiosourceSamplingProcess",
            },
        }
        for csid, _sender, adm1, adm2, collected, _received, _user in db(srv, SAMPLES)
        if adm1 == "UK-WLS"
    ]
    assert expected and rows == expected
    assert head["expected_n"] == len(expected) and head["params"] == {"mdv": "HOOTV1"}


def test_da1_lists_orphaned_identifiers(srv, bearer):
    out = v2(srv, bearer, "api/v2/artifact/biosample/addempty/", biosamples=["HOOT-MDV-ORPHAN"])
    assert out["errors"] == 0, out
    _head, rows = view(srv, bearer, "DA1")
    # only identifiers without metadata (the seed makes one per 50 samples, at least one): their
    # sampling process is empty, so every field is null
    orphans = db(
        srv,
        "SELECT b.central_sample_id FROM majora2_biosampleartifact b JOIN majora2_biosourcesamplingprocess p"
        " ON p.id = b.created_id WHERE p.submission_user_id IS NULL ORDER BY b.central_sample_id",
    )
    assert len(orphans) == 1 + srv.seed_summary["orphans"] == 2
    assert rows == [
        {
            "central_sample_id": csid,
            "sender_sample_id": None,
            "created": {
                "adm1": None,
                "collection_date": None,
                "received_date": None,
                "process_model": "BiosourceSamplingProcess",
            },
        }
        for (csid,) in orphans
    ]


def test_phe1_follows_the_agreement_and_fast_adds_adm1(srv, bearer):
    # the seed's English sites signed PHE1's agreement; the fixture signed it again for lond-bot
    signed = [r for r in db(srv, SAMPLES) if r[2] == "UK-ENG"]
    assert {r[6] for r in signed} == {"birm-bot", "camb-bot", "lond-bot", "norw-bot"}
    # a terminated agreement no longer counts
    with sqlite3.connect(f"{srv.data_dir}/{DB_NAME}", timeout=30) as con:
        con.execute(
            "UPDATE majora2_profileagreement SET is_terminated = 1 WHERE profile_id ="
            " (SELECT p.id FROM majora2_profile p JOIN auth_user u ON u.id = p.user_id"
            " WHERE u.username = 'norw-bot')"
        )
    signed = [r for r in signed if r[6] != "norw-bot"]
    _head, rows = view(srv, bearer, "PHE1")
    assert rows == [
        {
            "central_sample_id": csid,
            "sender_sample_id": sender,
            "created": {
                "collection_date": collected,
                "received_date": received,
                "process_model": "BiosourceSamplingProcess",
            },
        }
        for csid, sender, _adm1, _adm2, collected, received, _user in signed
    ]
    _head, fast = view(srv, bearer, "PHE1-FAST")
    assert fast == [{**r, "created": {**r["created"], "adm1": "UK-ENG"}} for r in rows]


def test_unknown_view_is_403_and_permissions_come_before_the_method(srv, bearer):
    r = requests.get(srv.url + "api/v3/mdv/", params={"mdv": "HOOT0"}, headers=bearer, timeout=30)
    denied = {"detail": "You do not have permission to perform this action."}
    assert (r.status_code, r.json()) == (403, denied)
    # as DRF: authentication and permissions first, then 405 for a method the view lacks
    r = requests.post(srv.url + "api/v3/mdv/?mdv=DA1", timeout=30)
    assert (r.status_code, r.json()) == (403, {"detail": "Authentication credentials were not provided."})
    r = requests.post(srv.url + "api/v3/mdv/?mdv=HOOT0", headers=bearer, timeout=30)
    assert (r.status_code, r.json()) == (403, denied)
    r = requests.post(srv.url + "api/v3/mdv/?mdv=DA1", headers=bearer, timeout=30)
    assert (r.status_code, r.json()) == (405, {"detail": 'Method "POST" not allowed.'})


def test_load_dataview_bad_files_one_line(srv, tmp_path):
    cmd = [sys.executable, "-m", "majora_lite", "load-dataview", "--data-dir", srv.data_dir]
    head = "X\nname\n\nBiosampleArtifact\n"
    cases = {
        "X\nname\n\nPublishedArtifactGroup\n": "entry point 'PublishedArtifactGroup' is not one",
        head + "FF\tcreated__nope\texact\tstr\tx\n": "line 5: majora-lite cannot filter",
        head + "FF\tcentral_sample_id\texact\tweird\tx\n": "line 5: filter type 'weird'",
        head + "FF\tcentral_sample_id\texact\tint\tx\n": "line 5: value 'x' is not a valid int",
        "X\nname\n": "the first four lines must be",
    }
    for i, (text, message) in enumerate(cases.items()):
        path = tmp_path / f"def{i}"
        path.write_text(text)
        r = subprocess.run([*cmd, str(path)], capture_output=True, text=True, timeout=120)
        assert r.returncode == 65 and message in r.stderr, r.stderr
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
