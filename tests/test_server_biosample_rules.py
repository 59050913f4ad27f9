"""Majora's biosample rules in majora-lite, with other values than the conformance corpus.

Each rule is read from Majora's ``api_views.py`` (BiosampleArtifactEndpointView, addempty, add_tag,
v0_get_artifact_info) and ``forms.py`` (the three biosample forms, TestMetadataForm); the tests run
against a real majora-lite subprocess.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys

import pytest
import requests
from requests_oauthlib import OAuth2Session

ADD = "api/v2/artifact/biosample/add/"
UPDATE = "api/v2/artifact/biosample/update/"
GET = "api/v2/artifact/biosample/get/"
ADDEMPTY = "api/v2/artifact/biosample/addempty/"
TAG = "api/v2/meta/tag/add/"
INFO = "api/v0/artifact/info/"
ZANA_DISABLED = (
    "ZANA has not been enabled to issue the anonymous_sample_id. "
    "If you wish to enable this behaviour, contact a system administrator."
)
SCOPES = [
    "majora2.add_biosampleartifact",
    "majora2.change_biosampleartifact",
    "majora2.add_biosourcesamplingprocess",
    "majora2.change_biosourcesamplingprocess",
    "majora2.force_add_biosampleartifact",
    "majora2.view_majoraartifact_info",
]


def _bearer(lite) -> str:
    """An access token from a real authorization-code grant."""
    old = os.environ.get("OAUTHLIB_INSECURE_TRANSPORT")
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"  # http on loopback only
    try:
        sess = OAuth2Session(lite.client_id, redirect_uri=lite.url + "o/callback/", scope=SCOPES)
        url, _state = sess.authorization_url(lite.url + "o/authorize/", approval_prompt="auto")
        callback = lite.approve(url, lite.username, lite.password)
        token = sess.fetch_token(
            lite.url + "o/token/", authorization_response=callback, client_secret=lite.client_secret
        )
    finally:
        if old is None:
            os.environ.pop("OAUTHLIB_INSECURE_TRANSPORT")
        else:
            os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = old
    return token["access_token"]


@pytest.fixture(scope="module")
def key(lite):
    return lite.server.apikey(lite.username)


@pytest.fixture(scope="module")
def bearer(lite):
    return _bearer(lite)


def call(lite, key, path, **fields):
    r = requests.post(lite.url + path, json={"username": lite.username, "token": key, **fields}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def oauth(lite, bearer, path, **fields):
    r = requests.post(
        lite.url + path,
        json={"username": lite.username, "token": "oauth", **fields},
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return r.json()


def day(n: int) -> str:
    return (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=n)).isoformat()


def sample(csid: str, **over) -> dict:
    body = {
        "central_sample_id": csid,
        "collection_date": day(-9),
        "received_date": day(-8),
        "adm1": "UK-SCT",
        "is_surveillance": "N",
    }
    body.update(over)
    return body


def form_errors(out: dict) -> dict:
    """The single form-errors message of a refused biosample."""
    errors = [m for m in out["messages"] if isinstance(m, dict)]
    assert len(errors) == 1, out
    return errors[0]


def get(lite, key, csid: str) -> dict:
    return call(lite, key, GET, central_sample_id=csid)["get"][csid]


def test_zana_disabled_every_add_and_update_warns(lite, key):
    out = call(lite, key, ADD, biosamples=[sample("BIRD-ZD-1"), sample("BIRD-ZD-2")])
    assert out["success"] and out["warnings"] == 2 and out["messages"] == [ZANA_DISABLED, ZANA_DISABLED]
    out = call(lite, key, UPDATE, biosamples=[{"central_sample_id": "BIRD-ZD-1", "source_age": 7}])
    assert out["success"] and out["messages"] == [ZANA_DISABLED]
    # A sample that has an anonymous id is not warned about: a full add keeps the id.
    out = call(lite, key, ADD, biosamples=[sample("BIRD-ZD-2", anonymous_sample_id="owl-ab12cd34")])
    assert out["success"] and out["warnings"] == 0
    out = call(lite, key, ADD, biosamples=[sample("BIRD-ZD-2")])
    assert out["warnings"] == 0 and get(lite, key, "BIRD-ZD-2")["anonymous_sample_id"] == "OWL-AB12CD34"


def test_zana_enabled_issues_one_id_per_sample(lite_factory):
    lite = lite_factory(biosamples=0, zana="HOOTZ")
    key = lite.server.apikey(lite.username)
    out = call(lite, key, ADD, biosamples=[sample("BIRD-ZE-1"), sample("BIRD-ZE-2")])
    assert out["success"] and out["warnings"] == 0 and out["messages"] == []
    first = get(lite, key, "BIRD-ZE-1")["anonymous_sample_id"]
    second = get(lite, key, "BIRD-ZE-2")["anonymous_sample_id"]
    assert re.fullmatch(r"HOOTZ-[0-9A-Z]{8}", first) and re.fullmatch(r"HOOTZ-[0-9A-Z]{8}", second)
    assert first != second
    call(lite, key, ADD, biosamples=[sample("BIRD-ZE-1", source_age=3)])
    assert get(lite, key, "BIRD-ZE-1")["anonymous_sample_id"] == first


@pytest.mark.parametrize("csid", ["BIRD.RC.1", "BIRD\\RC\\2", "BIRD/RC"])
def test_reserved_characters_in_central_sample_id(lite, key, csid):
    out = call(lite, key, ADD, biosamples=[sample(csid)])
    assert out["ignored"] == [csid] and not out["new"]
    assert form_errors(out) == {
        "central_sample_id": [
            {
                "message": "central_sample_id cannot contain a reserved character: ['.', '/', '\\\\']",
                "code": "",
            }
        ]
    }


def test_metadata_values_over_128_characters_are_refused(lite, key):
    ok, long, tag = "q" * 128, "w" * 131, "t" * 65
    out = call(
        lite,
        key,
        ADD,
        biosamples=[sample("BIRD-MD-1", metadata={"site": {"fits": ok, "long": long}, tag: {"n": "v"}})],
    )
    assert not out["success"] and out["errors"] == 2
    assert out["new"][0][2] == "BIRD-MD-1", "the sample is saved before its metadata, as in Majora"
    assert sorted(out["ignored"]) == sorted(["metadata__site__long", f"metadata__{tag}__n"])
    assert {
        "value": [
            {"message": "Ensure this value has at most 128 characters (it has 131).", "code": "max_length"}
        ]
    } in (out["messages"])
    assert {
        "tag": [{"message": "Ensure this value has at most 64 characters (it has 65).", "code": "max_length"}]
    } in (out["messages"])
    assert get(lite, key, "BIRD-MD-1")["metadata"] == {"site": {"fits": ok}}


def test_choices_are_case_sensitive_where_majora_does_not_normalise(lite, key):
    out = call(lite, key, ADD, biosamples=[sample("BIRD-CH-1", adm1="uk-wls")])
    assert form_errors(out) == {
        "adm1": [
            {
                "message": "Select a valid choice. uk-wls is not one of the available choices.",
                "code": "invalid_choice",
            }
        ]
    }
    out = call(lite, key, ADD, biosamples=[sample("BIRD-CH-1", source_sex="m")])
    assert list(form_errors(out)) == ["source_sex"]
    # Majora lower-cases sample_type_collected and upper-cases Y/N answers before validating them;
    # swab_site and sample_type_received are renamed to plain text fields, so any text is kept.
    out = call(
        lite,
        key,
        ADD,
        biosamples=[
            sample(
                "BIRD-CH-1",
                sample_type_collected=" Dry Swab ",
                is_surveillance="yes",
                swab_site="Nasal",
                sample_type_received="Primary",
            )
        ],
    )
    assert out["success"], out
    got = get(lite, key, "BIRD-CH-1")
    assert got["sample_type_collected"] == "dry swab" and got["is_surveillance"] == "Y"
    assert got["swab_site"] == "Nasal" and got["sample_type_received"] == "Primary"


def test_three_forms_in_majoras_order_first_failure_only(lite, key):
    bad = sample("BIRD-FO/1", collection_pillar=7, adm1="UK-XXX", source_age=-3)
    out = call(lite, key, ADD, biosamples=[bad])
    assert list(form_errors(out)) == ["collection_pillar"], "the COG-UK supplement form runs first"
    bad["collection_pillar"] = 2
    out = call(lite, key, ADD, biosamples=[dict(bad)])
    assert sorted(form_errors(out)) == ["adm1", "source_age"], "then the sampling form"
    bad.update(adm1="UK-NIR", source_age=3)
    out = call(lite, key, ADD, biosamples=[dict(bad)])
    assert list(form_errors(out)) == ["central_sample_id"], "the artifact form runs last"


def test_date_rules_order_and_existing_samples(lite, key, bearer):
    # The one-year rule removes the date, so the before-2020 rule does not fire on a new sample.
    out = call(
        lite, key, ADD, biosamples=[sample("BIRD-DT-1", collection_date="2019-03-04", received_date=None)]
    )
    assert form_errors(out) == {
        "collection_date": [{"message": "Sample cannot be collected more than a year ago...", "code": ""}]
    }
    # Django's en-us input formats: month/day/year is a date.
    out = call(lite, key, ADD, biosamples=[sample("BIRD-DT-2", collection_date="13/01/2024")])
    assert form_errors(out)["collection_date"][0]["message"] == "Enter a valid date."
    # An addempty sample already has its sampling process: the one-year rule (new samples) is skipped.
    assert oauth(lite, bearer, ADDEMPTY, biosamples=["BIRD-DT-3"])["success"]
    old = sample("BIRD-DT-3", collection_date=day(-500), received_date=day(-498))
    out = call(lite, key, ADD, biosamples=[old])
    assert out["success"] and out["updated"][0][2] == "BIRD-DT-3", out
    out = call(lite, key, ADD, biosamples=[dict(old, central_sample_id="BIRD-DT-4")])
    assert sorted(form_errors(out)) == ["collection_date", "received_date"]


def test_struct_empty_values_as_majora_stores_them(lite, key, bearer):
    assert call(lite, key, ADD, biosamples=[sample("BIRD-ST-1")])["success"]
    got = get(lite, key, "BIRD-ST-1")
    assert got["sample_type_collected"] == "" and got["source_sex"] == "" and got["collected_by"] == ""
    assert got["sample_type_received"] is None and got["swab_site"] is None and got["root_sample_id"] is None
    assert got["adm2"] is None and got["adm2_private"] is None and got["collection_pillar"] is None
    assert got["is_surveillance"] == "N" and got["adm0"] == "United Kingdom"
    assert oauth(lite, bearer, ADDEMPTY, biosamples=["BIRD-ST-2"])["success"]
    empty = get(lite, key, "BIRD-ST-2")
    assert empty["sample_type_collected"] is None and empty["source_sex"] is None and empty["adm0"] is None
    assert empty["is_surveillance"] == "" and empty["collection_pillar"] == "" and empty["collected_by"] == ""
    assert empty["submission_user"] is None and empty["biosample_sources"] == []


def test_addempty_sender_id_only_on_blank_samples(lite, key, bearer):
    out = oauth(
        lite, bearer, ADDEMPTY, biosamples=[{"central_sample_id": "BIRD-AE-1", "sender_sample_id": "S-1"}]
    )
    assert out["success"] and out["new"][0][2] == "BIRD-AE-1"
    out = oauth(
        lite, bearer, ADDEMPTY, biosamples=[{"central_sample_id": "BIRD-AE-1", "sender_sample_id": "S-2"}]
    )
    assert (
        out["warnings"] == 1 and out["ignored"][0][2] == "BIRD-AE-1" and out["updated"][0][2] == "BIRD-AE-1"
    )
    assert call(lite, key, ADD, biosamples=[sample("BIRD-AE-1", sender_sample_id="S-3")])["success"]
    out = oauth(
        lite, bearer, ADDEMPTY, biosamples=[{"central_sample_id": "BIRD-AE-1", "sender_sample_id": "S-4"}]
    )
    assert out["updated"] == [], "a filled sample (adm1 set) keeps its sender_sample_id"
    out = oauth(lite, bearer, ADDEMPTY, biosamples=[{"sender_sample_id": "S-5"}, 17])
    assert out["warnings"] == 2 and out["messages"] == ["'biosamples' appears malformed"] * 2


def test_tag_add(lite, key):
    assert call(lite, key, ADD, biosamples=[sample("BIRD-TG-1")])["success"]
    out = call(
        lite, key, TAG, artifact="BIRD-TG-1", metadata={"owl": {"call": " twit ", "empty": None, "n": 4}}
    )
    assert out["success"] and out["updated"] == [] and out["new"] == []
    assert get(lite, key, "BIRD-TG-1")["metadata"] == {"owl": {"call": "twit", "empty": "", "n": "4"}}
    out = call(lite, key, TAG, artifact="BIRD-TG-NONE", metadata={"owl": {"a": "1", "b": "2"}})
    assert out["errors"] == 2 and out["ignored"] == ["metadata__owl__a", "metadata__owl__b"]
    must = "You must provide one 'artifact', 'group' or 'process' to attach metadata to"
    assert out["messages"][0]["process"] == [{"message": must, "code": ""}]
    # Nothing to attach to: Majora's view does nothing and succeeds.
    out = call(lite, key, TAG, metadata={"owl": {"a": "1"}})
    assert out["success"] and out["messages"] == [] and out["ignored"] == []
    # An unguarded loop over a string raises inside Majora's view: 500.
    r = requests.post(
        lite.url + TAG,
        json={"username": lite.username, "token": key, "artifact": "BIRD-TG-1", "metadata": {"owl": "hoot"}},
        timeout=30,
    )
    assert r.status_code == 500


def test_ct_records_forms(lite, key):
    rec = {"ct_value": 30.5, "test_kit": "ROCHE", "test_platform": "ROCHE_COBAS", "test_target": "ORF1AB"}
    low = dict(rec, test_kit="roche", test_target="N")
    metrics = {"ct": {"records": {"a": rec, "b": low, "c": {"ct_value": 0}}}}
    out = call(lite, key, ADD, biosamples=[sample("BIRD-CT-1", metrics=metrics)])
    assert out["errors"] == 1 and out["warnings"] == 2 and sorted(out["ignored"]) == ["ct:b", "ct:c"]
    assert {
        "test_kit": [
            {
                "message": "Select a valid choice. roche is not one of the available choices.",
                "code": "invalid_choice",
            }
        ]
    } in (out["messages"])
    ct = get(lite, key, "BIRD-CT-1")["metrics"]["ct"]
    assert ct["num_tests"] == 1 and ct["min_ct"] == ct["max_ct"] == 30.5
    out = call(
        lite,
        key,
        ADD,
        biosamples=[sample("BIRD-CT-1", metrics={"ct": {"records": {"x": dict(rec, ct_value=25)}}})],
    )
    assert "1 existing Ct value records deleted and replaced with new values" in out["messages"]
    assert get(lite, key, "BIRD-CT-1")["metrics"]["ct"]["records"][0]["ct_value"] == 25.0


def test_v0_artifact_info(lite, key, bearer):
    assert call(lite, key, ADD, biosamples=[sample("BIRD-V0-UNIQ-1", metadata={"nest": {"tree": "oak"}})])[
        "success"
    ]

    def info(q=None, auth=f"Bearer {bearer}"):
        return requests.get(
            lite.url + INFO,
            params={"q": q} if q is not None else None,
            headers={"Authorization": auth},
            timeout=30,
        )

    r = info("BIRD-V0-UNIQ-1")
    assert r.status_code == 200
    body = r.json()
    assert body["success"] and body["info"]["kind"] == "Biosample" and body["info"]["path"] == ""
    assert body["info"]["name"] == "BIRD-V0-UNIQ-1" and body["info"]["metadata"] == {"nest.tree": "oak"}
    by_id = info(body["info"]["id"]).json()["info"]
    assert by_id == body["info"]
    assert info("V0-UNIQ").json()["info"]["name"] == "BIRD-V0-UNIQ-1", "a unique substring of a dice name"
    missing = info().json()
    assert missing["messages"] == ["'q' GET param missing or empty"] and "info" not in missing
    unknown = info("BIRD-V0-NONE").json()
    assert unknown["messages"] == ["No artifact for query."] and unknown["info"] == {}
    for auth in ("Bearer not-a-token", f"bearer {bearer}", ""):
        r = info("BIRD-V0-UNIQ-1", auth=auth)
        assert r.status_code == 400 and r.content == b""
    r = requests.post(lite.url + INFO, headers={"Authorization": f"Bearer {bearer}"}, timeout=30)
    assert r.status_code == 400 and r.content == b""


def test_zana_prefix_must_be_alphanumeric(tmp_path):
    """A prefix with '-' would make ids Majora's anonymous_sample_id check refuses: usage error, one line."""
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "majora_lite",
            "start",
            "--data-dir",
            str(tmp_path),
            "--zana",
            "A-B",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 64
    assert res.stderr.strip().splitlines() == [
        "majora-lite: --zana PREFIX must be letters and digits (no '-')"
    ]


def test_malformed_metadata_keeps_the_sample_as_majora(lite, key):
    """Majora has no transaction: the sample is saved, the Python error is reported, nothing is listed."""
    out = call(
        lite, key, ADD, biosamples=[sample("BIRD-MM-1", metadata={"owl": "hoot"}), sample("BIRD-MM-2")]
    )
    assert out["errors"] == 1 and out["new"] == [["Biosample", out["new"][0][1], "BIRD-MM-2"]]
    assert any(isinstance(m, str) and "string indices must be integers" in m for m in out["messages"])
    assert get(lite, key, "BIRD-MM-1")["metadata"] == {}
