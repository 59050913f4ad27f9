"""Issue 12 item 11: majora-lite keeps its data private, refuses cross-origin and foreign-Host requests to
its admin endpoints, cannot be framed, and warns when it listens beyond the loopback."""

from __future__ import annotations

import os
import stat

import requests
from fixtures_server import start_lite

DB = "majora-lite.sqlite3"


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_data_directory_and_database_are_private(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)  # made by the user with a usual umask: majora-lite tightens it
    old = os.umask(0o022)
    try:
        handle = start_lite(data, biosamples=1)
    finally:
        os.umask(old)
    try:
        assert _mode(data) == 0o700
        for name in (DB, f"{DB}-wal", f"{DB}-shm", "secret_key"):
            if (data / name).exists():
                assert _mode(data / name) == 0o600, name
        assert (data / DB).exists() and (data / "secret_key").exists()
    finally:
        handle.server.stop()


def test_admin_endpoints_refuse_cross_origin_and_foreign_hosts(lite):
    url = lite.url + "_lite/faults"
    rule = [{"path": "/nowhere/", "status": 503}]
    port = lite.url.rstrip("/").rsplit(":", 1)[1]
    key = lite.admin_headers()  # with the owner's secret: these checks come on top of it
    refused = [
        requests.post(url, json=rule, headers={**key, "Origin": "http://evil.example"}, timeout=10),
        requests.post(url, json=rule, headers={**key, "Sec-Fetch-Site": "cross-site"}, timeout=10),
        requests.post(url, data="[]", headers={**key, "Content-Type": "text/plain"}, timeout=10),
        requests.post(lite.url + "_lite/counters/reset", headers={**key, "Origin": "null"}, timeout=10),
        requests.get(lite.url + "_lite/counters", headers={**key, "Host": f"rebound.example:{port}"},
                     timeout=10),
    ]
    assert [r.status_code for r in refused] == [403] * 5, [r.text for r in refused]
    assert requests.get(url, headers=key, timeout=10).json()["rules"] == []  # nothing was applied
    same = requests.get(lite.url + "_lite/counters", headers={**key, "Origin": lite.url.rstrip("/")},
                        timeout=10)
    assert same.status_code == 200


def test_foreign_host_header_and_framing(lite):
    port = lite.url.rstrip("/").rsplit(":", 1)[1]
    r = requests.get(lite.url + "accounts/login/", headers={"Host": f"rebound.example:{port}"}, timeout=10)
    assert r.status_code == 400
    r = requests.get(lite.url + "accounts/login/", timeout=10)
    assert r.status_code == 200 and r.headers.get("X-Frame-Options") == "DENY"
    r = requests.get(lite.url.replace("127.0.0.1", "localhost") + "accounts/login/", timeout=10)
    assert r.status_code == 200


def test_non_loopback_bind_warns_about_plain_http(lite_factory):
    handle = lite_factory(biosamples=1, host="0.0.0.0")  # the point of the test
    log = (handle.server.log_path).read_text()
    assert "WARNING" in log and "plain HTTP" in log and "0.0.0.0" in log
    port = handle.url.rstrip("/").rsplit(":", 1)[1]
    assert requests.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=10).status_code == 200
