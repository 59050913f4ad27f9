"""The record ledger: when did we first see the current content of each query?

Majora exposes no last-modified time, so the storage plugin derives one: the ledger maps each canonical
query to the sha256 of its canonical bytes and the time that content was first seen. ``mtime()`` of a
record is that time, so an unchanged record keeps its old mtime (no rerun) and a changed one gets a new
mtime (its consumers rerun). Reverting to an older content counts as a change too.

Each entry also keeps when Majora last confirmed that content (``checked``), so that re-runs may trust a
verified local copy instead of asking again (the storage setting ``recheck``).

The file is shared by every process of a workflow (main process, ``run:`` subprocesses, cluster jobs on
a shared file system), and may be shared by several workflows (the storage setting ``ledger_dir``), so
updates happen under the token store's kind of lock (:class:`snakemake_majora.locking.TokenLock`: flock,
or a lease file where the file system does not forward locks), re-read the file inside the lock, and
replace it atomically. Lookups of already-known content need no lock: an entry only changes when the
content changes, and then the reader sees the new digest itself.

The lock's sidecar files are created 0600 (anyone who can open the lock file, even read-only, can hold
an exclusive flock on it and stall the workflow); a ``ledger_dir`` that is a group-shared cache (the
directory is group-writable) gets 0660, so the group members it trusts, and only they, share the lock.
The wait for the lock is bounded (the ``ledger_lock_timeout`` storage setting): then the run stops with
one line naming the holder. A ``checked`` (or ``first_seen``) time in the future, which only a damaged or
tampered ledger holds, counts as now: it must not stop rechecks for everyone sharing the ledger.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import threading
import time
from pathlib import Path

from .errors import TemporaryError
from .locking import LockBusy, TokenLock
from .store import atomic_write_private

log = logging.getLogger(__name__)

LEDGER_VERSION = 1
#: Seconds a `checked` time may lie ahead (clocks of the hosts sharing a ledger): counted as now.
CLOCK_SKEW = 300.0


class LedgerLockTimeout(TemporaryError):
    """The ledger's lock could not be had in time (another process holds it)."""


def lock_file_mode(directory: Path, shared: bool) -> int:
    """0600, or 0660 for a ``ledger_dir`` that is a group-shared cache (a group-writable directory)."""
    if shared:
        try:
            if os.stat(directory).st_mode & stat.S_IWGRP:
                return 0o660
        except OSError:
            pass
    return 0o600


class _LedgerLock:
    """Context manager around the ledger's :class:`TokenLock` (flock or lease, chosen from the mount)."""

    def __init__(self, path: Path, mode: str, timeout: float, shared: bool = False) -> None:
        self.lock = TokenLock(path, mode, private=False,
                              file_mode=lock_file_mode(path.parent, shared))
        self.timeout = timeout
        self._held: contextlib.AbstractContextManager[None] | None = None

    def __enter__(self) -> None:
        held = self.lock.hold(self.timeout)
        try:
            held.__enter__()
        except LockBusy:
            raise LedgerLockTimeout(
                f"the majora ledger {self.lock.token_path} stayed locked for {self.timeout:g} s "
                f"(last holder: {self.lock.holder()}); try again when that process has finished, or "
                "raise --storage-majora-ledger-lock-timeout"
            ) from None
        self._held = held

    def __exit__(self, *exc: object) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.__exit__(None, None, None)


