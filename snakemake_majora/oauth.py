"""OAuth2 with Majora: authorization URL, code exchange, and the refresh POST with its failure classes.

The refresh POST is not idempotent (Majora rotates the refresh token and deletes the old access
token), so failures are classified by whether the request can have reached the server:

* not sent (connect error/timeout) or refused before processing (429/503): retried with backoff;
* ambiguous (read timeout, connection dropped after sending, 5xx other than 503): one more try only;
* ``invalid_grant``: never retried; the caller re-reads the store.
"""

from __future__ import annotations

import email.utils
import logging
import os
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import urllib3.exceptions
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from .config import Settings
from .errors import AuthError, ConfigError, ServerError, TemporaryError, UsageError
from .logsafe import clamp_noisy_loggers, fingerprint, register_secret
from .transport import new_session, total_deadline

log = logging.getLogger(__name__)

REFRESH_TIMEOUT = (5.0, 30.0)
#: Whole-request deadline on the token endpoint (connect, send, answer): a trickling server must not hold
#: the refresh lock.
TOKEN_DEADLINE = 35.0
REFRESH_BUDGET = 60.0
MAX_SLEEP = 30.0


class RetryableRefreshError(Exception):
    """The refresh request cannot have been processed; safe to send again."""

    def __init__(self, what: str, retry_after: float = 0.0) -> None:
        super().__init__(what)
        self.retry_after = retry_after


class AmbiguousRefreshError(Exception):
    """The refresh may have been processed by the server; send again at most once."""


class TokenRefused(AuthError):
    """The token endpoint refused a code exchange with an OAuth error (``error``, ``description``)."""

    def __init__(self, message: str, error: str, description: str = "") -> None:
        super().__init__(message)
        self.error = error
        self.description = description


class InvalidGrant(AuthError):
    """The token endpoint answered ``invalid_grant``: the refresh token was rotated or revoked."""


def _allow_loopback_http(settings: Settings) -> None:
    # oauthlib refuses http:// unless told otherwise; config already restricts http to loopback hosts.
    if settings.domain.startswith("http://"):
        os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
    # Majora grants only the scopes the user holds; a narrower grant is not an error.
    os.environ.setdefault("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")


def authorization_url(settings: Settings, state: str | None = None) -> tuple[str, str]:
    """Build the authorize URL Majora expects (redirect ``<domain>/o/callback/``); returns (url, state)."""
    from requests_oauthlib import OAuth2Session

    clamp_noisy_loggers()
    _allow_loopback_http(settings)
    sess = OAuth2Session(settings.client_id, redirect_uri=settings.redirect_uri, scope=list(settings.scopes),
                         state=state or secrets.token_urlsafe(24))
    url, st = sess.authorization_url(settings.authorize_url, approval_prompt="auto")
    return url, st


def parse_callback(settings: Settings, callback_url: str, expected_state: str) -> str:
    """Check a pasted callback URL (our domain, matching state, no error) and return the code."""
    callback_url = callback_url.strip()
    parts = urlsplit(callback_url)
    dom = urlsplit(settings.domain)
    if (parts.scheme, parts.netloc) != (dom.scheme, dom.netloc):
        raise UsageError(f"the callback URL must start with {settings.domain} (got a URL for "
                         f"{parts.netloc or '?'})")
    q = parse_qs(parts.query)
    if "error" in q:
        raise AuthError(f"Majora refused the authorization: {q['error'][0]}; run `snakemake-majora login` "
                        f"again")
    state = (q.get("state") or [""])[0]
    if not secrets.compare_digest(state, expected_state):
        raise UsageError("the callback URL's state does not match this login; paste the URL from this "
                         "login's page")
    code = (q.get("code") or [""])[0]
    if not code:
        raise UsageError("the callback URL has no code= parameter; copy the full URL shown after approving")
    register_secret(code)
    return code


