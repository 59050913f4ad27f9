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
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, TokenStoreError
from .logsafe import fingerprint, register_secret

log = logging.getLogger(__name__)

STORE_VERSION = 1
TMP_SUFFIX = ".tmp"
STALE_TMP_SECONDS = 3600
DEFAULT_LIFETIME = 36000  # Majora's ACCESS_TOKEN_EXPIRE_SECONDS
RESCUE_SUFFIX = ".rescue"
#: Bytes reserved on disk before a refresh: a record is ~600 bytes; tokens may grow, never by this much.
RESERVE_MIN = 8192


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
            scope = " ".join(str(s) for s in scope)
        return cls(
            domain=domain,
            client_id=client_id,
            user=user,
            access_token=str(tok["access_token"]),
            refresh_token=str(tok.get("refresh_token") or ""),
            expires_at=t_before + _lifetime(tok.get("expires_in")),
            obtained_at=t_before,
            scope=str(scope),
            token_type=str(tok.get("token_type") or "Bearer"),
            generation=generation,
            refreshed_by=holder_id(),
        )


def _lifetime(raw: Any) -> float:
    """Seconds from ``expires_in``. This runs after Majora has rotated the pair, so a malformed value must
    not raise (the new pair would be lost): it falls back to Majora's default lifetime with a warning."""
    try:
        val = float(raw)
    except (TypeError, ValueError):
        val = float("nan")
    if isinstance(raw, bool) or not 0 < val < 10 * 365 * 86400:  # NaN and inf fail too
        if raw is not None:
            log.warning("the token endpoint sent an unusable expires_in (%.40r); assuming %d s", raw,
                        DEFAULT_LIFETIME)
        return float(DEFAULT_LIFETIME)
    return val


#: The record's fields and the types a hand-edited or damaged file must have to be used.
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "domain": (str,), "client_id": (str,), "user": (str,), "access_token": (str,), "refresh_token": (str,),
    "expires_at": (int, float), "obtained_at": (int, float), "scope": (str,), "token_type": (str,),
    "generation": (int,), "refreshed_by": (str,), "invalid": (dict, type(None)), "version": (int,),
}


def _check_types(data: dict[str, Any], path: Path) -> None:
    """Raise a one-line TokenStoreError naming the first field of the wrong type."""
    for key, types in _FIELD_TYPES.items():
        if key not in data:
            continue
        val = data[key]
        ok = isinstance(val, types) and not (isinstance(val, bool) and bool not in types)
        if ok and isinstance(val, float) and val != val:  # NaN
            ok = False
        if not ok:
            want = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            shown = type(val).__name__ if key in ("access_token", "refresh_token") else repr(val)[:40]
            raise TokenStoreError(
                f"token file {path} has {key} = {shown}, which is not {want}; it was left untouched. "
                "Move it aside and run `snakemake-majora login`"
            )


def holder_id() -> str:
    """``host:pid``, the non-secret identity written next to locks and into the store."""
    return f"{socket.gethostname()}:{os.getpid()}"


def store_filename(domain: str, client_id: str, user: str) -> str:
    """A readable, collision-free file name for one (domain, client id, user)."""
    digest = hashlib.sha256(f"{domain}\0{client_id}\0{user}".encode()).hexdigest()[:12]
    safe_user = re.sub(r"[^A-Za-z0-9._-]", "_", user)[:40] or "user"
    return f"{safe_user}-{digest}.json"


