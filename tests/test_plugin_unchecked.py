"""A re-run never reports success on Majora inputs it could not check (issue 17).

One finished workflow per module, whose record then changed on the server; each way of not reaching
Majora (config error, no credential, dead credential, HTTP 500, server down) must stop `snakemake` and
`snakemake -n` with one line and a sysexits code, and the healthy control run re-runs exactly the changed
job. Offline runs (``recheck: never`` or a covering window) with ``preflight()`` in ``onstart`` go on with
0 requests and say so once. Real Snakemake runs against a majora-lite of this module's own (it is stopped
at the end to play "Majora is down").
"""

from __future__ import annotations

import json
import shutil
import socket
import threading

import pytest
from fixtures_plugin import PluginHome, jobs_run, output_of, run_snakemake
from fixtures_server import start_lite

from snakemake_majora.errors import EX_CONFIG, EX_NOINPUT, EX_NOPERM, EX_TEMPFAIL, EX_UNAVAILABLE

SNAKEFILE = """
import json
from snakemake_majora.jobs import preflight
SAMPLES = json.load(open("samples.json"))

storage:
    provider="majora",
    keep_local=True,

onstart:
    preflight()

rule all:
    input: expand("qc/{s}.json", s=SAMPLES)

rule qc:
    input: storage.majora("majora://biosample/{s}")
    output: "qc/{s}.json"
    shell: "cp {input} {output}"
"""

N = 6


@pytest.fixture(scope="module")
def uc(tmp_path_factory):
    """A module-own majora-lite, a logged-in home, and a finished workflow whose third record changed."""
    lite = start_lite(tmp_path_factory.mktemp("uc-lite"), biosamples=10)
    try:
        root = tmp_path_factory.mktemp("uc")
        home = PluginHome(lite, root / "home")
        samples = sorted(k for k, v in home.client().biosample_validity(
            [f"{o}-{i:05d}" for o in lite.seed_summary["organisations"] for i in range(1, 11)]).items()
            if v.get("exists"))[:N]
        wd = root / "wf"
        wd.mkdir()
        (wd / "samples.json").write_text(json.dumps(samples))
        (wd / "Snakefile").write_text(SNAKEFILE)
        first = run_snakemake(wd, home.env, "--cores", "2")
        assert first.returncode == 0, output_of(first)[-3000:]
        changed = samples[2]
        assert home.client().update_biosamples([{"central_sample_id": changed, "adm2": "UCTOWN"}])["updated"]
        yield {"lite": lite, "home": home, "wd": wd, "samples": samples, "changed": changed, "root": root}
    finally:
        lite.server.stop()


def _home_variant(uc, name: str, *, config: str | None = None, tokens: str = "keep") -> dict[str, str]:
    """The env of a copy of the logged-in home: its config text replaced, its tokens kept, removed, or
    replaced by ones the server never issued (what a revoked family looks like to the client)."""
    src: PluginHome = uc["home"]
    dst = uc["root"] / f"home-{name}" / "smh"
    shutil.copytree(src.home, dst)
    if config is not None:
        (dst / "config.yaml").write_text(config)
    store = next((dst / "tokens").glob("*.json"))
    if tokens == "missing":
        shutil.rmtree(dst / "tokens")
    elif tokens == "revoked":
        data = json.loads(store.read_text())
        data.update(access_token="A" * 30, refresh_token="R" * 30, expires_at=0)
        store.write_text(json.dumps(data))
    return {**src.env, "SNAKEMAKE_MAJORA_HOME": str(dst)}


