"""Many processes, one credential, a strict server (rotation + reuse protection): the refresh race."""

import os
import stat

N_RACE = 50
#: Seconds between a worker's last look at the store and its refresh request (a token endpoint's round
#: trip): without it, how many unlocked workers overlap depends on the machine's speed and load.
POST_DELAY = 0.5


def _race(home, n, **spec):
    before = home.expire_in(300)  # inside the 15-min margin; the server-side token is still valid
    procs = home.spawn(n, {"calls": 2, **spec})
    home.release(procs)
    return before, home.results(procs)


def test_race_50_processes_one_refresh(strict_home):
    lite = strict_home.lite
    before, results = _race(strict_home, N_RACE, post_delay=POST_DELAY)
    c = lite.counters()
    failures = [e for r in results for e in r["errors"]]
    assert failures == [] and all(r["returncode"] == 0 for r in results)
    assert sum(r["ok"] for r in results) == 2 * N_RACE
    assert c["token_endpoint_calls"] == 1 and c["refreshes"] == 1
    assert c["invalid_grant"] == 0 and c["family_revocations"] == 0
    after = strict_home.read_store()
    assert after["generation"] == before["generation"] + 1 and after["invalid"] is None
    assert stat.S_IMODE(os.stat(strict_home.token_file).st_mode) == 0o600
    assert strict_home.token_file.with_name(strict_home.token_file.name + ".lock").exists()
    assert {g for r in results for g in r["generations"]} == {after["generation"]}
    # Every API call afterwards succeeds, from a fresh process too.
    assert strict_home.cli("get", "biosample", "BIRM-00001").returncode == 0


def test_negative_control_without_lock_breaks(strict_home):
    """Same race with the lock replaced by a no-op in the workers: duplicate refreshes and failures."""
    lite = strict_home.lite
    _before, results = _race(strict_home, N_RACE, no_lock=True, post_delay=POST_DELAY)
    c = lite.counters()
    assert c["token_endpoint_calls"] > 1
    assert c["invalid_grant"] > 0
    assert sum(r["fail"] for r in results) > 0


def test_calls_in_flight_while_another_process_forces_refreshes(strict_home):
    lite = strict_home.lite
    callers = [{"mode": "calls", "duration": 8}] * 3
    procs = strict_home.spawn(4, {}, specs=[{"mode": "refresher", "duration": 8, "every": 1.5}, *callers])
    strict_home.release(procs)
    results = strict_home.results(procs)
    refresher, calls = results[0], results[1:]
    assert refresher["fail"] == 0 and len(refresher["generations"]) >= 3
    assert [e for r in calls for e in r["errors"]] == []
    assert sum(r["ok"] for r in calls) > 20
    c = lite.counters()
    assert c["invalid_grant"] == 0 and c["refreshes"] == len(refresher["generations"])


def test_clock_skew_between_processes(strict_home):
    lite = strict_home.lite
    strict_home.expire_in(600)
    offsets = [-600, 600, 0, -600, 600, 0, -600, 600]
    procs = strict_home.spawn(len(offsets), {}, specs=[{"calls": 2, "clock_offset": o} for o in offsets])
    strict_home.release(procs)
    results = strict_home.results(procs)
    assert [e for r in results for e in r["errors"]] == []
    c = lite.counters()
    assert c["invalid_grant"] == 0 and 1 <= c["refreshes"] <= 2


def test_race_with_the_lease_backend(strict_home):
    """The lease lock (used on NFS nolock, Lustre localflock, FUSE, GPFS) also gives exactly one refresh."""
    strict_home.env["SNAKEMAKE_MAJORA_LOCK"] = "lease"
    before, results = _race(strict_home, 20)
    assert [e for r in results for e in r["errors"]] == []
    c = strict_home.lite.counters()
    assert c["token_endpoint_calls"] == 1 and c["invalid_grant"] == 0
    assert strict_home.read_store()["generation"] == before["generation"] + 1
    assert strict_home.cli("status", "--json").stdout.count('"lease"') == 1
