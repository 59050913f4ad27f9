"""Ocarina's exact requests against majora-lite, and the answers production Majora gives them.

Each request below is what Ocarina 1.1.0 (CLIMB-COVID/ocarina2, the client pipelines used) sent during a
recorded session against majora-lite: the URL as Ocarina builds it (``MAJORA_DOMAIN + endpoint + '/'``, so
with doubled slashes) and the JSON body key for key (Ocarina posts its whole argparse namespace). The
expected answers follow Majora's ``majora2/api_views.py`` (CLIMB-COVID/majora2). Ocarina is not needed.
"""

from __future__ import annotations

import datetime as dt
import os
import time

import pytest
import requests
from requests_oauthlib import OAuth2Session

# One grant covering every scope these requests need (the server checks scopes per view, not per string).
SCOPES = [
    "majora2.view_biosampleartifact",
    "majora2.add_biosampleartifact",
    "majora2.change_biosampleartifact",
    "majora2.add_biosamplesource",
    "majora2.change_biosamplesource",
    "majora2.add_biosourcesamplingprocess",
    "majora2.change_biosourcesamplingprocess",
    "majora2.force_add_biosampleartifact",
    "majora2.add_libraryartifact",
    "majora2.change_libraryartifact",
    "majora2.add_librarypoolingprocess",
    "majora2.change_librarypoolingprocess",
    "majora2.add_dnasequencingprocess",
    "majora2.change_dnasequencingprocess",
    "majora2.add_temporarymajoraartifactmetric",
    "majora2.change_temporarymajoraartifactmetric",
]
TASK_MESSAGE = "Call api.majora.task.get with the appropriate task ID later..."


@pytest.fixture(scope="module")
def bearer(lite):
    """An access token from a real authorization-code grant (as `ocarina oauth authorise` gets one)."""
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


