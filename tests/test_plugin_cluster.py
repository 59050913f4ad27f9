"""Cluster-style run: the cluster-generic executor runs every job as its own `snakemake` process; jobs
check their majora:// inputs and call Majora themselves (CLI in `shell:`, library in `run:`), while the
server (strict: refresh-token reuse protection) issues 20-second access tokens, so the shared credential
is refreshed several times mid-run."""

import json
import math
import time

import pytest
from fixtures_plugin import (
    assert_no_secrets,
    existing_samples,
    jobs_run,
    login_home,
    output_of,
    run_snakemake,
)

LIFETIME = 20
# The negative control only needs each job's copied access token past half its life before the job's
# call: a short lifetime keeps that wait short (the strict server revokes on the reused refresh token,
# whenever the second refresh comes).
NEGATIVE_LIFETIME = 6

# The cluster lane: not in `make test` (see the Makefile), run with `make test-lanes`.
pytestmark = pytest.mark.cluster

SUBMIT = """#!/bin/bash
# cluster-generic submit command: run the jobscript detached, print a job id
mkdir -p cluster-logs
cp "$1" cluster-logs/  # keep the job's command line for the secrets scan
nohup bash "$1" > "cluster-logs/$(basename "$1").log" 2>&1 &
echo $!
"""

SNAKEFILE = """
import json
SAMPLES = json.load(open("samples.json"))
HALF = len(SAMPLES) // 2

rule all:
    input:
        expand("cli/{s}.json", s=SAMPLES[:HALF]),
        expand("lib/{s}.json", s=SAMPLES[HALF:])

rule by_cli:
    input: storage.majora("majora://biosample/{s}")
    output: "cli/{s}.json"
    shell: "sleep 1; snakemake-majora get biosample {wildcards.s} > {output}"

rule by_library:
    input: storage.majora("majora://biosample/{s}")
    output: "lib/{s}.json"
    run:
        import time
        from snakemake_majora.jobs import client
        time.sleep(1)
        rec = client().get_biosample(wildcards.s)
        assert rec == json.load(open(input[0]))
        json.dump(rec, open(output[0], "w"))
"""


def test_cluster_jobs_share_one_credential_across_expiries(lite_factory, tmp_path):
    lite = lite_factory(biosamples=60, strict=True, access_token_lifetime=LIFETIME)
    home = login_home(lite, tmp_path / "home")
    samples = existing_samples(home, 12)
    work = tmp_path / "wf"
    work.mkdir()
    (work / "samples.json").write_text(json.dumps(samples))
    (work / "submit.sh").write_text(SUBMIT)
    (work / "submit.sh").chmod(0o755)
    before = lite.counters()

    t0 = time.monotonic()
    proc = run_snakemake(
        work, home.env,
        "--executor", "cluster-generic", "--cluster-generic-submit-cmd", "./submit.sh",
        "--jobs", "4", "--latency-wait", "5",
        "--precommand", "snakemake-majora token --min-ttl 5 >/dev/null",
        snakefile=SNAKEFILE, timeout=300,
    )
    elapsed = time.monotonic() - t0
    after = lite.counters()
    out = output_of(proc)
    logs = "\n".join(f.read_text() for f in (work / "cluster-logs").glob("*.log"))
    jobscripts = [f.read_text() for f in (work / "cluster-logs").glob("*.sh")]
    assert len(jobscripts) == len(samples) and all("snakemake-majora token" in j for j in jobscripts)
    assert proc.returncode == 0, out[-3000:] + logs[-3000:]
    assert "Error" not in logs and "failed" not in out.lower().replace("failed jobs: 0", "")
    n_jobs = len(samples)
    assert jobs_run(proc, "by_cli") + jobs_run(proc, "by_library") == n_jobs
    assert all(json.loads((work / "cli" / f"{s}.json").read_text()) for s in samples[: n_jobs // 2])

    # the main process fetched each input once; the jobs reused its verified local copies and made only
    # their own calls (CLI or library)
    gets = "/api/v2/artifact/biosample/get/"
    assert after["paths"][gets] - before["paths"].get(gets, 0) == 2 * n_jobs

    refreshes = after["refreshes"] - before["refreshes"]
    # a token is refreshed once less than half its lifetime is left: at most one refresh per half-life
    expiries = math.ceil(elapsed / (LIFETIME / 2))
    assert elapsed > LIFETIME, "the run must outlive a token for this test to mean anything"
    print(f"cluster run: {n_jobs} jobs, {elapsed:.0f}s, {refreshes} refreshes, bound {expiries + 1}")
    assert 1 <= refreshes <= expiries + 1, (refreshes, expiries, elapsed)
    assert refreshes < n_jobs
    assert after["invalid_grant"] == before["invalid_grant"]
    assert after["family_revocations"] == before["family_revocations"]
    assert_no_secrets(home, work, out, logs, *jobscripts)


PRIVATE_COPIES = """
import json, shutil, time
SAMPLES = json.load(open("samples.json"))
TOKEN = json.load(open("token_path.json"))

rule all:
    input: expand("lib/{s}.json", s=SAMPLES)

rule by_private_copy:
    output: "lib/{s}.json"
    run:
        from snakemake_majora.jobs import client
        # negative control: each job works on its own copy of the credential instead of the shared store
        import os
        os.makedirs(f"own-{wildcards.s}", mode=0o700)
        own = shutil.copy2(TOKEN["file"], f"own-{wildcards.s}/token.json")
        time.sleep(TOKEN["sleep"])  # let the copied access token pass half its life: every job refreshes
        rec = client(token_file=own).get_biosample(wildcards.s)
        json.dump(rec, open(output[0], "w"))
"""


def test_negative_control_private_token_copies_break(lite_factory, tmp_path):
    """Without the shared, locked token store, parallel jobs refresh with the same rotating refresh token
    and the strict server revokes the credential: the run fails. (The test above passes only because
    every job goes through the one shared gate.)"""
    lite = lite_factory(biosamples=20, strict=True, access_token_lifetime=NEGATIVE_LIFETIME)
    home = login_home(lite, tmp_path / "home")
    samples = existing_samples(home, 4)
    work = tmp_path / "wf"
    work.mkdir()
    (work / "samples.json").write_text(json.dumps(samples))
    (work / "token_path.json").write_text(json.dumps({"file": str(home.token_file),
                                                       "sleep": NEGATIVE_LIFETIME / 2 + 1}))
    (work / "submit.sh").write_text(SUBMIT)
    (work / "submit.sh").chmod(0o755)
    home.client().credentials.force_refresh()  # every copy starts from the same, fresh generation
    before = lite.counters()
    proc = run_snakemake(
        work, home.env,
        "--executor", "cluster-generic", "--cluster-generic-submit-cmd", "./submit.sh",
        "--jobs", "4", "--latency-wait", "5",
        snakefile=PRIVATE_COPIES, timeout=300,
    )
    after = lite.counters()
    logs = "\n".join(f.read_text() for f in (work / "cluster-logs").glob("*.log"))
    assert proc.returncode != 0
    assert after["invalid_grant"] > before["invalid_grant"], logs[-3000:]