def _stopped(proc, code: int, *needles: str) -> str:
    out = output_of(proc)
    assert proc.returncode == code, out[-3000:]
    lines = [ln for ln in out.splitlines() if ln.startswith("majora: ")]
    assert len(lines) == 1, out[-3000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Nothing to be done" not in out and "Traceback" not in out
    return lines[0]


def _config_with_typo(uc) -> str:
    conf = json.loads(uc["home"].config_file.read_text())
    prof = conf["profiles"]["test"]
    prof["client-secret"] = prof.pop("client_secret")
    return json.dumps(conf)


CAUSES = {
    "config error": (EX_CONFIG, "config", "client-secret in profile 'test'"),
    "missing credential": (EX_NOPERM, "missing", "snakemake-majora login"),
    "revoked credential": (EX_NOPERM, "revoked", "snakemake-majora login"),
    "HTTP 500": (EX_UNAVAILABLE, "500", "HTTP 500"),
}


@pytest.mark.parametrize("cause", list(CAUSES))
def test_unreachable_inputs_stop_the_run_and_the_dry_run(uc, cause):
    code, how, needle = CAUSES[cause]
    lite = uc["lite"]
    env = uc["home"].env
    if how == "config":
        env = _home_variant(uc, "config", config=_config_with_typo(uc))
    elif how in ("missing", "revoked"):
        env = _home_variant(uc, how, tokens=how)
    else:
        lite.set_faults([{"action": "error", "path": "/api/v2/artifact/biosample/get/", "status": 500}])
    try:
        for args in (("-n",), ()):
            proc = run_snakemake(uc["wd"], env, "--cores", "2", *args)
            _stopped(proc, code, f"{N} Majora inputs of this run could not be checked", needle)
            assert jobs_run(proc, "qc") == 0
    finally:
        lite.clear_faults()


def test_healthy_control_reruns_exactly_the_changed_job(uc):
    proc = run_snakemake(uc["wd"], uc["home"].env, "--cores", "2")
    out = output_of(proc)
    assert proc.returncode == 0, out[-3000:]
    assert jobs_run(proc, "qc") == 1
    assert f"Updated input files: majora://biosample/{uc['changed']}" in out
    assert not [ln for ln in out.splitlines() if ln.startswith("majora: ")]


def test_unknown_sample_is_one_line(uc, tmp_path):
    proc = run_snakemake(tmp_path, uc["home"].env, "--cores", "1", "-n", snakefile="""
        rule all:
            input: storage.majora("majora://biosample/NOPE-00042")
        """)
    _stopped(proc, EX_NOINPUT, "not found on Majora: majora://biosample/NOPE-00042",
             "snakemake-majora get biosample")


def test_unknown_storage_keyword_is_one_error(uc, tmp_path):
    """Snakemake copies any keyword of the storage directive into the settings: a typo did nothing."""
    proc = run_snakemake(tmp_path, uc["home"].env, "--cores", "1", "-n", snakefile="""
        storage:
            provider="majora",
            recheck_after="12h",
        rule all:
            input: storage.majora("majora://biosample/NOPE-00042")
        """)
    out = output_of(proc)
    assert proc.returncode != 0
    assert "unknown majora storage setting 'recheck_after' in the storage directive; did you mean recheck?" \
        in out
    assert "the allowed ones are" in out and "ledger_dir" in out and "Traceback" not in out


def test_config_key_typo_names_the_allowed_keys(uc):
    from snakemake_majora.config import load_settings
    from snakemake_majora.errors import ConfigError

    env = _home_variant(uc, "typo", config=_config_with_typo(uc))
    with pytest.raises(ConfigError) as err:
        load_settings(env=env)
    message = str(err.value)
    assert "unknown key(s) client-secret in profile 'test'" in message
    assert "did you mean client_secret?" in message and "allowed keys: api_key, client_id" in message
    assert "\n" not in message


def test_held_ledger_lock_stops_the_run_naming_the_holder(uc, tmp_path):
    """Another process holds the ledger's lock: after the bounded wait, one line naming it (not a
    LedgerLockTimeout traceback after 120 s, and then a hang at exit)."""
    import subprocess
    import sys
    import time

    cache = tmp_path / "cache"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
         "from snakemake_majora.ledger import Ledger\n"
         f"with Ledger(Path({str(cache)!r}) / '.majora-ledger.json')._file_lock:\n"
         "    print('held', flush=True)\n    time.sleep(120)\n"],
        stdout=subprocess.PIPE, text=True, env=uc["home"].env)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        wd = tmp_path / "wf"
        wd.mkdir()
        (wd / "samples.json").write_text(json.dumps(uc["samples"][:2]))
        (wd / "Snakefile").write_text(SNAKEFILE)
        t0 = time.monotonic()
        proc = run_snakemake(wd, uc["home"].env, "--cores", "1", "--storage-majora-ledger-dir",
                             str(cache), "--storage-majora-ledger-lock-timeout", "2")
        line = _stopped(proc, EX_TEMPFAIL, "stayed locked for 2 s", f":{holder.pid} since ",
                        "--storage-majora-ledger-lock-timeout")
        assert "LedgerLockTimeout" not in output_of(proc) and line
        assert time.monotonic() - t0 < 60
    finally:
        holder.kill()
        holder.wait()