def exchange_code(settings: Settings, code: str,
                  session: requests.Session | None = None) -> tuple[dict, float]:
    """Exchange an authorization code for tokens; returns (token dict, clock taken before the POST).

    A plain POST, like the refresh, so that a redirect is never followed: following it would send the
    client secret and the code to wherever the redirect points.
    """
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": settings.redirect_uri,
            "client_id": settings.client_id, "client_secret": settings.client_secret}
    t_before = time.time()
    try:
        with total_deadline(TOKEN_DEADLINE):
            r = (session or new_session()).post(settings.token_url, data=data, timeout=REFRESH_TIMEOUT,
                                                headers={"Accept": "application/json"}, allow_redirects=False)
    except requests.RequestException as exc:
        raise TemporaryError(f"cannot reach {settings.token_url}: {type(exc).__name__}") from None
    _refuse_redirect(r, settings.token_url)
    if r.status_code in (400, 401):
        err = _token_error(r) or "error"
        if err in ("invalid_client", "unauthorized_client"):
            raise ConfigError(f"Majora rejected the client id/secret ({err}); check client_id and "
                              f"client_secret")
        raise TokenRefused(f"code exchange failed ({err}); the code is valid for 60 s only, run "
                           f"`snakemake-majora login` again", err, _token_description(r))
    if r.status_code != 200:
        raise ServerError(f"token endpoint answered HTTP {r.status_code} to the code exchange",
                          status=r.status_code)
    return _token_answer(r), t_before


def _refuse_redirect(r: requests.Response, url: str) -> None:
    """Token-endpoint calls carry the client secret and a token: a redirect is an error, never followed."""
    if 300 <= r.status_code < 400:
        target = urlsplit(r.headers.get("Location", ""))
        where = f"{target.scheme}://{target.hostname}" if target.hostname else "elsewhere"
        raise ServerError(f"{url} answered HTTP {r.status_code} redirecting to {where}; not following it "
                          "(the client secret would go there): check the domain setting",
                          status=r.status_code)


def _connect_failed(exc: BaseException) -> bool:
    """True if the exception chain shows the connection was never established (request not sent)."""
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError
                      | requests.ConnectTimeout):
            return True
        if isinstance(e, BaseException):
            stack.extend([getattr(e, "reason", None), e.__cause__, e.__context__])
            stack.extend(a for a in e.args if isinstance(a, BaseException))
    return False


def retry_after_seconds(value: str | None) -> float:
    """Parse Retry-After (seconds or HTTP-date); 0 when absent or unparsable."""
    if not value:
        return 0.0
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        dt = email.utils.parsedate_to_datetime(value)
        return max(0.0, dt.timestamp() - time.time())
    except (TypeError, ValueError):
        return 0.0


def _wait(rs: Any) -> float:
    exc = rs.outcome.exception() if rs.outcome else None
    base = wait_random_exponential(multiplier=0.5, max=10)(rs)
    return min(MAX_SLEEP, max(getattr(exc, "retry_after", 0.0) or 0.0, base))


def _token_description(r: requests.Response) -> str:
    """The token endpoint's ``error_description`` (Majora's words for a refusal), or ""."""
    try:
        data = r.json()
    except ValueError:
        return ""
    return " ".join(str(data.get("error_description") or "").split()) if isinstance(data, dict) else ""


def _token_answer(r: requests.Response) -> dict:
    """The token endpoint's 200 answer as a dict with an access token; its secrets are registered for
    redaction before anything can log them."""
    try:
        tok = r.json()
    except ValueError:
        raise ServerError("token endpoint answered 200 with a non-JSON body", status=200) from None
    if not isinstance(tok, dict) or not tok.get("access_token"):
        raise ServerError("token endpoint answered 200 without an access_token", status=200)
    register_secret(tok.get("access_token"))
    register_secret(tok.get("refresh_token"))
    return dict(tok)


def _token_error(r: requests.Response) -> str:
    try:
        data = r.json()
    except ValueError:
        return ""
    return str(data.get("error", "")) if isinstance(data, dict) else ""


