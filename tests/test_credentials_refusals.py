"""`snakemake-majora login` explains Majora's refusals (issue 10, item 3), against majora-lite.

Majora refuses a login at two places: the authorize step redirects to the callback URL with
`error=access_denied` (consent denied) or `error=invalid_scope` (a scope the account does not hold),
and the token endpoint refuses the code of an account without a TOTP device (400 `access_denied`,
"The requesting user has not enabled 2FA", corpus p21). Each ends with exit 77, one line saying what
to do, and nothing stored.
"""

from __future__ import annotations

from urllib.parse import urljoin

import pytest
import requests
from fixtures_client import MajoraHome

from majora_lite.ops.approve import _parse, approve, login


def browse(lite, username: str, password: str, authorize_url: str, *, allow: bool) -> str:
    """A person at majora-lite's pages: log in (password, then the TOTP step), then press Authorize (or
    not) on the consent page; returns where the browser lands (the callback URL, with ``error=`` on a
    refusal)."""
    with requests.Session() as s:
        login(s, lite.url, username, password, data_dir=lite.data_dir)
        r = s.get(authorize_url, allow_redirects=False, timeout=30)
        if r.status_code == 200:  # the consent page
            data = dict(_parse(r.text).inputs)
            if allow:
                data["allow"] = "Authorize"
            r = s.post(authorize_url, data=data, headers={"Referer": authorize_url}, allow_redirects=False,
                       timeout=30)
        assert r.status_code in (301, 302, 303), r.status_code
        return urljoin(authorize_url, r.headers["Location"])


def _refused(home: MajoraHome, callback: str):
    res = home.cli("login", "--callback-url", "-", input=callback, check=False)
    stored = list((home.home / "tokens").glob("*.json"))
    pending = list((home.home / "tokens").glob("*.pending"))
    return res, stored, pending


def test_consent_denied(lite, tmp_path):
    # A user without tokens for this app: DOT skips the consent page for one that already has one.
    lite.server.add_user("denier", "denier-pw", perms="all", org="HOOT")
    home = MajoraHome(lite, tmp_path, login=False, username="denier", password="denier-pw")
    url = home.cli("login", "--url-only").stdout.strip()
    callback = browse(lite, "denier", "denier-pw", url, allow=False)
    assert "error=access_denied" in callback
    res, stored, pending = _refused(home, callback)
    assert res.returncode == 77, res.stderr
    assert "access was not approved on Majora's consent page" in res.stderr
    assert "choose Authorize" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not stored and not pending


def test_scope_the_account_lacks(lite, tmp_path):
    lite.server.add_user("fewperms", "fewperms-pw", perms=["majora2.view_biosampleartifact"], org="HOOT")
    wanted = ["majora2.view_biosampleartifact", "majora2.add_digitalresourceartifact"]
    home = MajoraHome(lite, tmp_path, login=False, username="fewperms", password="fewperms-pw", scopes=wanted)
    url = home.cli("login", "--url-only").stdout.strip()
    callback = browse(lite, "fewperms", "fewperms-pw", url, allow=True)
    assert "error=invalid_scope" in callback
    res, stored, pending = _refused(home, callback)
    assert res.returncode == 77, res.stderr
    err = res.stderr.strip()
    assert "Majora refused the requested scopes (invalid_scope)" in err
    assert "majora2.add_digitalresourceartifact" in err and "`scopes:` setting" in err
    assert len(err.splitlines()) == 1 and not stored and not pending


def test_account_without_two_factor_authentication(lite, tmp_path):
    lite.server.setup({"users": [{"username": "nototp", "password": "nototp-pw", "org": "HOOT",
                                  "perms": ["majora2.view_biosampleartifact"], "totp": False}]})
    home = MajoraHome(lite, tmp_path, login=False, username="nototp", password="nototp-pw",
                      scopes=["majora2.view_biosampleartifact"])
    url = home.cli("login", "--url-only").stdout.strip()
    callback = approve(lite.url, "nototp", "nototp-pw", url, data_dir=lite.data_dir)  # consent works
    res, stored, pending = _refused(home, callback)
    assert res.returncode == 77, res.stderr
    err = res.stderr.strip()
    assert "The requesting user has not enabled 2FA" in err
    assert "enable two-factor authentication in your Majora profile, then log in again" in err
    assert len(err.splitlines()) == 1 and not stored and not pending


@pytest.mark.parametrize("error", ["access_denied", "invalid_scope"])
def test_refusal_message_names_the_cause_before_the_state_check(lite, tmp_path, error):
    """A refusal URL is explained even when pasted to a later login (its state is then stale)."""
    home = MajoraHome(lite, tmp_path, login=False)
    home.cli("login", "--url-only")
    res, stored, _ = _refused(home, f"{lite.url}o/callback/?error={error}&state=stale")
    assert res.returncode == 77 and error in res.stderr and not stored
