"""Cross-process lock for the token file, chosen from the token directory's mount.

``flock`` (filelock.UnixFileLock on a sidecar ``<token>.lock`` that is never deleted) where the
filesystem forwards locks between nodes; a lease (filelock.SoftFileLease on ``<token>.lease``) where
flock is node-local only (NFS ``nolock``/``local_lock=all|flock``, Lustre ``localflock``, FUSE, GPFS).
A process-wide ``threading.Lock`` per path serialises threads first, because two filelock objects on one
path in one process would deadlock each other. The holder's ``host:pid`` goes into ``<token>.holder``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import random
import re
import socket
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError
from .store import ensure_private_dir, open_private

if TYPE_CHECKING:
    import filelock

log = logging.getLogger(__name__)

LOCK_WAIT = 180.0
LEASE_DURATION = 120.0
POLL_INTERVAL = 0.1
_FALLBACK_ERRNOS = {errno.ENOLCK, errno.ENOSYS, getattr(errno, "EOPNOTSUPP", 95)}
_THREAD_LOCKS: dict[str, threading.Lock] = {}
_REGISTRY_LOCK = threading.Lock()
_warned_fallback: set[str] = set()
HOLDER_MAX = 200
# What _write_holder writes: host:pid since <UTC time>. Anything else is not shown.
_HOLDER_SHAPE = re.compile(r"[A-Za-z0-9._-]{1,100}:\d{1,10} since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


class LockBusy(Exception):
    """Not acquired within the requested slice (internal; callers retry or give up)."""


@dataclass
class Mount:
    mount_point: str
    fstype: str
    options: set[str]
    source: str


def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape") if "\\" in field else field


def find_mount(path: Path, mountinfo: str = "/proc/self/mountinfo") -> Mount | None:
    """The mount holding ``path`` (longest matching mount point), from ``/proc/self/mountinfo``."""
    try:
        lines = Path(mountinfo).read_text().splitlines()
    except OSError:
        return None
    real = os.path.realpath(path)
    best: Mount | None = None
    for line in lines:
        parts = line.split()
        if "-" not in parts:
            continue
        sep = parts.index("-")
        mp = _unescape(parts[4])
        if not (real == mp or real.startswith(mp.rstrip("/") + "/")):
            continue
        opts = set(parts[5].split(",")) | set(parts[sep + 3].split(",") if len(parts) > sep + 3 else [])
        if best is None or len(mp) >= len(best.mount_point):
            best = Mount(mp, parts[sep + 1], opts, parts[sep + 2] if len(parts) > sep + 2 else "")
    return best


def choose_backend(path: Path, mode: str = "auto",
                   mountinfo: str = "/proc/self/mountinfo") -> tuple[str, str]:
    """Return ``(backend, reason)`` for a lock in directory ``path``; ``mode`` may force it."""
    if mode in ("flock", "lease"):
        return mode, f"forced by setting lock: {mode}"
    m = find_mount(path, mountinfo)
    if m is None:
        return "flock", "mount table unreadable; assuming a local filesystem"
    fs, o = m.fstype, m.options
    where = f"{m.mount_point} is {fs}"
    if fs in ("nfs", "nfs4"):
        if "nolock" in o:
            return "lease", f"{where} mounted with nolock: flock would only exclude on this node"
        for bad in ("local_lock=all", "local_lock=flock"):
            if bad in o:
                return "lease", f"{where} mounted with {bad}: flock would only exclude on this node"
        return "flock", f"{where} with lock forwarding (verify with `doctor --lock-test` on two nodes)"
    if fs == "lustre":
        if "flock" in o:
            return "flock", f"{where} mounted with -o flock (cluster-coherent)"
        return "lease", f"{where} without -o flock (localflock or none): flock is not cluster-coherent"
    if fs.startswith("fuse") or fs in ("gpfs", "cifs", "smb3", "smbfs", "ceph", "beegfs", "9p"):
        return "lease", f"{where}: flock coherence across nodes is not known"
    return "flock", f"{where} (local filesystem)"


def _thread_lock_for(path: str) -> threading.Lock:
    with _REGISTRY_LOCK:
        return _THREAD_LOCKS.setdefault(path, threading.Lock())


class TokenLock:
    """Exclusive lock guarding refreshes of one token file."""

    def __init__(self, token_path: Path, mode: str = "auto", *, poll_interval: float = POLL_INTERVAL,
                 lease_duration: float = LEASE_DURATION, private: bool = True,
                 file_mode: int | None = None) -> None:
        self.token_path = Path(token_path)
        # private=False: the guarded file is not secret (the record ledger, possibly shared by a group's
        # workflows), so its directory keeps its mode and the sidecar files get ``file_mode`` (the ledger
        # chooses 0600, or 0660 for a group-shared cache: whoever can open a lock file can hold it).
        self.private = private
        self._file_mode = 0o600 if private or file_mode is None else file_mode
        self.lock_path = self.token_path.with_name(self.token_path.name + ".lock")
        self.lease_path = self.token_path.with_name(self.token_path.name + ".lease")
        self.holder_path = self.token_path.with_name(self.token_path.name + ".holder")
        self.mode = mode
        self.poll_interval = poll_interval
        self.lease_duration = lease_duration
        self._backend: tuple[str, str] | None = None
        self._thread_lock = _thread_lock_for(str(self.lock_path))
        self._flock: filelock.BaseFileLock | None = None

    @property
    def backend(self) -> str:
        return self.backend_info[0]

    @property
    def backend_info(self) -> tuple[str, str]:
        if self._backend is None:
            self._ensure_dir()
            self._backend = choose_backend(self.token_path.parent, self.mode)
        return self._backend

    def _ensure_dir(self) -> None:
        if self.private:
            ensure_private_dir(self.token_path.parent)
        else:
            self.token_path.parent.mkdir(parents=True, exist_ok=True)

    def _make(self) -> filelock.BaseFileLock:
        import filelock  # lazy: a fresh token never needs the lock

        if self.backend == "lease":
            return filelock.SoftFileLease(
                str(self.lease_path), lease_duration=self.lease_duration, mode=self._file_mode,
                poll_interval=self.poll_interval,
            )
        return filelock.UnixFileLock(
            str(self.lock_path), mode=self._file_mode, poll_interval=self.poll_interval,
            fallback_to_soft=False,
        )

    def _acquire_file(self, timeout: float) -> None:
        import filelock

        if self._flock is None:
            self._flock = self._make()
        if self.backend == "flock":
            self._check_lock_file()
        try:
            # Jitter the slice so that many waiters do not poll in lockstep.
            self._flock.acquire(timeout=max(0.0, timeout) * (0.8 + 0.4 * random.random()))
        except filelock.Timeout:
            raise LockBusy from None
        except getattr(filelock, "LeaseSettingsMismatch", ()):  # filelock 4.x; older ones never raise it
            raise ConfigError(
                f"the lease {self.lease_path} is held with another lock_lease_seconds than this process's "
                f"{self.lease_duration:g}; set the same lock_lease_seconds for every job sharing the token"
            ) from None
        except OSError as exc:
            if exc.errno not in _FALLBACK_ERRNOS or self.backend == "lease":
                raise
            if str(self.lock_path) not in _warned_fallback:
                _warned_fallback.add(str(self.lock_path))
                log.warning("flock on %s failed (%s); falling back to a lease lock",
                            self.lock_path, errno.errorcode.get(exc.errno or 0, exc.errno))
            self._backend = ("lease", f"flock failed with {errno.errorcode.get(exc.errno or 0)}; lease "
                                      f"fallback")
            self._flock = self._make()
            self._acquire_file(timeout)

    @contextlib.contextmanager
    def hold(self, timeout: float) -> Iterator[None]:
        """Hold the lock; raise :class:`LockBusy` if it cannot be had within ``timeout`` seconds."""
        self._ensure_dir()
        if not self._thread_lock.acquire(timeout=max(timeout, 0.001)):
            raise LockBusy
        try:
            self._acquire_file(timeout)
            try:
                self._write_holder()
                yield
            finally:
                assert self._flock is not None
                self._flock.release()
        finally:
            self._thread_lock.release()

    def _write_holder(self) -> None:
        # Non-secret diagnostics for peers that time out waiting.
        with contextlib.suppress(OSError, ConfigError):
            fd = open_private(self.holder_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, self._file_mode)
            with os.fdopen(fd, "w") as fh:
                fh.write(f"{socket.gethostname()}:{os.getpid()} since "
                         f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")

    def holder(self) -> str:
        """The last recorded holder (``host:pid since <UTC time>``), or ``unknown``.

        The text ends up in error messages, so it is read without following a symlink, from a regular
        file of ours only, at most a line, and shown only if it has the shape we write: someone who can
        write the directory must not be able to make us print the token file.
        """
        try:
            fd = open_private(self.holder_path, os.O_RDONLY)
        except (OSError, ConfigError):
            return "unknown"
        try:
            raw = os.read(fd, HOLDER_MAX)
        except OSError:
            return "unknown"
        finally:
            os.close(fd)
        text = raw.decode("ascii", "replace").strip()
        return text if _HOLDER_SHAPE.fullmatch(text) else "unknown (unexpected .holder file)"

    def _open_shared_lock_file(self) -> int:
        """The ledger's sidecar: another member of the group sharing the cache may own it, but a symlink
        or a non-regular file is still refused."""
        path = self.lock_path
        flags = os.O_RDONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(path, flags, self._file_mode)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ConfigError(f"{path} is a symbolic link; refusing to follow it. Remove it "
                                  f"(rm {path}); it is recreated as needed") from None
            raise
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise ConfigError(f"{path} is not a regular file; refusing to use it. Remove it (rm {path}); it "
                              "is recreated as needed")
        if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) & ~self._file_mode:
            # made wider by an older version (0644): whoever can open it can hold the lock
            with contextlib.suppress(OSError):
                os.fchmod(fd, self._file_mode)
        return fd

    def _check_lock_file(self) -> None:
        """The flock sidecar must be a regular file of ours, not a symlink: a foreign ``.lock`` can be held
        by its owner for ever, and a planted link would make filelock open (and truncate) its target."""
        try:
            if self.private:
                fd = open_private(self.lock_path, os.O_RDONLY | os.O_CREAT)
            else:
                fd = self._open_shared_lock_file()
        except OSError as exc:
            raise ConfigError(f"cannot open the token lock {self.lock_path}: {exc.strerror}") from None
        os.close(fd)


def lock_test(lock: TokenLock, seconds: float, log_path: Path | None = None) -> dict[str, object]:
    """Hold/release ``lock`` repeatedly for ``seconds``, logging intervals to a shared file; count overlaps.

    Run on two nodes at the same time with the same token directory: any overlap of hold intervals
    between different ``host:pid`` means the lock does not exclude across those nodes.
    """
    log_path = log_path or lock.token_path.with_name(lock.token_path.name + ".locktest.log")
    ensure_private_dir(log_path.parent)
    me = f"{socket.gethostname()}:{os.getpid()}"
    end = time.time() + seconds
    n = 0
    while time.time() < end:
        try:
            with lock.hold(timeout=max(1.0, end - time.time())):
                t0 = time.time()
                time.sleep(random.uniform(0.005, 0.05))
                t1 = time.time()
        except LockBusy:
            break
        with open(log_path, "a") as fh:
            fh.write(f"{me} {t0:.6f} {t1:.6f}\n")
        n += 1
        time.sleep(random.uniform(0, 0.02))
    intervals = []
    with contextlib.suppress(OSError), open(log_path) as fh:
        for line in fh:
            parts = line.split()
            if len(parts) == 3:
                intervals.append((float(parts[1]), float(parts[2]), parts[0]))
    intervals.sort()
    # Overlap: an interval starts before an earlier interval of another holder has ended.
    overlaps = 0
    for i, (start, _end, who) in enumerate(intervals):
        if any(s2 <= start < e2 and w2 != who for s2, e2, w2 in intervals[max(0, i - 50):i]):
            overlaps += 1
    holders = sorted({i[2] for i in intervals})
    return {"log": str(log_path), "acquisitions": n, "total_intervals": len(intervals), "holders": holders,
            "overlaps": overlaps, "backend": lock.backend, "reason": lock.backend_info[1]}