def ocarina_post(lite, bearer, endpoint, body):
    """POST as Ocarina's ``util.emit`` does: doubled-slash URL, bearer header, ``token: "OAUTH"``."""
    r = requests.post(
        lite.url + endpoint + "/",
        json=body,
        headers={
            "Authorization": f"Bearer {bearer}",
            "Content-Type": "application/json",
            "charset": "UTF-8",
            "User-Agent": "ocarina 1.1.0",
        },
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return r.json()


# Keys every Ocarina CLI request carries from its global argparse options (minus quiet/env/angry-when-true).
GLOBAL = {
    "angry": False,
    "boring": False,
    "no_banner": False,
    "oauth": True,
    "print_config": False,
    "profile": None,
    "stream": False,
    "client_name": "ocarina",
    "client_version": "1.1.0",
    "token": "OAUTH",
}
GET_FLAGS = {
    "task_del": False,
    "task_id": None,
    "task_wait": False,
    "task_wait_attempts": 10,
    "task_wait_minutes": 1,
}


def days_ago(n: int) -> str:
    return (dt.date.today() - dt.timedelta(days=n)).isoformat()


def test_put_biosample_tuples_use_majora_kinds(lite, bearer):
    # `ocarina --oauth put biosample --central-sample-id HOOT-81001 --adm1 UK-ENG --is-surveillance N
    #   --collection-date D --adm2 Birmingham --source-sex F --source-age 41 --swab-site nose-throat
    #   --biosample-source-id SRC-81001 -m test bubo hoot --metric ct.1 ct_value 20.5 (+ platform/target/kit)`
    body = {
        "biosamples": [
            {
                "adm1": "UK-ENG",
                "adm2": "Birmingham",
                "adm2_private": None,
                "angry": False,
                "anonymous_sample_id": None,
                "biosample_source_id": "SRC-81001",
                "boring": False,
                "central_sample_id": "HOOT-81001",
                "collecting_org": None,
                "collection_date": days_ago(7),
                "collection_pillar": None,
                "env": False,
                "is_surveillance": "N",
                "metadata": {"test": {"bubo": "hoot"}},
                "metrics": {
                    "ct": {
                        "records": {
                            "1": {
                                "ct_value": "20.5",
                                "test_kit": "INHOUSE",
                                "test_platform": "INHOUSE",
                                "test_target": "S",
                            }
                        }
                    }
                },
                "no_banner": False,
                "oauth": True,
                "partial": False,
                "print_config": False,
                "profile": None,
                "quiet": False,
                "received_date": None,
                "root_biosample_source_id": None,
                "root_sample_id": None,
                "sample_type_collected": None,
                "sample_type_received": None,
                "sender_sample_id": None,
                "source_age": "41",
                "source_sex": "F",
                "stream": False,
                "sudo_as": None,
                "swab_site": "nose-throat",
            }
        ],
        "client_name": "ocarina",
        "client_version": "1.1.0",
        "username": lite.username,
        "token": "OAUTH",
    }
    out = ocarina_post(lite, bearer, "/api/v2/artifact/biosample/add/", body)
    assert out["errors"] == 0 and out["success"] is True, out
    # Majora's _format_tuple uses the model's `kind` property: "Biosample", "Biosample Source".
    kinds_new = sorted((t[0], t[2]) for t in out["new"])
    assert kinds_new == [("Biosample", "HOOT-81001"), ("Biosample Source", "SRC-81001")]
    # handle_metrics appends the sample to `updated` when it stores the Ct metric, even for a new sample.
    assert [(t[0], t[2]) for t in out["updated"]] == [("Biosample", "HOOT-81001")]


def test_empty_biosample_tuples_and_existing_is_ignored_with_warning(lite, bearer):
    # `ocarina --oauth empty biosample --ids HOOT-81002 HOOT-81003`, then again for an existing id.
    body = {
        "biosamples": ["HOOT-81002", "HOOT-81003"],
        "client_name": "ocarina",
        "client_version": "1.1.0",
        "username": lite.username,
        "token": "OAUTH",
    }
    out = ocarina_post(lite, bearer, "/api/v2/artifact/biosample/addempty/", body)
    assert out["errors"] == 0
    assert [(t[0], t[2]) for t in out["new"]] == [("Biosample", "HOOT-81002"), ("Biosample", "HOOT-81003")]

    again = ocarina_post(
        lite, bearer, "/api/v2/artifact/biosample/addempty/", {**body, "biosamples": ["HOOT-81002"]}
    )
    assert again["errors"] == 0 and again["warnings"] == 1 and again["messages"] == []
    assert again["new"] == [] and [(t[0], t[2]) for t in again["ignored"]] == [("Biosample", "HOOT-81002")]


def test_put_library_then_sequencing_tuples(lite, bearer):
    csid, library, run = "HOOT-81004", "HOOT-LIB-81004", "261127_HOOT_81004"
    ocarina_post(
        lite,
        bearer,
        "/api/v2/artifact/biosample/addempty/",
        {
            "biosamples": [csid],
            "client_name": "ocarina",
            "client_version": "1.1.0",
            "username": lite.username,
            "token": "OAUTH",
        },
    )
    # `ocarina --oauth put library --library-name L --biosamples S --apply-all-library VIRAL_RNA PCR
    #   AMPLICON LIGATION ARTIC-v3 --library-layout-config SINGLE --library-seq-kit NBD
    #   --library-seq-protocol LIGATION`

    lib = ocarina_post(
        lite,
        bearer,
        "/api/v2/artifact/library/add/",
        {
            "biosamples": [
                {
                    "central_sample_id": csid,
                    "library_primers": "ARTIC-v3",
                    "library_protocol": "LIGATION",
                    "library_selection": "PCR",
                    "library_source": "VIRAL_RNA",
                    "library_strategy": "AMPLICON",
                    "sequencing_org_received_date": None,
                }
            ],
            "library_layout_config": "SINGLE",
            "library_layout_insert_length": None,
            "library_layout_read_length": None,
            "library_name": library,
            "library_seq_kit": "NBD",
            "library_seq_protocol": "LIGATION",
            "metadata": {},
            "client_name": "ocarina",
            "client_version": "1.1.0",
            "username": lite.username,
            "token": "OAUTH",
        },
    )
    assert lib["errors"] == 0 and [(t[0], t[2]) for t in lib["new"]] == [("Library", library)], lib

    # `ocarina --oauth put sequencing --library-name L --run-name R --instrument-make OXFORD_NANOPORE
    #   --instrument-model GridION --bioinfo-pipe-name ARTIC --bioinfo-pipe-version 1.3.0`
    seq = ocarina_post(
        lite,
        bearer,
        "/api/v2/process/sequencing/add/",
        {
            "library_name": library,
            "run_group": None,
            "runs": [
                {
                    "bioinfo_pipe_name": "ARTIC",
                    "bioinfo_pipe_version": "1.3.0",
                    "end_time": None,
                    "flowcell_id": None,
                    "flowcell_type": None,
                    "instrument_make": "OXFORD_NANOPORE",
                    "instrument_model": "GridION",
                    "run_name": run,
                    "sequencing_id": None,
                    "start_time": None,
                }
            ],
            "client_name": "ocarina",
            "client_version": "1.1.0",
            "username": lite.username,
            "token": "OAUTH",
        },
    )
    assert seq["errors"] == 0, seq
    # Majora's four new objects: the run and the pipeline are processes (kind is process_kind, the name is
    # empty); the placeholder tree and dummy reads are named after the run.
    assert [(t[0], t[2]) for t in seq["new"]] == [
        ("Sequencing", ""),
        ("Digital Resource Group", f"sequencing-dummy-tree-{run}"),
        ("Digital Resource", f"sequencing-dummy-reads-{run}"),
        ("Bioinformatics: Pipeline", ""),
    ]

    # `ocarina --oauth get sequencing --run-name R`: Majora answers synchronously with get={R: ...} and no
    # `count`, so Ocarina itself exits 69 (its _wait_for_task expects `tasks`). Majora's answer, not Ocarina's
    # expectation, is what majora-lite must give.
    got = ocarina_post(
        lite,
        bearer,
        "/api/v2/process/sequencing/get/",
        {
            **GLOBAL,
            **GET_FLAGS,
            "faster": False,
            "run_name": [run],
            "tsv": False,
            "tsv_show_dummy": False,
            "username": lite.username,
        },
    )
    assert got["errors"] == 0 and got["tasks"] == [] and list(got["get"]) == [run]
    assert "count" not in got["get"]


def test_put_metric_updated_tuple(lite, bearer):
    # `ocarina --oauth put metric --artifact BIRM-00001 -m sequence num_seqs 1 ...` (metadata becomes metrics)
    out = ocarina_post(
        lite,
        bearer,
        "/api/v2/meta/metric/add/",
        {
            "angry": False,
            "artifact": "BIRM-00001",
            "artifact_path": None,
            "boring": False,
            "metric": None,
            "metrics": {
                "sequence": {
                    "num_bases": "29903",
                    "num_seqs": "1",
                    "pc_acgt": "99.1",
                    "pc_invalid": "0.9",
                    "pc_masked": "0.9",
                }
            },
            "no_banner": False,
            "oauth": True,
            "partial": False,
            "print_config": False,
            "profile": None,
            "stream": False,
            "sudo_as": None,
            "client_name": "ocarina",
            "client_version": "1.1.0",
            "username": lite.username,
            "token": "OAUTH",
        },
    )
    assert out["errors"] == 0 and [(t[0], t[2]) for t in out["updated"]] == [("Biosample", "BIRM-00001")]


def test_get_sequencing_wildcard_falls_through_like_majora(lite, bearer):
    # `ocarina --oauth get sequencing --run-name '*' --task-wait`
    body = {
        **GLOBAL,
        **GET_FLAGS,
        "faster": False,
        "run_name": ["*"],
        "task_wait": True,
        "task_wait_minutes": 0,
        "tsv": False,
        "tsv_show_dummy": False,
        "username": lite.username,
    }
    out = ocarina_post(lite, bearer, "/api/v2/process/sequencing/get/", body)
    # Majora enqueues the task, then still runs its per-name loop: "*" is not a run, so it is ignored with a
    # warning and `get` is an empty dict.
    assert out["errors"] == 0 and out["success"] is True
    assert len(out["tasks"]) == 1 and out["messages"] == [TASK_MESSAGE]
    assert out["warnings"] == 1 and out["ignored"] == ["*"] and out["get"] == {}

    # Ocarina's OcarinaAPI.get_task body; poll until the single-read result arrives.
    res = wait_task(lite, bearer, out["tasks"][0])
    assert res["task"]["state"] == "SUCCESS" and res["task"]["cleaned"] is True
    assert res["get"]["count"] >= 1 and isinstance(res["get"]["result"], dict)


def test_get_pag_with_no_pags_says_so(lite, bearer):
    # `ocarina --oauth get pag --test-name cog-uk-high-quality-public --published-after <future> --task-wait`
    # (the seed publishes nothing after today, so no PAG matches)
    res = get_pag(lite, bearer, test_name="cog-uk-high-quality-public", published_after="2999-01-01")
    # task_get_pag_v2 adds "No PAGs found." to the api_o it returns, which becomes the reply's messages.
    assert res["get"] == {"result": [], "count": 0}
    assert res["messages"] == ["No PAGs found."] and res["errors"] == 0


def wait_task(lite, bearer, task_id):
    """Ocarina's OcarinaAPI.get_task body, polled until the single-read result leaves PENDING."""
    poll = {
        "task_id": task_id,
        "client_name": "ocarina",
        "client_version": "1.1.0",
        "username": lite.username,
        "token": "OAUTH",
    }
    for _ in range(600):
        res = ocarina_post(lite, bearer, "/api/v2/majora/task/get/", poll)
        if res["task"]["state"] != "PENDING":
            return res
        time.sleep(0.05)
    return res


def get_pag(lite, bearer, **flags):
    """`ocarina --oauth get pag --test-name cog-uk-elan-minimal-qc [flags] --task-wait`: body, then polls."""
    body = {
        **GLOBAL,
        **GET_FLAGS,
        "fail": False,
        "ffield_true": None,
        "mode": "",
        "odelimiter": "\t",
        "ofield": None,
        "output_header": False,
        "pass": False,
        "private": False,
        "public": False,
        "published_after": None,
        "published_before": None,
        "service_name": None,
        "suppressed_after": None,
        "task_wait": True,
        "task_wait_minutes": 0,
        "test_name": "cog-uk-elan-minimal-qc",
        "username": lite.username,
        **flags,
    }
    out = ocarina_post(lite, bearer, "/api/v2/pag/qc/get/", body)
    assert out["errors"] == 0 and len(out["tasks"]) == 1 and out["messages"] == [TASK_MESSAGE], out
    res = wait_task(lite, bearer, out["tasks"][0])
    assert res["task"]["state"] == "SUCCESS", res
    return res


def test_get_pag_service_name_semantics(lite, bearer):
    everything = get_pag(lite, bearer)
    names = {r["published_name"] for r in everything["get"]["result"]}
    submitted = {
        r["published_name"]
        for r in everything["get"]["result"]
        if "ENA-ASSEMBLY" in r["pag"].get("accessions", {})
    }
    assert everything["messages"] == [] and submitted and submitted != names

    # --service-name alone is ignored, with Majora's note.
    alone = get_pag(lite, bearer, service_name="ENA-ASSEMBLY")
    assert alone["messages"] == ["service_name is ignored without public or private"]
    assert {r["published_name"] for r in alone["get"]["result"]} == names

    # --private --service-name S: the PAGs not yet submitted to S (how Elan picks what to submit).
    private = get_pag(lite, bearer, private=True, service_name="ENA-ASSEMBLY")
    assert {r["published_name"] for r in private["get"]["result"]} == names - submitted

    # --public --service-name S: PAGs with a public S accession.
    public = get_pag(lite, bearer, public=True, service_name="ENA-ASSEMBLY")
    assert {r["published_name"] for r in public["get"]["result"]} == submitted

    # --mode pagfiles reports how many PAGs it found (no period in Majora's pagfiles message).
    files = get_pag(lite, bearer, mode="pagfiles", private=True, service_name="ENA-ASSEMBLY")
    assert files["messages"] == [f"{len(names - submitted)} PAGs found"]
