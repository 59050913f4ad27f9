"""The record ledger: first-seen times shared by concurrent processes (real processes, no mocks)."""

import contextlib
import json
import multiprocessing as mp
import time

import pytest

from snakemake_majora.ledger import Ledger


class UnlockedLedger(Ledger):
    """Negative control: the same ledger with its file lock removed."""

    def __init__(self, path):
        super().__init__(path)
        self._file_lock = contextlib.nullcontext()


def _observe_many(args):
    path, worker, n, unlocked, *mode = args
    for i in range(n):
        # a fresh Ledger per record: every observation is a separate read-modify-write of the file
        ledger = UnlockedLedger(path) if unlocked else Ledger(path, lock_mode=mode[0] if mode else "auto")
        ledger.first_seen(f"majora://biosample/W{worker}-{i}", "d" * 64)
    return worker


def _first_seen_shared(args):
    path, barrier_time = args
    while time.time() < barrier_time:
        time.sleep(0.001)
    return Ledger(path).first_seen("majora://biosample/SHARED", "a" * 64)


def _run(fn, jobs):
    ctx = mp.get_context("spawn")
    with ctx.Pool(len(jobs)) as pool:
        return pool.map(fn, jobs)


def test_same_content_keeps_first_seen_and_change_moves_it(tmp_path):
    path = tmp_path / "ledger.json"
    t1 = Ledger(path).first_seen("majora://biosample/A", "1" * 64)
    time.sleep(0.01)
    assert Ledger(path).first_seen("majora://biosample/A", "1" * 64) == t1  # other process, same content
    t2 = Ledger(path).first_seen("majora://biosample/A", "2" * 64)
    assert t2 > t1
    # reverting to old content is a change too: outputs built from "2" must be rebuilt
    assert Ledger(path).first_seen("majora://biosample/A", "1" * 64) > t2
    doc = json.loads(path.read_text())
    assert doc["version"] == 1 and set(doc["entries"]) == {"majora://biosample/A"}


def test_noted_observations_are_flushed_in_one_write(tmp_path):
    path = tmp_path / "ledger.json"
    ledger = Ledger(path)
    for i in range(100):
        ledger.note(f"majora://biosample/S{i}", f"{i:064d}")
    assert not path.exists()
    t = ledger.first_seen("majora://biosample/S0", f"{0:064d}")
    assert len(json.loads(path.read_text())["entries"]) == 100
    mtime = path.stat().st_mtime_ns
    assert ledger.first_seen("majora://biosample/S99", f"{99:064d}") == t  # memory hit, no write
    assert path.stat().st_mtime_ns == mtime


def test_unreadable_ledger_counts_records_as_new(tmp_path):
    path = tmp_path / "ledger.json"
    path.write_text("{not json")
    assert Ledger(path).first_seen("majora://summary", "e" * 64) > 0
    assert "majora://summary" in json.loads(path.read_text())["entries"]


@pytest.mark.parametrize("mode", ["flock", "lease"])
def test_concurrent_processes_lose_no_updates(tmp_path, mode):
    # The ledger takes the token store's lock: flock, or the lease used on file systems without
    # coherent locks (ledger_dir on such a mount); the negative control below drops the lock.
    path = str(tmp_path / "ledger.json")
    _run(_observe_many, [(path, w, 40, False, mode) for w in range(4)])
    entries = json.loads((tmp_path / "ledger.json").read_text())["entries"]
    assert len(entries) == 160
    assert not list(tmp_path.glob("*.tmp"))
    if mode == "flock":
        assert (tmp_path / "ledger.json.lock").exists()  # the sidecar lock file is never deleted


def test_negative_control_without_file_lock_loses_updates(tmp_path):
    path = str(tmp_path / "ledger.json")
    _run(_observe_many, [(path, w, 40, True) for w in range(4)])
    entries = json.loads((tmp_path / "ledger.json").read_text())["entries"]
    assert len(entries) < 160, "without the lock, concurrent read-modify-write should lose entries"


def test_concurrent_first_sightings_agree(tmp_path):
    path = str(tmp_path / "ledger.json")
    start = time.time() + 1.0
    times = _run(_first_seen_shared, [(path, start)] * 4)
    assert len(set(times)) == 1


def test_lock_files_are_private_unless_the_ledger_dir_is_a_group_cache(tmp_path):
    """Whoever can open the lock file, even read-only, can flock it and stall the workflow (issue 18/9)."""
    import os
    import stat

    old = os.umask(0o002)  # a group-friendly umask must not open the lock file to everyone
    try:
        private = tmp_path / "private"
        Ledger(private / "ledger.json").first_seen("majora://summary", "e" * 64)
        for name in ("ledger.json.lock", "ledger.json.holder"):
            assert stat.S_IMODE((private / name).stat().st_mode) == 0o600, name
        old_lock = tmp_path / "old" / "ledger.json.lock"  # left 0644 by an older version
        old_lock.parent.mkdir()
        old_lock.touch(mode=0o644)
        Ledger(old_lock.parent / "ledger.json").first_seen("majora://summary", "e" * 64)
        assert stat.S_IMODE(old_lock.stat().st_mode) == 0o600

        cache = tmp_path / "cache"
        cache.mkdir()
        cache.chmod(0o2770)  # the documented group-shared cache
        Ledger(cache / "ledger.json", shared=True).first_seen("majora://summary", "e" * 64)
        for name in ("ledger.json.lock", "ledger.json.holder"):
            assert stat.S_IMODE((cache / name).stat().st_mode) == 0o660, name
    finally:
        os.umask(old)


def test_a_confirmation_in_the_future_is_not_one(tmp_path, caplog):
    """A `checked` set to 2100 in a shared ledger must not stop rechecks for everyone."""
    path = tmp_path / "ledger.json"
    Ledger(path).first_seen("majora://biosample/A", "1" * 64)
    doc = json.loads(path.read_text())
    doc["entries"]["majora://biosample/A"]["checked"] = 4102444800.0  # 2100-01-01
    path.write_text(json.dumps(doc))
    hour_ago = time.time() - 3600
    with caplog.at_level("WARNING"):
        ledger = Ledger(path)
        assert not ledger.checked_since("majora://biosample/A", "1" * 64, hour_ago)
    assert "in the future" in caplog.text and str(path) in caplog.text
    # the next confirmation replaces it with a real time
    ledger.note("majora://biosample/A", "1" * 64)
    ledger.flush()
    assert Ledger(path).checked_since("majora://biosample/A", "1" * 64, hour_ago)
    assert json.loads(path.read_text())["entries"]["majora://biosample/A"]["checked"] <= time.time()
