"""majora-lite OAuth2 (authorization code, rotation, strict, grace) and dataviews, via requests-oauthlib."""

from __future__ import annotations

import time

import pytest
import requests
from requests_oauthlib import OAuth2Session

GET = "api/v2/artifact/biosample/get/"
ALL_READ = ["majora2.view_biosampleartifact"]


@pytest.fixture
def insecure_ok(monkeypatch):
    # requests-oauthlib refuses http unless told; majora-lite is http on loopback only.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def grant(lite, scopes=ALL_READ, username=None, password=None):
    """Authorization-code grant through the browser stand-in; returns (session, token)."""
    sess = OAuth2Session(lite.client_id, redirect_uri=lite.url + "o/callback/", scope=scopes)
    url, _state = sess.authorization_url(lite.url + "o/authorize/")
    callback = lite.approve(url, username or lite.username, password or lite.password)
    assert callback.startswith(lite.url + "o/callback/?")
    token = sess.fetch_token(
        lite.url + "o/token/",
        authorization_response=callback,
        client_secret=lite.client_secret,
        include_client_id=True,
    )
    return sess, token


def refresh(lite, refresh_token):
    return requests.post(
        lite.url + "o/token/",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": lite.client_id,
            "client_secret": lite.client_secret,
        },
        timeout=30,
    )


def api(lite, access_token, path=GET, **fields):
    body = {"username": "oauth", "token": "OAUTH", "central_sample_id": "BIRM-00001", **fields}
    return requests.post(
        lite.url + path, json=body, headers={"Authorization": f"Bearer {access_token}"}, timeout=30
    )


