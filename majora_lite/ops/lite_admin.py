"""Talk to a running majora-lite's ``/_lite/*`` admin endpoints as its owner.

The URL comes from ``server.json`` and the secret from ``admin_secret``, both in the data directory
(0700; the secret 0600): whoever can read them is the server's owner. Used by :class:`LiteServer` and
by the ``faults`` / ``counters`` commands of the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from majora_lite.server.settings import ADMIN_HEADER, ADMIN_SECRET_FILE


class LiteAdminError(RuntimeError):
    """The server is not running, its secret cannot be read, or it refused the request."""


def read_secret(data_dir: Path) -> str:
    """The admin secret the server in ``data_dir`` requires (made when it started)."""
    path = Path(data_dir) / ADMIN_SECRET_FILE
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise LiteAdminError(f"cannot read {path} ({exc.strerror}): only the user who started majora-lite "
                             "can use its admin endpoints") from None


def server_url(data_dir: Path) -> str:
    """The URL of the server running on ``data_dir`` (from its ``server.json``)."""
    path = Path(data_dir) / "server.json"
    try:
        return str(json.loads(path.read_text())["url"])
    except (OSError, ValueError, KeyError, TypeError):
        raise LiteAdminError(f"no running majora-lite found for {data_dir} ({path} is missing or "
                             "unreadable); start it first") from None


def headers(data_dir: Path) -> dict[str, str]:
    """The header that admits a request to ``/_lite/*``."""
    return {ADMIN_HEADER: read_secret(data_dir)}


def call(data_dir: Path, method: str, path: str, body: Any = None, timeout: float = 10) -> Any:
    """One admin request (``path`` below ``/_lite/``); returns the JSON answer."""
    url = server_url(data_dir) + "_lite/" + path.lstrip("/")
    try:
        r = requests.request(method, url, json=body, headers=headers(data_dir), timeout=timeout)
    except requests.RequestException as exc:
        raise LiteAdminError(f"majora-lite at {url} did not answer ({type(exc).__name__})") from None
    try:
        data = r.json()
    except ValueError:
        data = {"detail": r.text[:200]}
    if r.status_code != 200:
        raise LiteAdminError(f"majora-lite refused {method} /_lite/{path}: {data.get('detail')}")
    return data
