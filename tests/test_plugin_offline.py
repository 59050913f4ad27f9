"""Offline re-runs (storage setting ``recheck``) and a movable ledger (``ledger_dir``): real `snakemake`
runs against majora-lite, with the requests counted by majora-lite itself (``/_lite/counters``)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fixtures_plugin import jobs_run, output_of, run_snakemake

from snakemake_majora.plugin import StorageProviderSettings, parse_recheck, resolve_settings

SNAKEFILE = """
import json
SAMPLES = json.load(open("samples.json"))

storage:
    provider="majora",
    keep_local=True,

rule all:
    input: expand("qc/{s}.json", s=SAMPLES)

rule qc:
    input: storage.majora("majora://biosample/{s}")
    output: "qc/{s}.json"
    shell: "cp {input} {output}"
"""

N = 12


def _requests(lite) -> int:
    """Every request majora-lite answered (API calls and the token endpoint alike)."""
    return sum(lite.counters()["paths"].values())


def _gets(lite) -> int:
    return lite.counters()["paths"].get("/api/v2/artifact/biosample/get/", 0)


def _workflow(plugin_env, path: Path, samples: list[str]) -> Path:
    path.mkdir(parents=True)
    (path / "samples.json").write_text(json.dumps(samples))
    (path / "Snakefile").write_text(SNAKEFILE)
    return path


def _ok(proc):
    assert proc.returncode == 0, output_of(proc)[-3000:]
    return output_of(proc)


def test_recheck_never_makes_no_request_and_always_notices_the_change(plugin_env, tmp_path):
    lite, home = plugin_env.lite, plugin_env.home
    samples = plugin_env.samples[100:100 + N]
    wd = _workflow(plugin_env, tmp_path / "wf", samples)
    _ok(run_snakemake(wd, home.env, "--cores", "2"))

    # Negative control: the default (`always`) asks Majora about every record, even in a dry run.
    before = _requests(lite)
    out = _ok(run_snakemake(wd, home.env, "-n", "--cores", "2"))
    assert "Nothing to be done" in out
    assert _requests(lite) - before >= N

    changed = samples[3]
    assert home.client().update_biosamples([{"central_sample_id": changed, "adm2": "OFFLINETOWN"}])["updated"]

    # `never`, on the command line: a dry run and a real run make zero requests, token check included
    # (and so they do not notice the change: that is what `never` trades away).
    before = _requests(lite)
    out = _ok(run_snakemake(wd, home.env, "-n", "--cores", "2", "--storage-majora-recheck", "never"))
    assert "Nothing to be done" in out
    out = _ok(run_snakemake(wd, home.env, "--cores", "2", "--storage-majora-recheck", "never"))
    assert "Nothing to be done" in out
    assert _requests(lite) - before == 0

    # A local copy that no longer matches the ledger is not trusted, and a missing one is fetched: one
    # request each, and as their records did not change, nothing reruns. (Snakemake writes local copies
    # only for jobs that run, so these two are asked for again until a job needs them.)
    copies = wd / ".snakemake" / "storage" / "majora" / "biosample"
    (copies / f"{samples[1]}.json").write_text('{"tampered": true}\n')
    (copies / f"{samples[0]}.json").unlink()
    before = _gets(lite)
    proc = run_snakemake(wd, {**home.env, "SNAKEMAKE_STORAGE_MAJORA_RECHECK": "never"}, "--cores", "2")
    _ok(proc)
    assert _gets(lite) - before == 2
    assert jobs_run(proc, "qc") == 0

    # Back to the default: the change made on Majora is noticed and exactly its job reruns.
    proc = run_snakemake(wd, home.env, "--cores", "2")
    out = _ok(proc)
    assert jobs_run(proc, "qc") == 1
    assert f"Updated input files: majora://biosample/{changed}" in out
    assert json.loads((wd / "qc" / f"{changed}.json").read_text())["adm2"] == "OFFLINETOWN"



def _age_confirmations(ledger: Path, seconds: float) -> None:
    """Pretend Majora last confirmed every record ``seconds`` ago (as if the last run was that long ago)."""
    doc = json.loads(ledger.read_text())
    for entry in doc["entries"].values():
        entry["checked"] = time.time() - seconds
    ledger.write_text(json.dumps(doc))


def test_recheck_max_age_from_a_workflow_profile(plugin_env, tmp_path):
    lite, home = plugin_env.lite, plugin_env.home
    samples = plugin_env.samples[120:120 + N]
    wd = _workflow(plugin_env, tmp_path / "wf", samples)
    _ok(run_snakemake(wd, home.env, "--cores", "2"))
    ledger = wd / ".snakemake" / "storage" / "majora" / ".majora-ledger.json"
    assert all("checked" in e for e in json.loads(ledger.read_text())["entries"].values())

    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "config.yaml").write_text("storage-majora-recheck: 1h\n")
    _age_confirmations(ledger, 2 * 3600)

    # Confirmed two hours ago, window one hour: every record is asked again (and confirmed anew) ...
    before = _gets(lite)
    out = _ok(run_snakemake(wd, home.env, "-n", "--cores", "2", "--profile", str(profile)))
    assert "Nothing to be done" in out
    assert _gets(lite) - before == N
    # ... so the next invocation within the hour asks nothing.
    before = _requests(lite)
    out = _ok(run_snakemake(wd, home.env, "-n", "--cores", "2", "--profile", str(profile)))
    assert "Nothing to be done" in out
    assert _requests(lite) - before == 0

    # A window that covers the last confirmation asks nothing either.
    _age_confirmations(ledger, 2 * 3600)
    before = _requests(lite)
    _ok(run_snakemake(wd, home.env, "-n", "--cores", "2", "--storage-majora-recheck", "3h"))
    assert _requests(lite) - before == 0


def test_ledger_dir_survives_clearing_the_storage_directory(plugin_env, tmp_path):
    lite, home = plugin_env.lite, plugin_env.home
    samples = plugin_env.samples[140:140 + N]
    cache = tmp_path / "shared-cache"
    args = ("--cores", "2", "--storage-majora-ledger-dir", str(cache))
    wd = _workflow(plugin_env, tmp_path / "wf", samples)
    _ok(run_snakemake(wd, home.env, *args))
    assert (cache / ".majora-ledger.json").is_file()
    assert not (wd / ".snakemake" / "storage" / "majora" / ".majora-ledger.json").exists()
    entries = json.loads((cache / ".majora-ledger.json").read_text())["entries"]
    assert len(entries) == N

    # Clearing Snakemake's storage directory loses the local copies, not the first-seen times:
    # the records are fetched again, and since their content is unchanged nothing reruns.
    import shutil

    shutil.rmtree(wd / ".snakemake" / "storage")
    before = _gets(lite)
    proc = run_snakemake(wd, home.env, *args)
    out = _ok(proc)
    assert _gets(lite) - before == N
    assert jobs_run(proc, "qc") == 0, out[-2000:]

    # A second workflow sharing the cache directory agrees on the records' first-seen times.
    other = _workflow(plugin_env, tmp_path / "other", samples[:3])
    _ok(run_snakemake(other, home.env, *args))
    after = json.loads((cache / ".majora-ledger.json").read_text())["entries"]
    assert all(after[q]["first_seen"] == entries[q]["first_seen"] for q in entries)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, 0.0), ("always", 0.0), ("never", float("inf")), ("12h", 43200.0), ("1h30m", 5400.0),
     ("90s", 90.0), ("7d", 604800.0), ("2w", 1209600.0), (" 30M ", 1800.0)],
)
def test_recheck_values(value, seconds):
    assert parse_recheck(value) == seconds


@pytest.mark.parametrize("bad", ["sometimes", "12", "h", "-1h", "12hours", "1h 2x"])
def test_bad_recheck_is_one_clear_line(bad):
    from snakemake_interface_common.exceptions import WorkflowError

    with pytest.raises(WorkflowError) as err:
        resolve_settings(StorageProviderSettings(recheck=bad))
    message = str(err.value)
    assert "\n" not in message and "--storage-majora-recheck" in message and "12h" in message