class Ledger:
    """A JSON ledger ``{query: {"sha256": hex, "first_seen": epoch}}`` at ``path``.

    Thread-safe. Observations are batched: :meth:`note` is cheap and lock-free on disk, and the next
    :meth:`first_seen` that misses flushes every pending observation under one file lock, so fetching
    1,000 records costs a handful of ledger writes, not 1,000.
    """

    def __init__(self, path: Path, *, lock_timeout: float = 60.0, lock_mode: str = "auto",
                 shared: bool = False) -> None:
        self.path = Path(path)
        self._file_lock: contextlib.AbstractContextManager[None] = _LedgerLock(self.path, lock_mode,
                                                                              lock_timeout, shared)
        self._mutex = threading.Lock()
        self._known: dict[str, tuple[str, float]] | None = None
        self._checked: dict[str, float] = {}  # when Majora last confirmed the recorded content
        self._pending: dict[str, str] = {}
        self._pending_checked: dict[str, tuple[str, float]] = {}
        self._gave_up = False  # the lock stayed held once: do not wait again at exit

    # -- reading and writing the file --------------------------------------------------------------

    def _read(self) -> dict[str, tuple[str, float]]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            entries = raw["entries"]
            now = time.time()
            known = {q: (str(e["sha256"]), min(float(e["first_seen"]), now)) for q, e in entries.items()}
            # Ledgers written before `checked` existed: the content was confirmed when first seen.
            checked = {q: float(e.get("checked", e["first_seen"])) for q, e in entries.items()}
            future = [q for q, t in checked.items() if t > now + CLOCK_SKEW]
            if future:
                log.warning("majora: ignoring %d confirmation time(s) in the future in the ledger %s (e.g. "
                            "%s); those records are asked again", len(future), self.path, future[0])
            # A time a little ahead is another host's clock: now. Further ahead it is no confirmation
            # (a tampered shared ledger must not freeze rechecks for everyone): never confirmed.
            self._checked = {q: (0.0 if t > now + CLOCK_SKEW else min(t, now)) for q, t in checked.items()}
            return known
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            # A damaged ledger only costs reruns (everything looks new); it must not stop the workflow.
            log.warning("majora: ignoring unreadable ledger %s; records will count as new", self.path)
            return {}

    def _write(self, entries: dict[str, tuple[str, float]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "version": LEDGER_VERSION,
            "entries": {
                q: {"sha256": d, "first_seen": t, "checked": self._checked.get(q, t)}
                for q, (d, t) in sorted(entries.items())
            },
        }
        # Not secret, and readable by everyone sharing the workflow whatever their umask.
        text = json.dumps(doc, indent=1, sort_keys=True) + "\n"
        atomic_write_private(self.path, text.encode("utf-8"), 0o644, exact_mode=True)

    # -- public API ---------------------------------------------------------------------------------

    def note(self, query: str, digest: str) -> None:
        """Remember that Majora answered ``query`` with content ``digest`` now; written on the next flush."""
        now = time.time()
        with self._mutex:
            self._pending_checked[query] = (digest, now)
            if self._known is not None and self._known.get(query, ("",))[0] == digest:
                return
            self._pending[query] = digest

    def checked_since(self, query: str, digest: str, since: float) -> bool:
        """True if Majora confirmed content ``digest`` of ``query`` at or after epoch ``since``."""
        hit = self.lookup(query)
        if hit is None or hit[0] != digest:
            return False
        with self._mutex:
            return self._checked.get(query, hit[1]) >= since

    def checked(self, query: str) -> float | None:
        """When Majora last confirmed the recorded content of ``query`` (epoch), or None."""
        hit = self.lookup(query)
        if hit is None:
            return None
        with self._mutex:
            return self._checked.get(query, hit[1])

    def lookup(self, query: str) -> tuple[str, float] | None:
        """``(sha256, first_seen)`` recorded for ``query``, or None; reads the file once per process."""
        with self._mutex:
            if self._known is None:
                self._known = self._read()
            return self._known.get(query)

    def known(self, query: str, digest: str) -> float | None:
        """First-seen time if ``digest`` is already recorded for ``query`` (no write), else None."""
        hit = self.lookup(query)
        return hit[1] if hit is not None and hit[0] == digest else None

    def first_seen(self, query: str, digest: str) -> float:
        """Epoch time at which content ``digest`` of ``query`` was first seen (now, if it is new)."""
        with self._mutex:
            if self._known is None:
                self._known = self._read()
            hit = self._known.get(query)
            if hit is not None and hit[0] == digest:
                return hit[1]
            self._pending[query] = digest
            self._flush_locked()
            return self._known[query][1]

    def flush(self) -> None:
        """Write every pending observation (new content and confirmation times) now."""
        with self._mutex:
            if (self._pending or self._pending_checked) and not self._gave_up:
                self._flush_locked()

    def _flush_locked(self) -> None:
        try:
            self._flush_held()
        except LedgerLockTimeout:
            self._gave_up = True
            raise

    def _flush_held(self) -> None:
        with self._file_lock:
            # Re-read inside the lock: another process may have recorded the same content already,
            # and its time must win so that all processes agree on the mtime.
            entries = self._read()
            now = time.time()
            changed = False
            for query, digest in self._pending.items():
                old = entries.get(query)
                if old is None or old[0] != digest:
                    entries[query] = (digest, now)
                    self._checked[query] = now
                    changed = True
            for query, (digest, at) in self._pending_checked.items():
                # A confirmation counts only for the content it confirmed, and never moves back in time
                # (another workflow sharing the ledger may have confirmed it later).
                if entries.get(query, ("",))[0] == digest and at > self._checked.get(query, 0.0):
                    self._checked[query] = at
                    changed = True
            if changed:
                self._write(entries)
        self._known = entries
        self._pending = {}
        self._pending_checked = {}
