"""Majora from inside a Snakemake workflow: a ready client for ``run:``/``script:`` jobs, and ``preflight()``.

``client()`` returns one :class:`~snakemake_majora.client.MajoraClient` per process and configuration, so
every call of a job shares the pooled session and passes the same token gate (the shared, locked token
file) as the storage plugin and the CLI. ``preflight()`` is meant for ``onstart:``: it stops the run at
once, with a one-line message, if the credential cannot be refreshed or lacks a scope the run needs,
instead of hours later in a job; an offline run (``recheck: never``) is left alone.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_clients: dict[tuple[Any, ...], Any] = {}
_lock = threading.Lock()


def client(
    profile: str | None = None,
    config_file: str | Path | None = None,
    token_file: str | Path | None = None,
    min_ttl: float = 0,
    **overrides: Any,
) -> Any:
    """A shared, thread-safe ``MajoraClient`` for this process (same arguments: same client).

    Arguments are those of ``MajoraClient.from_config``; unset ones come from the environment
    (``SNAKEMAKE_MAJORA_PROFILE``, ``SNAKEMAKE_MAJORA_CONFIG``, ``SNAKEMAKE_MAJORA_TOKEN_FILE`` ...) and
    the snakemake-majora config, exactly as for the CLI.
    """
    from .client import MajoraClient

    key = (profile, str(config_file) if config_file else None, str(token_file) if token_file else None,
           float(min_ttl), tuple(sorted(overrides.items())))
    with _lock:
        found = _clients.get(key)
        if found is None:
            found = MajoraClient.from_config(profile=profile, config_file=config_file, token_file=token_file,
                                             min_ttl=min_ttl, **overrides)
            _clients[key] = found
        return found


def _offline(recheck: str | None) -> bool:
    """True if this run asks Majora nothing: ``recheck`` is ``never`` or a window and every Majora input
    of the run was a verified local copy (the storage providers of this process asked nothing)."""
    import os

    from .plugin import live_providers, parse_recheck

    providers = [p for p in live_providers() if p.in_main_process]
    if recheck is None and providers:
        return all(p.conf.recheck_after > 0 and not p.requests_needed() for p in providers)
    if recheck is None:
        recheck = os.environ.get("SNAKEMAKE_STORAGE_MAJORA_RECHECK")
    return parse_recheck(recheck) > 0 and not any(p.requests_needed() for p in providers)


def _missing_scopes(c: Any, scopes: Iterable[str]) -> list[str]:
    """Scopes the stored OAuth grant lacks (read from the token store: no request)."""
    from .errors import ReauthRequired

    rec = c.credentials.store.read()
    if rec is None:
        raise ReauthRequired(f"no stored Majora credential for user {c.settings.user}; run `snakemake-majora "
                             "login`")
    granted = set(rec.scope.split())
    return [s for s in dict.fromkeys(scopes) if s not in granted]


def preflight(
    profile: str | None = None,
    config_file: str | Path | None = None,
    token_file: str | Path | None = None,
    *,
    refresh: bool = True,
    min_ttl: float = 0,
    scopes: Iterable[str] = (),
    recheck: str | None = None,
    **overrides: Any,
) -> None:
    """Stop the run at start, with one line and a sysexits code, if Majora's credential cannot serve it.
    For ``onstart:``.

    With ``refresh`` (the default) the OAuth credential is refreshed once, under the shared lock, which
    proves the refresh token is alive and starts the run with a full access-token lifetime; concurrent
    callers share that one refresh. Without it, the token is only refreshed if it expires within
    ``min_ttl`` seconds (or the client's margin). API-key configurations are only checked for
    completeness (keys cannot be refreshed).

    ``scopes``: scopes the run's jobs need (e.g. the publish scopes); a stored grant without them stops
    the run before any job, naming the ``scopes:`` to add. ``recheck``: the run's recheck setting; by
    default the majora storage provider's (``--storage-majora-recheck``). An offline run (``never`` or a
    covering window, every input a verified local copy) makes no request here: only the scopes are
    checked, against the stored grant.

    Raises :class:`snakemake_majora.unchecked.RunStopped` (a ``SystemExit``: Snakemake lets it end the
    run) after printing the line.
    """
    from .config import DEFAULT_SCOPES
    from .errors import EX_NOPERM, MajoraError
    from .unchecked import RunStopped, what_to_do

    wanted = list(scopes)
    try:
        c = client(profile, config_file, token_file, min_ttl, **overrides)
        if not _offline(recheck):
            if refresh and c.settings.oauth:
                c.credentials.force_refresh()
            c.credentials.ensure_token(min_ttl)
        missing = _missing_scopes(c, wanted) if wanted and c.settings.oauth else []
    except MajoraError as e:
        code, advice = what_to_do(e)
        message = f"majora: preflight failed: {' '.join(str(e).split())}; {advice}."
        print(message, file=sys.stderr, flush=True)
        raise RunStopped(message, code) from None
    if missing:
        where = f" of profile {c.settings.profile}" if c.settings.profile else ""
        cfg = f" in {c.settings.config_file}" if c.settings.config_file else ""
        line = " ".join(dict.fromkeys([*(c.settings.scopes or DEFAULT_SCOPES), *wanted]))
        message = (f"majora: preflight failed: the stored Majora grant lacks the scope(s) "
                   f"{' '.join(missing)} that this run needs; set `scopes: {line}`{where}{cfg} and run "
                   "`snakemake-majora login` again.")
        print(message, file=sys.stderr, flush=True)
        raise RunStopped(message, EX_NOPERM)