def test_example_workflow_without_the_publish_scopes_stops_before_any_job(uc, tmp_path):
    """The example workflow declares the publish scopes; this home's grant has only the default ones."""
    from workflow_helpers import snakemake, write_config

    work = tmp_path / "work"
    write_config(work, {"samples": uc["samples"][:2]}, publish={"run_name": "UC-RUN-1"})
    proc = snakemake(work, uc["home"].env, "--cores", "2")
    line = _stopped(proc, EX_NOPERM, "preflight failed: the stored Majora grant lacks the scope(s) "
                    "majora2.add_digitalresourceartifact majora2.change_digitalresourceartifact "
                    "majora2.add_pagqualityreport majora2.change_pagqualityreport", "set `scopes: ",
                    "`snakemake-majora login` again")
    assert "majora2.view_biosampleartifact" in line  # the whole line to set, default scopes included
    assert not (work / "results").exists()
    started = [ln for ln in output_of(proc).splitlines()
               if ln.strip().startswith(("rule ", "localrule ")) and ln.strip().endswith(":")]
    assert not started


class _DeadServer:
    """Majora's port with nobody answering: every connection is accepted, counted and closed."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


def test_server_down_stops_the_run_unless_offline_is_asked_for(uc):
    """Runs last in this module: it stops the module's server."""
    lite, home, wd = uc["lite"], uc["home"], uc["wd"]
    changed = uc["samples"][4]
    assert home.client().update_biosamples([{"central_sample_id": changed, "adm2": "DOWNTOWN"}])["updated"]
    port = int(lite.url.rstrip("/").rsplit(":", 1)[1])
    lite.server.stop()
    dead = _DeadServer(port)

    for args in (("-n",), ()):
        _stopped(run_snakemake(wd, home.env, "--cores", "2", *args), EX_TEMPFAIL,
                 f"{N} Majora inputs of this run could not be checked", "network error", "retry later")
    assert dead.connections > 0

    # Offline on purpose: no request at all (token refresh of the onstart preflight() included), and
    # one line saying what was used unchecked.
    for recheck in ("never", "30d"):
        before = dead.connections
        proc = run_snakemake(wd, home.env, "--cores", "2", "--storage-majora-recheck", recheck)
        out = output_of(proc)
        assert proc.returncode == 0, out[-3000:]
        assert "Nothing to be done" in out
        assert dead.connections == before
        lines = [ln for ln in out.splitlines() if ln.startswith("majora: ")]
        assert len(lines) == 1 and f"{N} inputs used from local copies without asking Majora" in lines[0]
        assert f"(recheck: {recheck})" in lines[0] and "last confirmed by Majora" in lines[0]

    # A local copy that is gone cannot be used offline: the run stops naming it.
    (wd / ".snakemake" / "storage" / "majora" / "biosample" / f"{uc['samples'][0]}.json").unlink()
    line = _stopped(run_snakemake(wd, home.env, "--cores", "2", "--storage-majora-recheck", "never"),
                    EX_TEMPFAIL, f"majora://biosample/{uc['samples'][0]} (no local copy that the ledger "
                    "verifies)", "1 Majora input of this run could not be checked",
                    "run again when Majora can be reached")
    assert "network error" in line