_warned_dirs: set[str] = set()


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` 0700 (before filelock would create it 0755) and check an existing one.

    A directory that others can write is refused: whoever can write it can swap the token file, plant
    a symlink as ``.lock`` or ``.holder``, or hold the lock forever. The one exception is a sticky
    directory owned by the user (like ``/tmp``'s rules: others cannot touch our entries). A directory
    others can only read gets one warning per process.
    """
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.stat(path)
    except OSError as exc:
        raise ConfigError(f"cannot create token directory {path}: {exc.strerror}") from None
    check_private_dir(path, st)


def check_private_dir(path: Path, st: os.stat_result | None = None) -> None:
    """The checks of :func:`ensure_private_dir` on an existing directory (nothing if it is missing)."""
    if st is None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ConfigError(f"cannot use token directory {path}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"token directory {path} is not a directory; move it aside")
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid != os.getuid():
        raise ConfigError(f"token directory {path} belongs to uid {st.st_uid}, not to you; refusing to keep "
                          "a credential there (set token_file or SNAKEMAKE_MAJORA_HOME to a directory of "
                          "yours)")
    if mode & 0o022 and not mode & stat.S_ISVTX:
        raise ConfigError(f"token directory {path} is writable by group/others (mode {mode:o}); others could "
                          f"replace the token or its lock. Run: chmod 700 {path}")
    if mode & 0o077 and str(path) not in _warned_dirs:
        _warned_dirs.add(str(path))
        log.warning("token directory %s is accessible by group/others (mode %o); run: chmod 700 %s",
                    path, mode, path)


def open_private(path: Path, flags: int, mode: int = 0o600) -> int:
    """Open a side file without following a symlink, and check with ``fstat`` that it is a regular
    file of ours. Returns the fd; raises ConfigError (a planted link or foreign file) or OSError."""
    try:
        fd = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0), mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ConfigError(f"{path} is a symbolic link; refusing to follow it. Remove it "
                              f"(rm {path}); it is recreated as needed") from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
        os.close(fd)
        what = "not a regular file" if not stat.S_ISREG(st.st_mode) else f"owned by uid {st.st_uid}"
        raise ConfigError(f"{path} is {what}; refusing to use it. Remove it (rm {path}); it is recreated "
                          "as needed")
    return fd


class Reservation:
    """A temp file next to the store that already holds the disk blocks of the next record.

    Made before the refresh POST: once Majora has rotated the pair, writing it must not be the first
    moment we learn that the disk or the quota is full.
    """

    def __init__(self, store: TokenStore, tmp: Path, fd: int) -> None:
        self.store, self.tmp, self.fd = store, tmp, fd
        #: True once the record is in ``tmp`` but the rename failed: the file then holds the live pair.
        self.kept = False

    def commit(self, rec: TokenRecord) -> None:
        """Write ``rec`` into the reserved blocks, fsync, rename over the store, fsync the directory."""
        if self.fd < 0:
            raise RuntimeError("reservation already used")  # pragma: no cover
        data = rec.to_json().encode()
        register_secret(rec.access_token)
        register_secret(rec.refresh_token)
        os.pwrite(self.fd, data, 0)
        os.ftruncate(self.fd, len(data))
        os.fsync(self.fd)
        os.close(self.fd)
        self.fd = -1
        try:
            _replace(self.tmp, self.store.path)
        except BaseException:
            # The file holds a pair Majora may already have rotated to: keep it for recovery (the next
            # refresher adopts it, newest generation first) rather than leave it only in memory.
            self.kept = True
            raise
        _fsync_dir(self.store.dir)

    def discard(self) -> None:
        """Give the space back (no-op after :meth:`commit`)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            with contextlib.suppress(OSError):
                self.tmp.unlink()


class TokenStore:
    """Read and atomically write one token file. Thread-safe for reads; writes happen under the lock.

    With ``bound_to=(domain, client_id)`` every read refuses a record issued for another server or client:
    a configuration that points ``token_file`` at this store and ``domain`` elsewhere must not get the
    token sent there.
    """

    def __init__(self, path: Path, *, bound_to: tuple[str, str] | None = None) -> None:
        self.path = Path(path)
        self.bound_to = bound_to
        self.dir = self.path.parent
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        # One tuple, replaced in one assignment, so that threads never pair a new key with an old record.
        self._cached: tuple[tuple[int, int, int], TokenRecord] | None = None
        self._warned_mode = False
        self._dir_checked = False

    def __repr__(self) -> str:
        return f"TokenStore({str(self.path)!r})"

    def exists(self) -> bool:
        return self.path.exists()

    def read(self, *, force: bool = False, bound: bool = True) -> TokenRecord | None:
        """Return the stored record, ``None`` if there is no file.

        Without ``force``, an unchanged ``(mtime_ns, size, inode)`` returns the cached record. Under the
        lock callers pass ``force=True``: NFS may keep a stale attribute cache for the name. With ``bound``
        (the default) a record issued for another domain or client id raises ConfigError.
        """
        rec = self._read(force)
        if rec is not None and bound:
            self.check_binding(rec)
        return rec

    def check_binding(self, rec: TokenRecord) -> None:
        """Raise ConfigError if ``rec`` was issued for another domain or client id than this store serves."""
        if self.bound_to is None or (rec.domain, rec.client_id) == self.bound_to:
            return
        domain, client_id = self.bound_to
        raise ConfigError(
            f"the token in {self.path} was issued for {rec.domain} (client id {rec.client_id!r}), not for "
            f"{domain} (client id {client_id!r}); it was not sent. Check domain, client_id and token_file "
            "in your configuration (and who can change those files), or log in to that server with a "
            "token_file of its own"
        )

    def _read(self, force: bool) -> TokenRecord | None:
        if not self._dir_checked:
            # Once per process: a directory others can write lets them swap the file we trust.
            check_private_dir(self.dir)
            self._dir_checked = True
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
            if not isinstance(data, dict):
                raise TypeError("not an object")
            _check_types(data, self.path)
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

    def reserve(self, size: int) -> Reservation:
        """Create a temp file next to the store holding ``size`` bytes of real blocks, fsynced.

        Raises OSError (ENOSPC, EDQUOT, EROFS...) when the store could not take the next record.
        """
        ensure_private_dir(self.dir)
        with _temp_beside(self.path, 0o600, os.O_RDWR) as (tmp, fd):
            try:
                os.posix_fallocate(fd, 0, size)
            except OSError as exc:
                # Filesystems without fallocate (some NFS, FUSE): write the bytes instead.
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                    raise
                os.pwrite(fd, b"\n" * size, 0)
            os.fsync(fd)
        return Reservation(self, tmp, fd)

    def rescue_name(self) -> str:
        """The rescue file's name outside the store's directory: the store's name plus a digest of its
        full path, so that two homes of one user (same domain, client and user) never share a rescue."""
        tag = hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:12]
        return f"{self.path.name}.{tag}{RESCUE_SUFFIX}"

    def _rescue_dirs(self, *, create: bool) -> list[Path]:
        """Private directories that may hold this store's rescue, in the order a write tries them.

        Only directories no one else can create or enter: ``$XDG_RUNTIME_DIR/snakemake-majora`` (the
        runtime dir is made by the system for this user alone) and ``mkdtemp``-made
        ``<tmp>/snakemake-majora-<uid>-XXXXXXXX`` directories (random names, created 0700 by us; a
        directory of that shape owned by anyone else is ignored, so pre-creating one squats nothing).
        """
        import tempfile

        dirs: list[Path] = []
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        if runtime and _private_of_ours(Path(runtime)):
            sub = Path(runtime) / "snakemake-majora"
            if create:
                with contextlib.suppress(OSError):
                    sub.mkdir(mode=0o700, exist_ok=True)
            if _private_of_ours(sub):
                dirs.append(sub)
        tmp = Path(tempfile.gettempdir())
        prefix = f"snakemake-majora-{os.getuid()}-"
        with contextlib.suppress(OSError), os.scandir(tmp) as it:
            dirs += sorted(Path(e.path) for e in it
                           if e.name.startswith(prefix) and _private_of_ours(Path(e.path)))
        if create and not any(d.parent == tmp for d in dirs):
            with contextlib.suppress(OSError):
                dirs.append(Path(tempfile.mkdtemp(prefix=prefix, dir=tmp)))
        return dirs

    def rescue_paths(self, *, create: bool = False) -> list[Path]:
        """Where a refreshed record that could not be stored is kept: next to the store, else in a private
        directory elsewhere (another filesystem, usually; node-local)."""
        beside = self.path.with_name(self.path.name + RESCUE_SUFFIX)
        return [beside] + [d / self.rescue_name() for d in self._rescue_dirs(create=create)]

    def write_rescue(self, rec: TokenRecord) -> Path | None:
        """Write ``rec`` to the first rescue location that takes it (0600); None if none did."""
        for path in self.rescue_paths(create=True):
            try:
                atomic_write_private(path, rec.to_json().encode())
                return path
            except (OSError, ConfigError) as exc:
                log.debug("rescue copy at %s failed: %s", path, getattr(exc, "strerror", None) or exc)
        return None

    def rescue_candidates(self) -> list[tuple[Path, TokenRecord]]:
        """Every record this store's rescue files and left-over temp files hold (a reservation whose rename
        failed when the directory became unwritable holds the live pair). The caller picks the newest."""
        found: list[tuple[Path, TokenRecord]] = []
        paths = self.rescue_paths() + self._tmp_files()
        for path in paths:
            rec = _read_record(path, quiet=path.name.endswith(TMP_SUFFIX))
            if rec is not None:
                found.append((path, rec))
        return found

    def read_rescue(self) -> tuple[Path, TokenRecord] | None:
        """The newest readable rescue record for this store, if any."""
        found = self.rescue_candidates()
        return max(found, key=lambda c: c[1].generation) if found else None

    def _tmp_files(self) -> list[Path]:
        prefix = f".{self.path.name}."
        with contextlib.suppress(OSError), os.scandir(self.dir) as it:
            return sorted(Path(e.path) for e in it
                          if e.name.startswith(prefix) and e.name.endswith(TMP_SUFFIX))
        return []

    def clean_stale_tmp(self, max_age: float = STALE_TMP_SECONDS) -> int:
        """Remove our temp files older than ``max_age`` seconds (left by killed writers), except one that
        holds a newer record than the store: that is a live pair recovery has not put back yet."""
        n = 0
        now = time.time()
        try:
            stored = self._read(True)
        except (ConfigError, OSError):
            stored = None
        for path in self._tmp_files():
            with contextlib.suppress(OSError):
                if now - path.lstat().st_mtime <= max_age:
                    continue
                rec = _read_record(path, quiet=True)
                if rec is not None and (stored is None or rec.generation > stored.generation):
                    continue
                os.unlink(path)
                n += 1
        return n


def _private_of_ours(path: Path) -> bool:
    """True for a real directory (not a link) owned by us that no one else can enter or write."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


def _read_record(path: Path, *, quiet: bool = False) -> TokenRecord | None:
    """A record from a rescue or temp file of ours (no link followed), or None."""
    try:
        fd = open_private(path, os.O_RDONLY)
    except (OSError, ConfigError):
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            data = json.loads(fh.read(1 << 16))
        if not isinstance(data, dict):
            raise TypeError("not an object")
        _check_types(data, path)
        rec = TokenRecord(**{k: v for k, v in data.items() if k in TokenRecord.__dataclass_fields__})
    except (OSError, ValueError, TypeError, TokenStoreError):
        if not quiet:
            log.warning("rescue token file %s is unreadable; ignoring it", path)
        return None
    register_secret(rec.access_token)
    register_secret(rec.refresh_token)
    return rec


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


def atomic_write_private(path: Path, data: bytes, mode: int = 0o600, *, exact_mode: bool = False,
                         mtime: float | None = None) -> None:
    """Write ``data`` to ``path`` atomically: a temp file in the same directory (created with ``mode``,
    less the umask), fsync, rename, fsync the directory. The one atomic write of the package (tokens,
    task results, pending logins, ``-o``, the ledger, the plugin's local copies).

    ``exact_mode`` sets ``mode`` whatever the umask (the ledger is shared by everyone running the
    workflow); ``mtime`` stamps the file before the rename, so it never shows a wrong time.
    """
    view = memoryview(data)

    def fill(fd: int) -> None:
        nonlocal view
        while view:  # os.write may write fewer bytes than asked
            view = view[os.write(fd, view):]

    atomic_write_with(path, fill, mode, exact_mode=exact_mode, mtime=mtime)


def atomic_write_with(path: Path, fill: Callable[[int], None], mode: int = 0o600, *,
                      exact_mode: bool = False, mtime: float | None = None) -> None:
    """:func:`atomic_write_private` for content too large to hold in memory: ``fill`` writes it to the
    temp file's descriptor (a large listing is copied in chunks from the file it was parsed into)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _temp_beside(path, mode, os.O_WRONLY) as (tmp, fd):
        fill(fd)
        if exact_mode:
            os.fchmod(fd, mode)
        if mtime is not None:
            os.utime(fd, (mtime, mtime))
        os.fsync(fd)
    os.close(fd)
    _install(tmp, path)


@contextlib.contextmanager
def _temp_beside(path: Path, mode: int, flags: int) -> Iterator[tuple[Path, int]]:
    """A new temp file next to ``path`` (created with ``mode``, never through a link), removed again
    if filling it fails; the caller owns the open fd afterwards."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}{TMP_SUFFIX}")
    fd = os.open(tmp, flags | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        yield tmp, fd
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _install(tmp: Path, dest: Path) -> None:
    """Rename the filled, fsynced ``tmp`` over ``dest`` and fsync the directory; ``tmp`` goes on failure."""
    try:
        _replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(dest.parent)