def post_refresh_once(settings: Settings, session: requests.Session, refresh_token: str,
                      deadline: float = TOKEN_DEADLINE) -> tuple[dict, float]:
    """One refresh POST, classified, finished within ``deadline`` seconds. Returns (token dict, clock
    before sending)."""
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token,
            "client_id": settings.client_id, "client_secret": settings.client_secret}
    t_before = time.time()
    try:
        with total_deadline(deadline):
            r = session.post(settings.token_url, data=data, timeout=REFRESH_TIMEOUT,
                             headers={"Accept": "application/json"}, allow_redirects=False)
    except requests.RequestException as exc:
        if _connect_failed(exc):
            raise RetryableRefreshError(f"connection to the token endpoint failed "
                                        f"({type(exc).__name__})") from None
        raise AmbiguousRefreshError(f"token endpoint did not answer ({type(exc).__name__})") from None
    if r.status_code in (429, 503):
        raise RetryableRefreshError(f"token endpoint busy (HTTP {r.status_code})",
                                    retry_after_seconds(r.headers.get("Retry-After")))
    if r.status_code >= 500:
        raise AmbiguousRefreshError(f"token endpoint failed (HTTP {r.status_code})")
    if r.status_code in (400, 401):
        err = _token_error(r)
        if err == "invalid_grant":
            raise InvalidGrant("the refresh token was rejected (invalid_grant)")
        if err in ("invalid_client", "unauthorized_client"):
            raise ConfigError(f"Majora rejected the client id/secret ({err}); check client_id and "
                              f"client_secret")
        raise AuthError(f"token endpoint refused the refresh (HTTP {r.status_code} {err or 'no error code'})")
    if r.status_code != 200:
        raise ServerError(f"token endpoint answered HTTP {r.status_code}", status=r.status_code)
    tok = _token_answer(r)
    log.debug("refresh ok: new access %s", fingerprint(tok.get("access_token")))
    return tok, t_before


def refresh(settings: Settings, session: requests.Session, refresh_token: str,
            budget: float = REFRESH_BUDGET) -> tuple[dict, float]:
    """Refresh with the retry rules above, all attempts (and their sleeps) within ``budget`` seconds.
    Raises InvalidGrant, AuthError, ConfigError or TemporaryError."""
    ambiguous_left = 1
    end = time.monotonic() + budget

    def left() -> float:
        return end - time.monotonic()

    def wait(rs: Any) -> float:
        # Never sleep past the budget: the caller's lease must outlast the whole refresh.
        return max(0.0, min(_wait(rs), left() - 1.0))

    while True:
        try:
            for attempt in Retrying(
                retry=retry_if_exception_type(RetryableRefreshError), wait=wait,
                stop=stop_after_attempt(5) | stop_after_delay(budget), reraise=True,
                before_sleep=lambda rs: log.warning("token refresh: %s; retrying", rs.outcome.exception()),
            ):
                with attempt:
                    if left() <= 0.5:
                        raise RetryableRefreshError("no time left within the refresh budget")
                    return post_refresh_once(settings, session, refresh_token,
                                             deadline=min(TOKEN_DEADLINE, left()))
        except RetryableRefreshError as exc:
            raise TemporaryError(f"token refresh failed: {exc}; try again later") from None
        except AmbiguousRefreshError as exc:
            if ambiguous_left <= 0 or left() <= 1.0:
                raise TemporaryError(f"token refresh failed: {exc}; try again later") from None
            ambiguous_left -= 1
            log.warning("token refresh: %s; trying once more", exc)
    raise AssertionError("unreachable")  # pragma: no cover


def revoke(settings: Settings, session: requests.Session, token: str, hint: str) -> None:
    """Ask Majora to revoke a token (``logout --revoke``)."""
    url = settings.domain + "o/revoke_token/"
    try:
        with total_deadline(TOKEN_DEADLINE):
            r = session.post(url, timeout=REFRESH_TIMEOUT, allow_redirects=False,
                             data={"token": token, "token_type_hint": hint, "client_id": settings.client_id,
                                   "client_secret": settings.client_secret})
    except requests.RequestException as exc:
        raise TemporaryError(f"cannot reach {url}: {type(exc).__name__}") from None
    _refuse_redirect(r, url)
    if r.status_code != 200:
        raise ServerError(f"revoking the token failed (HTTP {r.status_code})", status=r.status_code)
