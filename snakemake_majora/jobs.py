"""Majora from inside a Snakemake workflow: a ready client for ``run:``/``script:`` jobs, and ``preflight()``.

``client()`` returns one :class:`~snakemake_majora.client.MajoraClient` per process and configuration, so
every call of a job shares the pooled session and passes the same token gate (the shared, locked token
file) as the storage plugin and the CLI. ``preflight()`` is meant for ``onstart:``: it fails the run at
once, with a one-line message, if the credential cannot be refreshed, instead of hours later in a job.
"""

from __future__ import annotations

import threading
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


def preflight(
    profile: str | None = None,
    config_file: str | Path | None = None,
    token_file: str | Path | None = None,
    *,
    refresh: bool = True,
    min_ttl: float = 0,
    **overrides: Any,
) -> None:
    """Fail fast (``WorkflowError``, one line) if Majora's credential is unusable. For ``onstart:``.

    With ``refresh`` (the default) the OAuth credential is refreshed once, under the shared lock, which
    proves the refresh token is alive and starts the run with a full access-token lifetime; concurrent
    callers share that one refresh. Without it, the token is only refreshed if it expires within
    ``min_ttl`` seconds (or the client's margin). API-key configurations are only checked for
    completeness (keys cannot be refreshed).
    """
    from snakemake_interface_common.exceptions import WorkflowError

    from .errors import MajoraError

    try:
        c = client(profile, config_file, token_file, min_ttl, **overrides)
        if refresh and c.settings.oauth:
            c.credentials.force_refresh()
        c.credentials.ensure_token(min_ttl)
    except MajoraError as e:
        raise WorkflowError(f"Majora preflight failed: {e}") from None
