"""Play the browser in the authorization-code flow: log in, approve, return the callback URL."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

from majora_lite.server.settings import DB_NAME


class ApproveError(Exception):
    """The approval could not be completed; the message says why (never contains the password)."""

    def __init__(self, message: str, code: int = 77) -> None:
        super().__init__(message)
        self.code = code


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, str] = {}
        self.in_pre = False
        self.pre = ""
        self.in_h2 = False
        self.h2 = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name") and a.get("type", "text") in ("hidden", "text", "password"):
            self.inputs[a["name"]] = a.get("value") or ""
        elif tag == "pre" and a.get("id") == "full_uri":
            self.in_pre = True
        elif tag == "h2":
            self.in_h2 = True

    def handle_endtag(self, tag):
        if tag == "pre":
            self.in_pre = False
        elif tag == "h2":
            self.in_h2 = False

    def handle_data(self, data):
        if self.in_pre:
            self.pre += data
        if self.in_h2:
            self.h2 += data


def _parse(html: str) -> _FormParser:
    p = _FormParser()
    p.feed(html)
    return p


def _check_redirect(location: str) -> None:
    err = parse_qs(urlsplit(location).query).get("error")
    if err:
        raise ApproveError(
            f"authorization refused by the server: {err[0]} (check the requested scopes, "
            "the user's permissions and the client's redirect URI)"
        )


def totp_code(data_dir: str | os.PathLike, username: str) -> str:
    """The current TOTP code of ``username``'s device, read from the server's database (read-only)."""
    from django_otp.oath import TOTP

    db = (Path(data_dir) / DB_NAME).resolve().as_uri() + "?mode=ro"  # as_uri escapes ?, # and %
    try:
        with contextlib.closing(sqlite3.connect(db, uri=True, timeout=30)) as con:
            row = con.execute(
                "SELECT d.key, d.step, d.t0, d.digits, d.drift FROM otp_totp_totpdevice d"
                " JOIN auth_user u ON u.id = d.user_id WHERE u.username = ? AND d.confirmed"
                " ORDER BY d.id LIMIT 1",
                (username,),
            ).fetchone()
    except sqlite3.Error:
        raise ApproveError(f"cannot read the majora-lite database in {data_dir}", 66) from None
    if row is None:
        raise ApproveError(f"the login asks {username!r} for a TOTP code, but the user has no TOTP device")
    key, step, t0, digits, drift = row
    code = TOTP(bytes.fromhex(key), step, t0, digits, drift).token()
    return f"{code:0{digits}d}"


def login(
    s: requests.Session,
    base: str,
    username: str,
    password: str,
    *,
    timeout: float = 30,
    data_dir: str | os.PathLike | None = None,
) -> None:
    """Log ``s`` in at majora-lite ``base`` with the password, then the TOTP code if the user has a device."""
    login_url = urljoin(base, "accounts/login/")
    r = s.get(login_url, timeout=timeout)
    r.raise_for_status()
    csrf = _parse(r.text).inputs.get("csrfmiddlewaretoken", "")
    r = s.post(
        login_url,
        data={"csrfmiddlewaretoken": csrf, "username": username, "password": password, "next": "/"},
        headers={"Referer": login_url},
        allow_redirects=False,
        timeout=timeout,
    )
    if r.status_code != 302:
        raise ApproveError(f"login as {username!r} failed: wrong username or password, or inactive user")
    totp_url = urljoin(login_url, r.headers.get("Location", ""))
    if urlsplit(totp_url).path != urlsplit(urljoin(base, "accounts/login/totp/")).path:
        return
    if data_dir is None:
        raise ApproveError(
            f"the login asks {username!r} for a TOTP code: give approve the server's --data-dir, "
            "where the user's TOTP device is stored",
            64,
        )
    code = totp_code(data_dir, username)
    r = s.get(totp_url, timeout=timeout)
    csrf = _parse(r.text).inputs.get("csrfmiddlewaretoken", "")
    r = s.post(
        totp_url,
        data={"csrfmiddlewaretoken": csrf, "otp_token": code},
        headers={"Referer": totp_url},
        allow_redirects=False,
        timeout=timeout,
    )
    if r.status_code != 302:
        raise ApproveError(
            f"the TOTP code for {username!r} was refused (clock skew, or too many failed attempts)"
        )


def approve(
    base_url: str,
    username: str,
    password: str,
    authorize_url: str,
    timeout: float = 30,
    data_dir: str | os.PathLike | None = None,
) -> str:
    """Log in as ``username`` at ``base_url``, approve ``authorize_url``; return the full callback URL.

    ``data_dir`` is the server's data directory: when the login asks for a TOTP code, it is computed
    from the user's device stored there.
    """
    base = base_url if base_url.endswith("/") else base_url + "/"
    with requests.Session() as s:
        try:
            login(s, base, username, password, timeout=timeout, data_dir=data_dir)
            r = s.get(authorize_url, allow_redirects=False, timeout=timeout)
            if r.status_code in (301, 302, 303):
                location = r.headers["Location"]
            elif r.status_code == 200:
                page = _parse(r.text)
                if "allow" not in r.text or "csrfmiddlewaretoken" not in page.inputs:
                    detail = page.h2.strip() or "no consent form"
                    raise ApproveError(
                        f"the authorize page shows an error: {detail} (check client_id, "
                        "redirect_uri and scope in the authorize URL)"
                    )
                data = dict(page.inputs)
                data["allow"] = "Authorize"
                r = s.post(
                    authorize_url,
                    data=data,
                    headers={"Referer": authorize_url},
                    allow_redirects=False,
                    timeout=timeout,
                )
                if r.status_code not in (301, 302, 303):
                    detail = _parse(r.text).h2.strip() or f"HTTP {r.status_code}"
                    if not data.get("scope"):
                        detail += (
                            " (DOT's consent form needs a non-empty scope; an empty-scope grant is only"
                            " auto-approved when the user already holds a token for this client)"
                        )
                    raise ApproveError(f"approval was not accepted: {detail}")
                location = r.headers["Location"]
            else:
                raise ApproveError(
                    f"the authorize URL answered HTTP {r.status_code}; is it a majora-lite "
                    "o/authorize/ URL with response_type=code and a known client_id?"
                )
            _check_redirect(location)
            location = urljoin(authorize_url, location)
            if location.startswith(base):
                r = s.get(location, timeout=timeout)
                full = _parse(r.text).pre.strip()
                if r.status_code == 200 and full:
                    return full
            return location
        except requests.RequestException as exc:
            raise ApproveError(f"could not reach majora-lite at {base}: {type(exc).__name__}", 69) from None
