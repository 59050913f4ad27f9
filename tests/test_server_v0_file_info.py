"""``api/v0/artifact/info/`` for files, as Majora's ``v0_get_artifact_info`` and ``make_path``.

Found with the real Ocarina 1.0.0 (``ocarina info``): a file's ``path`` is Majora's join of its directory
groups from the node (``NODE://a/b/file``, which ``info`` looks up again), not the path it was sent
with; a ``node://path`` query walks that node's directories by name, so the same path on another node
does not answer for it. Values are this test's own (not the conformance corpus's).
"""

from __future__ import annotations

import pytest
import requests

from majora_lite.ops.harness import LiteServer

INFO = "api/v0/artifact/info/"


@pytest.fixture(scope="module")
def heron(tmp_path_factory):
    """Nodes HERON (hard-path directory /srv/heron/out) and EGRET (nothing on it); three files on HERON."""
    server = LiteServer(tmp_path_factory.mktemp("v0-info"))
    made = server.setup(
        {
            "users": [{"username": "heron", "password": "heron-pw", "org": "HOOT", "all_perms": True}],
            "nodes": [
                {"name": "HERON", "paths": ["/srv/heron/out"]},
                {"name": "EGRET"},
            ],
            "tokens": [{"username": "heron", "scopes": ["majora2.view_majoraartifact_info"]}],
            "apikeys": [{"username": "heron"}],
        }
    )
    server.start()
    key = made["apikeys"][0]["key"]
    ids = {}
    messages = {}
    for path in ("/srv/heron/out/HRN-7.fasta", "/scratch/q9/HRN-8.fasta", "/srv/heron/out/R5/HRN-9.fasta"):
        out = requests.post(
            f"{server.url}api/v2/artifact/file/add/",
            json={
                "username": "heron",
                "token": key,
                "node_name": "HERON",
                "path": path,
                "sep": "/",
                "current_name": path.rsplit("/", 1)[1],
                "current_fext": "fasta",
                "current_hash": "a" * 32,
                "current_size": 29811,
                "resource_type": "consensus",
                "pipe_hook": "heron-pipe",
            },
            timeout=60,
        ).json()
        assert out["errors"] == 0, out
        ids[path] = out["new"][-1][1]
        messages[path] = out["messages"]
    try:
        yield server, made["tokens"][0]["access_token"], ids, key, messages
    finally:
        server.stop()


def info(server: LiteServer, token: str, query: str) -> dict:
    r = requests.get(
        f"{server.url}{INFO}", params={"q": query}, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_file_path_is_the_directory_groups_from_the_node(heron):
    server, token, ids, _key, _messages = heron
    hard = info(server, token, ids["/srv/heron/out/HRN-7.fasta"])["info"]
    assert (hard["kind"], hard["name"]) == ("Digital Resource", "HRN-7.fasta")
    assert hard["path"] == "HERON://srv/heron/out/HRN-7.fasta"
    # A directory chain made by file/add (no hard path) is joined the same way.
    chain = info(server, token, ids["/scratch/q9/HRN-8.fasta"])["info"]
    assert chain["path"] == "HERON://scratch/q9/HRN-8.fasta"


def test_node_path_query_round_trips_and_names_the_node(heron):
    server, token, ids, _key, _messages = heron
    out = info(server, token, "HERON://srv/heron/out/HRN-7.fasta")
    assert out["errors"] == 0 and out["info"]["id"] == ids["/srv/heron/out/HRN-7.fasta"]
    assert info(server, token, "HERON://scratch/q9/HRN-8.fasta")["info"]["path"] == (
        "HERON://scratch/q9/HRN-8.fasta"
    )
    # Another node does not hold the file (its path is not enough); Majora's extra "/" makes an
    # absolute path after "://" name a directory "" (not found); a bare file-system path is no query.
    for query in (
        "EGRET://srv/heron/out/HRN-7.fasta",
        "HERON:///srv/heron/out/HRN-7.fasta",
        "/srv/heron/out/HRN-7.fasta",
    ):
        out = info(server, token, query)
        assert (out["errors"], out["messages"], out["info"]) == (1, ["No artifact for query."], {}), query


def test_a_file_below_a_hard_path_directory_hangs_under_it(heron):
    """Majora finds directories by name under the node, so the hard-path ones are reused, not doubled."""
    server, token, ids, key, messages = heron
    path = "/srv/heron/out/R5/HRN-9.fasta"
    assert messages[path] == ["MAG not found from hard path"]  # R5 itself has no hard path
    out = info(server, token, "HERON://srv/heron/out/R5/HRN-9.fasta")
    assert out["errors"] == 0 and out["info"]["id"] == ids[path]
    assert out["info"]["path"] == "HERON://srv/heron/out/R5/HRN-9.fasta"
    mag = requests.post(
        f"{server.url}api/v2/group/mag/get/",
        json={"username": "heron", "token": key, "path": "HERON:///srv/heron/out"},
        timeout=30,
    ).json()
    assert mag["errors"] == 0, mag
    assert [child["name"] for child in mag["mag"]["children"]] == ["R5"]
