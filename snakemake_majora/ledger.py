"""The record ledger: when did we first see the current content of each query?

Majora exposes no last-modified time, so the storage plugin derives one: the ledger maps each canonical
query to the sha256 of its canonical bytes and the time that content was first seen. ``mtime()`` of a
record is that time, so an unchanged record keeps its old mtime (no rerun) and a changed one gets a new
mtime (its consumers rerun). Reverting to an older content counts as a change too.

The file is shared by every process of a workflow (main process, ``run:`` subprocesses, cluster jobs on
a shared file system), so updates happen under a file lock, re-read the file inside the lock, and
replace it atomically. Lookups of already-known content need no lock: an entry only changes when the
content changes, and then the reader sees the new digest itself.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path

from filelock import FileLock

log = logging.getLogger(__name__)

LEDGER_VERSION = 1


class Ledger:
    """A JSON ledger ``{query: {"sha256": hex, "first_seen": epoch}}`` at ``path``.

    Thread-safe. Observations are batched: :meth:`note` is cheap and lock-free on disk, and the next
    :meth:`first_seen` that misses flushes every pending observation under one file lock, so fetching
    1,000 records costs a handful of ledger writes, not 1,000.
    """

    def __init__(self, path: Path, *, lock_timeout: float = 120.0) -> None:
        self.path = Path(path)
        self._file_lock = FileLock(str(self.path) + ".lock", timeout=lock_timeout)
        self._mutex = threading.Lock()
        self._known: dict[str, tuple[str, float]] | None = None
        self._pending: dict[str, str] = {}

    # -- reading and writing the file --------------------------------------------------------------

    def _read(self) -> dict[str, tuple[str, float]]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            entries = raw["entries"]
            return {q: (str(e["sha256"]), float(e["first_seen"])) for q, e in entries.items()}
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
            "entries": {q: {"sha256": d, "first_seen": t} for q, (d, t) in sorted(entries.items())},
        }
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name + ".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=1, sort_keys=True)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)  # not secret; readable by everyone sharing the workflow
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # -- public API ---------------------------------------------------------------------------------

    def note(self, query: str, digest: str) -> None:
        """Remember that ``query`` currently has content ``digest``; written on the next flush."""
        with self._mutex:
            if self._known is not None and self._known.get(query, ("",))[0] == digest:
                return
            self._pending[query] = digest

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
        """Write every pending observation now."""
        with self._mutex:
            if self._pending:
                self._flush_locked()

    def _flush_locked(self) -> None:
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
                    changed = True
            if changed:
                self._write(entries)
        self._known = entries
        self._pending = {}
