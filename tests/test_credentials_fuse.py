"""The token store on a real FUSE mount (bindfs): the lock backend is chosen from the live mount table,
and the refresh race is safe with it. Negative control: the same race with the lock switched off."""

from __future__ import annotations

import json
import os
import stat

import pytest
from cluster.fuse import bindfs_mount
from fixtures_client import MajoraHome

N = 20


@pytest.fixture(scope="module")
def fuse_dir(tmp_path_factory):
    yield from bindfs_mount(tmp_path_factory.mktemp("fuse-src"), tmp_path_factory.mktemp("fuse-mnt"))


@pytest.fixture
def fuse_home(strict_lite, fuse_dir, request):
    """A logged-in home whose config, token store, lock files and lease live on the FUSE mount."""
    strict_lite.clear_faults()
    home = MajoraHome(strict_lite, fuse_dir / request.node.name.replace("[", "-").strip("]"))
    strict_lite.reset_counters()
    return home


def _race(home, **spec):
    before = home.expire_in(300)  # inside the refresh margin; the server-side token is still valid
    procs = home.spawn(N, {"calls": 2, **spec})
    home.release(procs)
    return before, home.results(procs)


def test_lease_chosen_from_the_mount_table_and_one_refresh(fuse_home):
    status = json.loads(fuse_home.cli("status", "--json").stdout)
    assert status["lock_backend"] == "lease" and "is fuse" in status["lock_reason"], status
    before, results = _race(fuse_home)
    assert [e for r in results for e in r["errors"]] == [] and all(r["returncode"] == 0 for r in results)
    c = fuse_home.lite.counters()
    assert c["token_endpoint_calls"] == 1 and c["refreshes"] == 1
    assert c["invalid_grant"] == 0 and c["family_revocations"] == 0
    after = fuse_home.read_store()
    assert after["generation"] == before["generation"] + 1
    assert {g for r in results for g in r["generations"]} == {after["generation"]}
    assert stat.S_IMODE(os.stat(fuse_home.token_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(fuse_home.token_file.parent).st_mode) == 0o700
    lease = fuse_home.token_file.with_name(fuse_home.token_file.name + ".lease")
    assert not lease.exists()  # released after the refresh
    assert fuse_home.cli("get", "biosample", "BIRM-00001").returncode == 0


def test_negative_control_without_lock_on_fuse(fuse_home):
    """The same race on the same mount with the lock replaced by a no-op: duplicate refreshes, failures."""
    _before, results = _race(fuse_home, no_lock=True)
    c = fuse_home.lite.counters()
    assert c["token_endpoint_calls"] > 1 and c["invalid_grant"] > 0
    assert sum(r["fail"] for r in results) > 0
