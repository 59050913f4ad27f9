"""Getting a credential into the store: interactive login, the two-step non-interactive login, and
importing a token from Ocarina's tokens file."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import oauth
from .credentials import CredentialManager
from .errors import AuthError, ConfigError, CredentialExists, MajoraError, UsageError
from .logsafe import register_secret
from .store import TokenRecord, atomic_write_private, ensure_private_dir

PENDING_MAX_AGE = 15 * 60
TRIES = 3


def pending_path(mgr: CredentialManager) -> Path:
    """The pending-login state file, next to the token store (0600)."""
    return mgr.path.with_name(mgr.path.name + ".pending")


def _require_oauth(mgr: CredentialManager) -> None:
    if not mgr.settings.oauth:
        raise UsageError("login is for OAuth; in API-key mode (MAJORA_TOKEN set to a key) there is nothing "
                         "to log "
                         "in to. Unset MAJORA_TOKEN/api_key or set it to OAUTH")


def start_login(mgr: CredentialManager) -> str:
    """Create the authorize URL and remember its state for :func:`finish_login`."""
    _require_oauth(mgr)
    url, state = oauth.authorization_url(mgr.settings)
    ensure_private_dir(mgr.path.parent)
    atomic_write_private(pending_path(mgr), json.dumps({
        "state": state, "created": time.time(), "domain": mgr.settings.domain,
        "client_id": mgr.settings.client_id}).encode())
    return url


def _pending_state(mgr: CredentialManager) -> str:
    p = pending_path(mgr)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise UsageError("no pending login: run `snakemake-majora login --url-only` first") from None
    except (OSError, ValueError):
        raise UsageError(f"pending login file {p} is unreadable; run `snakemake-majora login --url-only` "
                         "again") from None
    too_old = time.time() - float(data.get("created", 0)) > PENDING_MAX_AGE
    if too_old or data.get("domain") != mgr.settings.domain:
        raise UsageError("the pending login expired or is for another server; run `snakemake-majora login "
                         "--url-only` again")
    return str(data["state"])


def refusal(mgr: CredentialManager, error: str, description: str, *, at_token_endpoint: bool) -> AuthError:
    """What to do about Majora refusing a login: its answer (``error``, ``description``) in words.

    Majora refuses at two places: the authorize step redirects to the callback with ``error=`` (consent
    denied: ``access_denied``; a scope the account does not hold: ``invalid_scope``), and the token
    endpoint refuses the code of an account without two-factor authentication (``access_denied``,
    "The requesting user has not enabled 2FA")."""
    user = mgr.settings.user or "this account"
    said = f"{error}: {description}" if description else error
    if error == "access_denied" and (at_token_endpoint or "2FA" in description):
        return AuthError(f"Majora refused the login of {user} ({said}): enable two-factor authentication in "
                         "your Majora profile, then log in again (nothing was stored)")
    if error == "invalid_scope":
        return AuthError(f"Majora refused the requested scopes ({said}): {user} cannot grant all of "
                         f"{' '.join(mgr.settings.scopes)}; remove the ones the account lacks from the "
                         "`scopes:` setting (or ask a Majora administrator for the permissions), then run "
                         "`snakemake-majora login` again (nothing was stored)")
    if error == "access_denied":
        return AuthError(f"access was not approved on Majora's consent page ({said}); nothing was stored; "
                         "run `snakemake-majora login` again and choose Authorize")
    return AuthError(f"Majora refused the login ({said}); nothing was stored; run `snakemake-majora login` "
                     "again")


def _callback_error(callback_url: str) -> tuple[str, str] | None:
    q = parse_qs(urlsplit(callback_url.strip()).query)
    if "error" not in q:
        return None
    return q["error"][0], (q.get("error_description") or [""])[0]


def refuse_if_working(mgr: CredentialManager, what: str) -> None:
    """Raise CredentialExists now (before any server call) if the store holds a working credential."""
    try:
        cur = mgr.store.read(force=True)
    except MajoraError:
        return  # a corrupt store is no credential to protect; the save reports it
    if mgr.working(cur):
        raise CredentialExists(
            f"the token store {mgr.path} already holds a working credential (generation "
            f"{cur.generation if cur else 0}); the {what} would replace it. Add --force to replace it anyway")


def finish_login(mgr: CredentialManager, callback_url: str, *, keep: bool = False) -> TokenRecord:
    """Complete a login started with :func:`start_login` from the pasted callback URL. With ``keep``, a
    store that holds a working credential is not replaced (checked again under the lock). A refusal by
    Majora (see :func:`refusal`) ends the pending login: exit 77, nothing stored."""
    _require_oauth(mgr)
    state = _pending_state(mgr)
    refused = _callback_error(callback_url)
    if refused:
        pending_path(mgr).unlink(missing_ok=True)
        raise refusal(mgr, *refused, at_token_endpoint=False)
    code = oauth.parse_callback(mgr.settings, callback_url, state)
    if keep:
        refuse_if_working(mgr, "login")
    try:
        tok, t_before = oauth.exchange_code(mgr.settings, code, mgr.session)
    except oauth.TokenRefused as exc:
        if exc.error not in ("access_denied", "invalid_scope"):
            raise
        pending_path(mgr).unlink(missing_ok=True)
        raise refusal(mgr, exc.error, exc.description, at_token_endpoint=True) from None
    rec = mgr.save_new_token(tok, t_before, replace_working=not keep, what="login")
    pending_path(mgr).unlink(missing_ok=True)
    return rec


def interactive_login(mgr: CredentialManager, read_line: Callable[[str], str],
                      say: Callable[[str], None], *, keep: bool = False) -> TokenRecord:
    """Print the authorize URL, then accept the pasted callback URL (3 tries)."""
    if keep:
        refuse_if_working(mgr, "login")
    url = start_login(mgr)
    say(f"Open this URL, log in to Majora and approve access:\n\n  {url}\n")
    for attempt in range(1, TRIES + 1):
        pasted = read_line("Paste the full URL of the page you were sent to: ")
        try:
            return finish_login(mgr, pasted, keep=keep)
        except UsageError as exc:
            if attempt == TRIES:
                raise
            say(f"{exc} (try {attempt} of {TRIES})")
    raise AssertionError("unreachable")  # pragma: no cover


def import_ocarina(mgr: CredentialManager, path: Path | None = None, *, force: bool = False) -> TokenRecord:
    """Import the broadest still-refreshable token from Ocarina's tokens file (``{scope: token dict}``).

    Refuses (unless ``force``) to replace a working credential: Ocarina's copy may be a pair this store
    has already rotated, and the next refresh with it would get invalid_grant (a strict server then
    revokes the whole family, the live token included).
    """
    _require_oauth(mgr)
    if not force:
        refuse_if_working(mgr, "import")
    path = Path(path or mgr.settings.ocarina_tokens_file or Path.home() / ".ocarina-tokens").expanduser()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"Ocarina tokens file {path} does not exist (MAJORA_TOKENS_FILE)") from None
    except (OSError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        raise ConfigError(f"cannot read Ocarina tokens file "
                          f"{path}" + (f" line {line}" if line else "")) from None
    if not isinstance(data, dict):
        raise ConfigError(f"Ocarina tokens file {path} must hold a JSON object of scope -> token")
    cands: list[tuple[int, float, dict[str, Any]]] = []
    for scope, tok in data.items():
        if isinstance(tok, dict) and tok.get("refresh_token") and tok.get("access_token"):
            register_secret(tok.get("access_token"))
            register_secret(tok.get("refresh_token"))
            cands.append((len(str(scope).split()), float(tok.get("expires_at") or 0), tok | {"scope": scope}))
    if not cands:
        raise AuthError(f"no usable token (with a refresh token) in {path}; run `snakemake-majora login`")
    cands.sort(key=lambda c: (c[0], c[1]))
    tok = dict(cands[-1][2])
    now = time.time()
    expires_in = float(tok.get("expires_in") or 36000)
    expires_at = float(tok.get("expires_at") or now)
    tok["expires_in"] = expires_in
    return mgr.save_new_token(tok, t_before=expires_at - expires_in, replace_working=force, what="import")


def stdin_is_interactive() -> bool:
    try:
        return os.isatty(0)
    except OSError:
        return False
