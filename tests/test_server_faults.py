"""majora-lite fault injection, counters and concurrency (real server subprocess, concurrent clients)."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from requests_oauthlib import OAuth2Session

GET = "api/v2/artifact/biosample/get/"


@pytest.fixture
def insecure_ok(monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def grant(srv, scopes=("majora2.view_biosampleartifact",)):
    sess = OAuth2Session(srv.client_id, redirect_uri=srv.url + "o/callback/", scope=list(scopes))
    url, _ = sess.authorization_url(srv.url + "o/authorize/")
    cb = srv.approve(url, srv.username, srv.password)
    return sess.fetch_token(
        srv.url + "o/token/",
        authorization_response=cb,
        client_secret=srv.client_secret,
        include_client_id=True,
    )


def refresh(srv, rt, timeout=30):
    return requests.post(
        srv.url + "o/token/",
        data={
            "grant_type": "refresh_token",
            "refresh_token": rt,
            "client_id": srv.client_id,
            "client_secret": srv.client_secret,
        },
        timeout=timeout,
    )


def get_sample(srv, key, csid="BIRM-00001"):
    return requests.post(
        srv.url + GET, json={"username": srv.username, "token": key, "central_sample_id": csid}, timeout=30
    )


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    from fixtures_server import start_lite

    # As many requests inside Django as waitress threads: these tests are about concurrency in the
    # server (the token-endpoint lock, SQLite writers), not about the --max-active throttle.
    handle = start_lite(tmp_path_factory.mktemp("majora-lite-faults"), biosamples=12, max_active=16)
    handle["key"] = handle.server.apikey(handle.username)
    try:
        yield handle
    finally:
        handle.server.stop()


@pytest.fixture(autouse=True)
def _clean_faults(request):
    yield
    if "srv" in request.fixturenames:
        request.getfixturevalue("srv").clear_faults()


def test_status_faults_with_count(srv):
    srv.set_faults(
        [
            {"path": "/api/v2/", "action": "error", "status": 503, "retry_after": 2, "count": 1},
            {"path": "/api/v2/", "action": "error", "status": 429, "retry_after": 1, "count": 1},
            {"path": "/api/v2/", "action": "error", "status": 502, "body": "html", "count": 1},
        ]
    )
    r1, r2, r3, r4 = (get_sample(srv, srv.key) for _ in range(4))
    assert (r1.status_code, r1.headers["Retry-After"]) == (503, "2")
    assert (r2.status_code, r2.headers["Retry-After"]) == (429, "1")
    assert r3.status_code == 502 and r3.text.startswith("<html>") and "502 Bad Gateway" in r3.text
    assert r3.headers["Content-Type"].startswith("text/html")
    assert r4.status_code == 200 and r4.json()["success"]


def test_unlimited_rule_and_clear(srv):
    srv.set_faults([{"path": "/api/v2/artifact/", "status": 500, "body": "empty"}])
    assert [get_sample(srv, srv.key).status_code for _ in range(3)] == [500, 500, 500]
    srv.clear_faults()
    assert get_sample(srv, srv.key).status_code == 200


def test_delay_rule_passes_through(srv):
    srv.reset_counters()
    srv.set_faults([{"path": "/api/", "action": "delay", "delay": 0.2, "count": 1}])
    assert get_sample(srv, srv.key).status_code == 200
    assert srv.counters()["faults_applied"] == 1


def test_bad_fault_rules_rejected(srv):
    for bad in (
        [{"action": "explode"}],
        [{"path": "no-slash"}],
        [{"status": 200}],
        {"rules": "x"},
        [{"count": -1}],
    ):
        r = requests.post(srv.url + "_lite/faults", json=bad, headers=srv.admin_headers(), timeout=10)
        assert r.status_code == 400 and "invalid fault rules" in r.json()["detail"]
    for raw in (b"{nope", b"[" * 100_000):
        r = requests.post(srv.url + "_lite/faults", data=raw, headers=srv.admin_headers(), timeout=10)
        assert r.status_code == 400


def test_commit_then_drop_refresh(srv, insecure_ok):
    token = grant(srv)
    srv.reset_counters()
    srv.set_faults(
        [{"path": "/o/token/", "action": "commit_then_drop", "grant_type": "refresh_token", "count": 1}]
    )
    with pytest.raises(requests.ConnectionError):
        refresh(srv, token["refresh_token"])
    c = srv.counters()
    assert c["refreshes"] == 1 and c["token_endpoint_calls"] == 1
    # the refresh was committed: the old access token is gone and the refresh token is spent
    assert get_sample_bearer(srv, token["access_token"]).status_code == 400
    r = refresh(srv, token["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert srv.counters()["invalid_grant"] == 1


def get_sample_bearer(srv, at):
    return requests.post(
        srv.url + GET,
        json={"username": "o", "token": "OAUTH", "central_sample_id": "BIRM-00001"},
        headers={"Authorization": f"Bearer {at}"},
        timeout=30,
    )


def test_commit_then_error_and_drop(srv, insecure_ok):
    token = grant(srv)
    srv.set_faults(
        [
            {"path": "/o/token/", "action": "commit_then_error", "status": 502, "count": 1},
            {"path": "/api/", "action": "drop", "count": 1},
        ]
    )
    r = refresh(srv, token["refresh_token"])
    assert r.status_code == 502 and "Bad Gateway" in r.text
    assert refresh(srv, token["refresh_token"]).json()["error"] == "invalid_grant"
    with pytest.raises(requests.ConnectionError):
        get_sample(srv, srv.key)
    assert get_sample(srv, srv.key).status_code == 200


def test_faults_at_start(lite_factory):
    s = lite_factory(biosamples=2, faults=[{"path": "/api/", "status": 503, "retry_after": 5, "count": 2}])
    key = s.server.apikey(s.username)
    codes = [get_sample(s, key).status_code for _ in range(3)]
    assert codes == [503, 503, 200]


def test_counters_exact_under_concurrency(srv):
    srv.reset_counters()
    n_threads, per = 24, 10
    barrier = threading.Barrier(n_threads)

    def worker(_):
        barrier.wait()
        return [get_sample(srv, srv.key).status_code for _ in range(per)]

    with ThreadPoolExecutor(n_threads) as ex:
        codes = [c for cs in ex.map(worker, range(n_threads)) for c in cs]
    assert codes == [200] * (n_threads * per)
    c = srv.counters()
    assert c["api_calls"] == n_threads * per
    assert c["paths"]["/" + GET] == n_threads * per


def _race_refresh(srv, rt, n=8):
    barrier = threading.Barrier(n)

    def one(_):
        barrier.wait()
        return refresh(srv, rt).status_code

    with ThreadPoolExecutor(n) as ex:
        return list(ex.map(one, range(n)))


def test_concurrent_refresh_only_one_wins(srv, insecure_ok):
    for _ in range(3):
        token = grant(srv)
        codes = _race_refresh(srv, token["refresh_token"])
        assert sorted(codes) == [200] + [400] * (len(codes) - 1)


def test_concurrent_refresh_negative_control(lite_factory, insecure_ok):
    """Without the token-endpoint lock, concurrent refreshes of one refresh token can both succeed."""
    s = lite_factory(biosamples=1, max_active=16, env={"MAJORA_LITE_UNSAFE_NO_TOKEN_LOCK": "1"})
    winners = []
    for _ in range(6):
        token = grant(s)
        winners.append(_race_refresh(s, token["refresh_token"]).count(200))
        if max(winners) > 1:
            break
    assert max(winners) > 1, f"negative control saw no double success: {winners}"


def _peak_inside_django(srv, key, n_threads=8, per=40):
    srv.reset_counters()
    barrier = threading.Barrier(n_threads)

    def worker(_):
        barrier.wait()
        return [get_sample(srv, key).status_code for _ in range(per)]

    with ThreadPoolExecutor(n_threads) as ex:
        codes = [c for cs in ex.map(worker, range(n_threads)) for c in cs]
    assert codes == [200] * (n_threads * per)
    counters = srv.counters()
    assert counters["active_requests"] == 0
    return counters["peak_active_requests"]


def test_max_active_bounds_requests_inside_django(lite_factory, srv):
    """--max-active 2: never more than two requests in Django at once, and all of them answered.
    Negative control: the same load on a server allowing 16 puts more than two inside at once."""
    limited = lite_factory(biosamples=2, max_active=2)
    assert _peak_inside_django(limited, limited.server.apikey(limited.username)) == 2
    assert _peak_inside_django(srv, srv.key) > 2


def test_fifty_concurrent_clients_no_500(srv, insecure_ok):
    """Reads, writes and refreshes from 50 clients at once: no 500 / 'database is locked'."""
    tokens = [grant(srv, ["majora2.view_biosampleartifact"]) for _ in range(5)]
    today = dt.date.today()
    barrier = threading.Barrier(50)

    def client(i):
        barrier.wait()
        out = []
        for j in range(4):
            if i < 5 and j == 0:
                r = refresh(srv, tokens[i]["refresh_token"], timeout=120)
            elif i % 3 == 0:
                r = requests.post(
                    srv.url + "api/v2/artifact/biosample/add/",
                    timeout=120,
                    json={
                        "username": srv.username,
                        "token": srv.key,
                        "biosamples": [
                            {
                                "central_sample_id": f"HOOT-9{i:02d}{j:02d}",
                                "adm1": "UK-ENG",
                                "is_surveillance": "Y",
                                "collection_date": (today - dt.timedelta(days=2)).isoformat(),
                            }
                        ],
                    },
                )
            else:
                r = requests.post(
                    srv.url + GET,
                    timeout=120,
                    json={"username": srv.username, "token": srv.key, "central_sample_id": "CAMB-00002"},
                )
            out.append((r.status_code, r.json().get("errors", 0) if r.status_code == 200 else None))
        return out

    with ThreadPoolExecutor(50) as ex:
        results = [x for xs in ex.map(client, range(50)) for x in xs]
    assert all(code == 200 for code, _ in results), results
    assert all(errors == 0 for _, errors in results), results
