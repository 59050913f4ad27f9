"""The token file: one JSON object per (domain, client id, user), 0600 in a 0700 directory.

Writes are atomic (temp file created 0600 in the same directory, fsync, rename, fsync directory).
Reads are cheap: an unchanged ``(mtime_ns, size, inode)`` returns the cached record without parsing.
A corrupt or empty file is reported, never overwritten or deleted.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import socket
import stat
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, TokenStoreError
from .logsafe import fingerprint, register_secret

log = logging.getLogger(__name__)

STORE_VERSION = 1
TMP_SUFFIX = ".tmp"
STALE_TMP_SECONDS = 3600


@dataclass
class TokenRecord:
    """One stored OAuth credential. ``repr`` shows fingerprints, never the tokens."""

    domain: str
    client_id: str
    user: str
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: float
    obtained_at: float
    scope: str = ""
    token_type: str = "Bearer"
    generation: int = 0
    refreshed_by: str = ""
    invalid: dict[str, Any] | None = None
    version: int = STORE_VERSION

    @property
    def lifetime(self) -> float:
        return max(0.0, self.expires_at - self.obtained_at)

    def __repr__(self) -> str:
        return (
            f"TokenRecord(user={self.user!r}, generation={self.generation}, "
            f"expires_at={self.expires_at:.0f}, "
            f"access={fingerprint(self.access_token)}, invalid={bool(self.invalid)})"
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_token_response(
        cls, tok: dict[str, Any], *, domain: str, client_id: str, user: str, t_before: float, generation: int
    ) -> TokenRecord:
        """Build a record from a token endpoint response; ``expires_at`` counts from before the POST."""
        scope = tok.get("scope", "")
        if isinstance(scope, list | tuple):
            scope = " ".join(scope)
        return cls(
            domain=domain,
            client_id=client_id,
            user=user,
            access_token=str(tok["access_token"]),
            refresh_token=str(tok.get("refresh_token") or ""),
            expires_at=t_before + float(tok.get("expires_in") or 36000),
            obtained_at=t_before,
            scope=str(scope),
            token_type=str(tok.get("token_type") or "Bearer"),
            generation=generation,
            refreshed_by=holder_id(),
        )


def holder_id() -> str:
    """``host:pid``, the non-secret identity written next to locks and into the store."""
    return f"{socket.gethostname()}:{os.getpid()}"


def store_filename(domain: str, client_id: str, user: str) -> str:
    """A readable, collision-free file name for one (domain, client id, user)."""
    digest = hashlib.sha256(f"{domain}\0{client_id}\0{user}".encode()).hexdigest()[:12]
    safe_user = re.sub(r"[^A-Za-z0-9._-]", "_", user)[:40] or "user"
    return f"{safe_user}-{digest}.json"


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` 0700 (before filelock would create it 0755); warn if an existing one is open."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create token directory {path}: {exc.strerror}") from None
    st = path.stat()
    if st.st_mode & 0o077:
        log.warning("token directory %s is accessible by group/others (mode %o); run: chmod 700 %s",
                    path, stat.S_IMODE(st.st_mode), path)


class TokenStore:
    """Read and atomically write one token file. Thread-safe for reads; writes happen under the lock."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.dir = self.path.parent
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        # One tuple, replaced in one assignment, so that threads never pair a new key with an old record.
        self._cached: tuple[tuple[int, int, int], TokenRecord] | None = None
        self._warned_mode = False

    def __repr__(self) -> str:
        return f"TokenStore({str(self.path)!r})"

    def exists(self) -> bool:
        return self.path.exists()

    def read(self, *, force: bool = False) -> TokenRecord | None:
        """Return the stored record, ``None`` if there is no file.

        Without ``force``, an unchanged ``(mtime_ns, size, inode)`` returns the cached record. Under the
        lock callers pass ``force=True``: NFS may keep a stale attribute cache for the name.
        """
        for attempt in range(3):
            try:
                if force:
                    # Opening the directory first revalidates NFS's cached lookup (close-to-open).
                    with os.scandir(self.dir):
                        pass
                st = os.stat(self.path)
                key = (st.st_mtime_ns, st.st_size, st.st_ino)
                cached = self._cached
                if not force and cached is not None and cached[0] == key:
                    return cached[1]
                rec = self._parse(st)
            except FileNotFoundError:
                return None
            except OSError as exc:
                if exc.errno == errno.ESTALE and attempt < 2:
                    time.sleep(0.05)
                    continue
                raise TokenStoreError(f"cannot read token file {self.path}: {exc.strerror}") from None
            self._cached = (key, rec)
            return rec
        return None  # pragma: no cover

    def _parse(self, st: os.stat_result) -> TokenRecord:
        self._check_mode(st)
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(self.path, flags)
        try:
            with os.fdopen(fd, "rb", closefd=False) as fh:
                raw = fh.read()
        finally:
            os.close(fd)
        if not raw.strip():
            raise TokenStoreError(
                f"token file {self.path} is empty; it was left untouched. Move it aside and run "
                "`snakemake-majora login`"
            )
        try:
            data = json.loads(raw)
            rec = TokenRecord(**{k: v for k, v in data.items() if k in TokenRecord.__dataclass_fields__})
        except (ValueError, TypeError) as exc:
            line = getattr(exc, "lineno", None)
            where = f" (line {line})" if line else ""
            raise TokenStoreError(
                f"token file {self.path} is corrupt{where}; it was left untouched. Move it aside and run "
                "`snakemake-majora login`"
            ) from None
        register_secret(rec.access_token)
        register_secret(rec.refresh_token)
        return rec

    def _check_mode(self, st: os.stat_result) -> None:
        if st.st_uid != os.getuid():
            raise TokenStoreError(
                f"token file {self.path} belongs to uid {st.st_uid}, not to you; refusing to use it"
            )
        if st.st_mode & 0o077 and not self._warned_mode:
            self._warned_mode = True
            log.warning("token file %s is readable by group/others (mode %o); run: chmod 600 %s",
                        self.path, stat.S_IMODE(st.st_mode), self.path)

    def write(self, rec: TokenRecord) -> None:
        """Atomically replace the file with ``rec``: temp 0600 in the same dir, fsync, rename, fsync dir."""
        ensure_private_dir(self.dir)
        register_secret(rec.access_token)
        register_secret(rec.refresh_token)
        atomic_write_private(self.path, rec.to_json().encode())
        log.debug("token store written: generation=%d "
                  "access=%s", rec.generation, fingerprint(rec.access_token))

    def clean_stale_tmp(self, max_age: float = STALE_TMP_SECONDS) -> int:
        """Remove our temp files older than ``max_age`` seconds (left by killed writers)."""
        n = 0
        now = time.time()
        prefix = f".{self.path.name}."
        with contextlib.suppress(OSError), os.scandir(self.dir) as it:
            for e in it:
                if e.name.startswith(prefix) and e.name.endswith(TMP_SUFFIX):
                    with contextlib.suppress(OSError):
                        if now - e.stat(follow_symlinks=False).st_mtime > max_age:
                            os.unlink(e.path)
                            n += 1
        return n


def _replace(tmp: Path, dest: Path) -> None:
    # A separate function so fault-injection tests can pause between the temp write and the rename.
    os.replace(tmp, dest)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def atomic_write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` atomically, created with ``mode`` (task results, pending logins, -o)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}{TMP_SUFFIX}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        with os.fdopen(fd, "wb", closefd=False) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    os.close(fd)
    _replace(tmp, path)
    _fsync_dir(path.parent)