def test_lifecycle_default_server(lite, insecure_ok):
    sess, token = grant(lite)
    assert token["token_type"] == "Bearer" and token["expires_in"] == 36000
    assert token["scope"] == ALL_READ
    r = api(lite, token["access_token"])
    assert r.status_code == 200 and r.json()["get"]["BIRM-00001"]["central_sample_id"] == "BIRM-00001"
    # refresh with requests-oauthlib: rotation gives a new pair, the old access token is gone at once
    new = sess.refresh_token(
        lite.url + "o/token/", client_id=lite.client_id, client_secret=lite.client_secret
    )
    assert new["access_token"] != token["access_token"] and new["refresh_token"] != token["refresh_token"]
    r = api(lite, token["access_token"])
    assert (r.status_code, r.content) == (400, b"")
    assert api(lite, new["access_token"]).status_code == 200
    # replaying the used refresh token: invalid_grant; the winner's token still works (not strict)
    r = refresh(lite, token["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = refresh(lite, new["refresh_token"])
    assert r.status_code == 200
    # token lacking the view's scopes: 200, errors 1, Majora's message, no success key
    out = api(lite, r.json()["access_token"], "api/v2/artifact/biosample/add/", biosamples=[]).json()
    assert out["errors"] == 1 and "success" not in out
    assert out["messages"][0].startswith(
        "Your token is valid but does not have all of the scopes to perform this action. Required scopes: "
        "majora2.add_biosampleartifact"
    )


def test_scope_bounded_by_user_permissions(lite, insecure_ok):
    lite.server.add_user("erin", "erin-pw", perms=["majora2.view_biosampleartifact"])
    _sess, token = grant(lite, ALL_READ, "erin", "erin-pw")
    assert api(lite, token["access_token"]).status_code == 200
    from majora_lite.ops.approve import ApproveError

    with pytest.raises(ApproveError, match="invalid_scope"):
        grant(lite, ["majora2.can_read_dataview_via_api"], "erin", "erin-pw")
    with pytest.raises(ApproveError, match="wrong username or password"):
        grant(lite, ALL_READ, "erin", "not-her-password")


def test_cli_approve_exit_codes(lite, insecure_ok):
    import subprocess
    import sys

    sess = OAuth2Session(lite.client_id, redirect_uri=lite.url + "o/callback/", scope=ALL_READ)
    url, _ = sess.authorization_url(lite.url + "o/authorize/")
    base = [
        sys.executable,
        "-m",
        "majora_lite",
        "approve",
        "--url",
        lite.url,
        "--username",
        lite.username,
        "--data-dir",
        lite.data_dir,
    ]
    ok = subprocess.run([*base, "--password", lite.password, url], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and ok.stdout.strip().startswith(lite.url + "o/callback/?code=")
    bad = subprocess.run([*base, "--password", "wrong", url], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 77 and "wrong username or password" in bad.stderr
    assert "wrong" not in bad.stderr.replace("wrong username", "")
    assert "Traceback" not in bad.stderr


def test_callback_page_text(lite, insecure_ok):
    from majora_lite.ops import approve as approve_mod

    with requests.Session() as s:
        approve_mod.login(s, lite.url, lite.username, lite.password, data_dir=lite.data_dir)
        r = s.get(lite.url + "o/callback/?code=abc&state=xyz", timeout=10)
    assert (
        "If you are using Ocarina you must now return to the application and paste the following URL"
        in r.text
    )
    assert "o/callback/?code=abc&amp;state=xyz" in r.text


def test_strict_mode_revokes_family(lite_factory, insecure_ok):
    strict = lite_factory(strict=True, biosamples=6)
    _sess, token = grant(strict)
    r = refresh(strict, token["refresh_token"])
    assert r.status_code == 200
    winner = r.json()
    r = refresh(strict, token["refresh_token"])  # replay the used one
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = refresh(strict, winner["refresh_token"])  # the whole family is dead now
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert (api(strict, winner["access_token"]).status_code, api(strict, winner["access_token"]).content) == (
        400,
        b"",
    )
    c = strict.counters()
    assert c["family_revocations"] == 1 and c["refreshes"] == 1 and c["invalid_grant"] == 2


def test_grace_period_returns_same_pair(lite_factory, insecure_ok):
    srv = lite_factory(grace=120, access_token_lifetime=600, biosamples=6)
    _sess, token = grant(srv)
    assert token["expires_in"] == 600
    first = refresh(srv, token["refresh_token"])
    again = refresh(srv, token["refresh_token"])
    assert first.status_code == again.status_code == 200
    a, b = first.json(), again.json()
    assert (a["access_token"], a["refresh_token"]) == (b["access_token"], b["refresh_token"])
    assert api(srv, a["access_token"]).status_code == 200
    assert api(srv, token["access_token"]).status_code == 400


def test_expired_access_token_is_400(lite_factory, insecure_ok):
    srv = lite_factory(access_token_lifetime=1, biosamples=3)
    _sess, token = grant(srv)
    time.sleep(1.2)
    r = api(srv, token["access_token"], central_sample_id="BIRM-00001")
    assert (r.status_code, r.content) == (400, b"")
    assert refresh(srv, token["refresh_token"]).status_code == 200


def test_introspect_and_revoke(lite, insecure_ok):
    _sess, token = grant(lite)
    r = requests.post(
        lite.url + "o/revoke_token/",
        data={
            "token": token["access_token"],
            "client_id": lite.client_id,
            "client_secret": lite.client_secret,
        },
        timeout=10,
    )
    assert r.status_code == 200
    assert api(lite, token["access_token"]).status_code == 400


def test_dataview_rules(lite_factory, insecure_ok):
    # A server of its own: other modules grant dataviews to the shared session server's user.
    lite = lite_factory()
    mdv = lite.url + "api/v3/mdv/?mdv=PHE1"
    _s, no_scope = grant(lite, ALL_READ)
    _s, scoped = grant(lite, ["majora2.can_read_dataview_via_api", "majora2.view_biosampleartifact"])
    bearer = {"Authorization": f"Bearer {scoped['access_token']}"}
    r = requests.get(mdv, headers=bearer, timeout=10)
    assert r.status_code == 403 and "detail" in r.json(), "no grant yet"
    lite.server.grant_dataview(lite.username, "PHE1", days=-1)
    assert requests.get(mdv, headers=bearer, timeout=10).status_code == 403, "expired grant"
    lite.server.grant_dataview(lite.username, "PHE1")
    r = requests.get(mdv, headers={"Authorization": f"Bearer {no_scope['access_token']}"}, timeout=10)
    assert r.status_code == 403, "token without majora2.can_read_dataview_via_api"
    assert requests.get(mdv, timeout=10).status_code == 403
    r = requests.get(lite.url + "api/v3/mdv/?mdv=DA1", headers=bearer, timeout=10)
    assert r.status_code == 403, "grant is per dataview"
    r = requests.get(mdv, headers=bearer, timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert body["params"] == {"mdv": "PHE1"} and body["errors"] == 0 and "success" not in body
    (task_id,) = body["tasks"]
    for _ in range(200):
        out = api(lite, scoped["access_token"], "api/v2/majora/task/get/", task_id=task_id).json()
        if out["task"]["state"] != "PENDING":
            break
        time.sleep(0.05)
    assert out["task"]["state"] == "SUCCESS" and out["task"]["cleaned"] is True
    # PHE1 selects English samples whose submitter signed its agreement (the seed's English sites
    # did); its rows and their shape are checked in tests/test_server_dataviews.py
    assert len(out["data"]) == body["expected_n"] > 0
    assert all(set(row) == {"central_sample_id", "sender_sample_id", "created"} for row in out["data"])


ADDEMPTY_SCOPES = [
    "majora2.force_add_biosampleartifact",
    "majora2.add_biosampleartifact",
    "majora2.change_biosampleartifact",
    "majora2.add_biosourcesamplingprocess",
    "majora2.change_biosourcesamplingprocess",
]


def test_addempty_qc_and_validity_with_oauth(lite, insecure_ok):
    _s, token = grant(
        lite, [*ADDEMPTY_SCOPES, "majora2.add_pagqualityreport", "majora2.change_pagqualityreport"]
    )
    at = token["access_token"]
    out = api(
        lite,
        at,
        "api/v2/artifact/biosample/addempty/",
        biosamples=[
            "HOOT-80000",
            {
                "central_sample_id": "HOOT-80001",
                "sender_sample_id": "S-1",
                "metadata": {"foel": {"route": "post"}},
            },
            5,
        ],
    ).json()
    assert out["errors"] == 0 and [n[2] for n in out["new"]] == ["HOOT-80000", "HOOT-80001"]
    assert out["warnings"] == 1, "the malformed entry is a warning"
    again = api(lite, at, "api/v2/artifact/biosample/addempty/", biosamples=["HOOT-80000"]).json()
    assert again["ignored"][0][2] == "HOOT-80000" and again["warnings"] == 1
    s = api(lite, at, central_sample_id="HOOT-80001").json()["get"]["HOOT-80001"]
    assert s["collection_date"] is None and s["adm1"] is None and s["biosample_sources"] == []
    assert s["metadata"] == {"foel": {"route": "post"}}
    v = api(lite, at, "api/v2/artifact/biosample/query/validity/", biosamples=["HOOT-80001"]).json()
    assert v["result"]["HOOT-80001"] == {
        "central_sample_id": "HOOT-80001",
        "exists": True,
        "has_sender_id": True,
        "has_metadata": False,
    }
    upd = api(lite, at, "api/v2/artifact/biosample/update/", biosamples=[{"central_sample_id": "HOOT-80001"}])
    assert upd.json()["errors"] == 1 and "Your token is valid but" in upd.json()["messages"][0]
    # A sample no other test adds metrics to: Majora refuses to QC a PAG whose artifacts share a
    # metric namespace (another test puts a sequence metric on BIRM-00001 itself).
    pag = "COG-UK/BIRM-00187/" + lite.seed_summary["organisations"][0]
    pag_name = api(lite, at, central_sample_id="BIRM-00187").json()["get"]["BIRM-00187"]["published_as"]
    assert pag_name.startswith(pag)
    qc = api(
        lite,
        at,
        "api/v2/meta/qc/add/",
        publish_group=pag_name,
        test_name="cog-uk-elan-minimal-qc",
        test_version=2,
    ).json()
    # Majora's qc/add lists nothing in "updated" (corpus p12).
    assert qc["success"] and qc["updated"] == [] and "test_results" in qc


def test_no_secrets_in_server_log(lite_factory, insecure_ok):
    srv = lite_factory(biosamples=2)
    key = srv.server.apikey(srv.username)
    _s, token = grant(srv)
    new = refresh(srv, token["refresh_token"]).json()
    refresh(srv, token["refresh_token"])  # invalid_grant path
    api(srv, new["access_token"])
    api(srv, "not-a-token")
    requests.post(
        srv.url + GET, json={"username": srv.username, "token": key, "central_sample_id": "X"}, timeout=10
    )
    srv.server.stop()
    log = open(srv.server.log_path).read()
    for secret in (
        key,
        token["access_token"],
        token["refresh_token"],
        new["access_token"],
        new["refresh_token"],
        srv.client_secret,
        srv.password,
    ):
        assert secret not in log


def code_for(lite, username, password, scopes=ALL_READ):
    """An authorization code issued after login (password, then TOTP if any) and consent."""
    from urllib.parse import parse_qs, urlsplit

    sess = OAuth2Session(lite.client_id, redirect_uri=lite.url + "o/callback/", scope=scopes)
    url, _state = sess.authorization_url(lite.url + "o/authorize/")
    return parse_qs(urlsplit(lite.approve(url, username, password)).query)["code"][0]


def exchange(lite, code, **auth):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": lite.url + "o/callback/"}
    return requests.post(
        lite.url + "o/token/", data=data, auth=(lite.client_id, lite.client_secret), timeout=30, **auth
    )


def test_code_exchange_refused_without_totp_device(lite, insecure_ok):
    # Majora's policy: a user without two-factor authentication logs in by password and consents,
    # but the token endpoint refuses the code; the same user with a device gets tokens.
    lite.server.add_user("nina", "nina-pw", perms=ALL_READ, totp=False)
    code = code_for(lite, "nina", "nina-pw")
    r = exchange(lite, code)
    assert (r.status_code, r.json()) == (
        400,
        {"error": "access_denied", "error_description": "The requesting user has not enabled 2FA"},
    )
    lite.server.add_user("nina", "nina-pw", perms=ALL_READ, totp=True)
    r = exchange(lite, code_for(lite, "nina", "nina-pw"))
    assert r.status_code == 200 and r.json()["scope"] == ALL_READ[0]


def test_login_pages_ask_for_totp_code(lite, insecure_ok):
    from majora_lite.ops import approve as approve_mod

    base = lite.url
    with requests.Session() as s:
        r = s.get(base + "accounts/login/", timeout=10)
        csrf = approve_mod._parse(r.text).inputs["csrfmiddlewaretoken"]
        r = s.post(
            base + "accounts/login/",
            data={"csrfmiddlewaretoken": csrf, "username": lite.username, "password": lite.password},
            allow_redirects=False,
            timeout=10,
        )
        assert r.status_code == 302 and r.headers["Location"].endswith("/accounts/login/totp/")
        # the password alone does not log in: the callback page still sends us to the login
        r = s.get(base + "o/callback/?code=abc", allow_redirects=False, timeout=10)
        assert r.status_code == 302 and "/accounts/login/" in r.headers["Location"]
        page = s.get(base + "accounts/login/totp/", timeout=10)
        csrf = approve_mod._parse(page.text).inputs["csrfmiddlewaretoken"]
        good = approve_mod.totp_code(lite.data_dir, lite.username)
        wrong = f"{(int(good) + 1) % 10**6:06d}"
        r = s.post(
            base + "accounts/login/totp/",
            data={"csrfmiddlewaretoken": csrf, "otp_token": wrong},
            allow_redirects=False,
            timeout=10,
        )
        assert r.status_code == 200 and "Invalid token" in r.text
        assert s.get(base + "o/callback/?code=abc", allow_redirects=False, timeout=10).status_code == 302
        # django-otp throttles after a failure (1 s, then doubling): wait it out, then the right code
        time.sleep(1.1)
        r = s.post(
            base + "accounts/login/totp/",
            data={"csrfmiddlewaretoken": csrf, "otp_token": approve_mod.totp_code(lite.data_dir, "alice")},
            allow_redirects=False,
            timeout=10,
        )
        assert r.status_code == 302
        assert s.get(base + "o/callback/?code=abc", timeout=10).status_code == 200


def test_approve_needs_data_dir_for_totp(lite, insecure_ok):
    from majora_lite.ops.approve import ApproveError, approve

    sess = OAuth2Session(lite.client_id, redirect_uri=lite.url + "o/callback/", scope=ALL_READ)
    url, _ = sess.authorization_url(lite.url + "o/authorize/")
    with pytest.raises(ApproveError, match="give approve the server's --data-dir") as exc:
        approve(lite.url, lite.username, lite.password, url)
    assert exc.value.code == 64


def test_token_endpoint_answers_as_recorded(lite, insecure_ok):
    """The refresh and error answers of Majora's DOT 1.4.1 token endpoint (corpus p21)."""
    code = code_for(lite, lite.username, lite.password)
    first = exchange(lite, code)
    assert first.status_code == 200
    assert set(first.json()) == {"access_token", "expires_in", "token_type", "scope", "refresh_token"}
    r = exchange(lite, code)
    assert (r.status_code, r.json()) == (400, {"error": "invalid_grant"})
    basic = (lite.client_id, lite.client_secret)
    r = requests.post(
        lite.url + "o/token/",
        data={"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]},
        auth=basic,
        timeout=30,
    )
    second = r.json()
    assert r.status_code == 200 and second["refresh_token"] != first.json()["refresh_token"]
    r = api(lite, first.json()["access_token"])
    assert (r.status_code, r.content) == (400, b"")
    r = requests.post(
        lite.url + "o/token/",
        data={"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]},
        auth=basic,
        timeout=30,
    )
    assert (r.status_code, r.json()) == (400, {"error": "invalid_grant"})
    wrong = {
        "grant_type": "refresh_token",
        "refresh_token": second["refresh_token"],
        "client_id": lite.client_id,
        "client_secret": "wrong",
    }
    r = requests.post(lite.url + "o/token/", data=wrong, timeout=30)
    assert (r.status_code, r.json()) == (401, {"error": "invalid_client"})
    cases = [
        ({"grant_type": "password", "username": lite.username, "password": "x"},
         {"error": "invalid_grant", "error_description": "Invalid credentials given."}),
        ({"grant_type": "client_credentials"}, {"error": "unauthorized_client"}),
        ({}, {"error": "unsupported_grant_type"}),
    ]
    for form, answer in cases:
        r = requests.post(lite.url + "o/token/", data=form, auth=basic, timeout=30)
        assert (r.status_code, r.json()) == (400, answer), form
    assert api(lite, second["access_token"]).status_code == 200
