"""``make demo``: the whole thing on one machine, in about a minute, with nothing to type.

1. Starts majora-lite on 127.0.0.1 (strict refresh-token rotation, access tokens that live only
   ``--token-lifetime`` seconds) with seeded COG-UK-like data, a demo user and an OAuth app.
2. Logs in through the real authorization-code flow, non-interactively:
   ``snakemake-majora login --url-only`` -> majora-lite approves as the demo user ->
   ``snakemake-majora login --callback-url``.
3. Runs the example workflow (workflow/Snakefile) with parallel jobs that all share that one
   credential: every sample with a lab QC file is published as a COG-UK pipeline does (its shipped
   consensus FASTA registered in its PAG, metrics, QC evaluated by majora-lite with Majora's loaded QC
   rules); then builds its Snakemake report.
4. Prints the manifest and report paths, how many PAGs passed and failed Majora's QC, how many token
   refreshes the server saw, and stops it.

Everything lives in ``demo-run/`` (override with ``--dir``); running the demo again reuses the
server's data and the workflow's results, so only what changed is redone.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
SNAKEFILE = REPO / "workflow" / "Snakefile"
WORKFLOW_CONFIG = REPO / "config" / "config.yaml"
LAB_QC = REPO / "resources" / "lab-qc"
QC_DEFINITIONS = REPO / "majora_lite" / "data" / "qc"  # Majora's QC tests, as data
#: Publishing needs file/add and qc/add, beyond the default scopes.
PUBLISH_SCOPES = ["majora2.add_digitalresourceartifact", "majora2.change_digitalresourceartifact",
                  "majora2.add_pagqualityreport", "majora2.change_pagqualityreport"]
DEMO_USER = "demo-lab"
DEMO_ORG = "BIRM"
BIOSAMPLES = 48
# IDs the lab has registered (Majora "addempty") but not yet described: the batch lists them.
PLACEHOLDERS = ["BIRM-00901", "EDIN-00902"]
EX_SOFTWARE, EX_UNAVAILABLE = 70, 69


def register_run(server: Any, user: str, run_name: str, sample: str) -> None:
    """Register the sequencing run a workflow publishes into (its ``publish.run_name``), with a library
    holding ``sample``, as a lab does before it publishes that run's consensus files: Majora's PAG listing
    fails for everyone while a listed PAG's run is unknown, and majora-lite answers the same. Idempotent
    (Majora updates an existing library and run). Uses an API key of ``user`` from the local server."""
    import requests

    key = server.apikey(user)
    library = f"{run_name}-LIB"
    pool = {"library_source": "VIRAL_RNA", "library_strategy": "AMPLICON", "library_selection": "PCR"}
    calls = [
        ("artifact/library/add/", {"library_name": library, "library_layout_config": "PAIRED",
                                   "library_seq_kit": "NEXTERA", "library_seq_protocol": "ARTIC",
                                   "biosamples": [{"central_sample_id": sample, **pool}]}),
        ("process/sequencing/add/", {"library_name": library, "runs": [
            {"run_name": run_name, "instrument_make": "ILLUMINA", "instrument_model": "MiSeq"}]}),
    ]
    for path, body in calls:
        r = requests.post(f"{server.url}/api/v2/{path}", json={"username": user, "token": key, **body},
                          timeout=60)
        if r.status_code != 200 or r.json().get("errors"):
            raise SystemExit(f"[demo] registering run {run_name} failed at {path}: {r.text[:300]}")


def say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def cli_path() -> str:
    """The ``snakemake-majora`` console script of this interpreter's environment."""
    here = Path(sys.executable).parent / "snakemake-majora"
    return str(here) if here.exists() else (shutil.which("snakemake-majora") or "snakemake-majora")


class Demo:
    """The demo's state directory and the steps above."""

    def __init__(self, root: Path, token_lifetime: int, cores: int) -> None:
        self.root = root.resolve()
        self.server_dir = self.root / "server"
        self.home = self.root / "home"  # SNAKEMAKE_MAJORA_HOME: config.yaml + tokens/
        self.work = self.root / "work"  # the workflow's working directory
        self.setup_file = self.server_dir / "demo-setup.json"
        self.report = self.root / "report.html"
        self.token_lifetime = token_lifetime
        self.cores = cores
        self.env = {**os.environ, "SNAKEMAKE_MAJORA_HOME": str(self.home)}
        for var in ("SNAKEMAKE_MAJORA_CONFIG", "SNAKEMAKE_MAJORA_PROFILE", "SNAKEMAKE_MAJORA_TOKEN_FILE",
                    "MAJORA_DOMAIN", "MAJORA_USER", "MAJORA_TOKEN", "MAJORA_CLIENT_ID",
                    "MAJORA_CLIENT_SECRET",
                    "CLIENT_ID", "CLIENT_SECRET", "OCARINA_CONF_FILE"):
            self.env.pop(var, None)  # the demo must not pick up (or touch) a real Majora setup
        self.env["OCARINA_CONF_FILE"] = str(self.home / "no-ocarina")

    # -- 1. server -------------------------------------------------------------------------------
    def server(self) -> Any:
        from majora_lite.ops.harness import LiteServer

        return LiteServer(self.server_dir, strict=True, access_token_lifetime=self.token_lifetime)

    def first_setup(self, server: Any) -> dict[str, Any]:
        """Seed data, the demo user and the OAuth app, once; later runs reuse them."""
        if self.setup_file.exists():
            return json.loads(self.setup_file.read_text())
        say(f"seeding majora-lite with {BIOSAMPLES} biosamples, a demo user and an OAuth app "
            "(first run only)")
        password = secrets.token_urlsafe(16)
        out = server.setup({
            "seed": {"biosamples": BIOSAMPLES},
            "users": [{"username": DEMO_USER, "password": password, "org": DEMO_ORG, "all_perms": True,
                       "totp": True}],
            "apps": [{"name": "snakemake-majora-demo"}],
            "qc": [str(QC_DEFINITIONS)],
        })
        state = {"password": password, "client_id": out["apps"][0]["client_id"],
                 "client_secret": out["apps"][0]["client_secret"], "seed": out["seed"]}
        from snakemake_majora.store import atomic_write_private

        atomic_write_private(self.setup_file, json.dumps(state, indent=1).encode())
        return state

    def write_client_config(self, url: str, state: dict[str, Any]) -> None:
        """``$SNAKEMAKE_MAJORA_HOME/config.yaml`` for this server (its port changes on every start)."""
        from snakemake_majora.store import atomic_write_private, ensure_private_dir

        ensure_private_dir(self.home)
        from snakemake_majora.config import DEFAULT_SCOPES

        conf = {"domain": url, "user": DEMO_USER, "client_id": state["client_id"],
                "client_secret": state["client_secret"],
                # + registering placeholder samples (addempty), which the demo does once, + publishing
                "scopes": [*DEFAULT_SCOPES, "majora2.force_add_biosampleartifact", *PUBLISH_SCOPES]}
        atomic_write_private(self.home / "config.yaml", yaml.safe_dump(conf, sort_keys=False).encode())

    # -- 2. login --------------------------------------------------------------------------------
    def cli(self, *args: str, check: bool = True,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([cli_path(), *args], env=self.env, capture_output=True, text=True, check=False,
                              input=stdin)
        if check and proc.returncode != 0:
            raise SystemExit(f"[demo] snakemake-majora {args[0]} failed (exit {proc.returncode}): "
                             f"{proc.stderr.strip()}")
        return proc

    def login(self, server: Any, state: dict[str, Any]) -> None:
        authorize_url = self.cli("login", "--url-only").stdout.strip()
        say("login: got the authorize URL from `snakemake-majora login --url-only`")
        callback = server.approve(authorize_url, DEMO_USER, state["password"])
        say(f"login: majora-lite approved it for {DEMO_USER}")
        self.cli("login", "--callback-url", "-", stdin=callback)  # the one-time code stays off argv
        say("login: `snakemake-majora login --callback-url` stored the token (0600) in "
            f"{self.home / 'tokens'}")

    def register_placeholders(self) -> None:
        """The lab registered two samples without metadata (Majora's addempty); idempotent."""
        from snakemake_majora.client import MajoraClient

        old = os.environ.get("SNAKEMAKE_MAJORA_HOME")
        os.environ["SNAKEMAKE_MAJORA_HOME"] = str(self.home)
        try:
            with MajoraClient.from_config() as client:
                client.addempty_biosamples(PLACEHOLDERS)
        finally:
            if old is None:
                os.environ.pop("SNAKEMAKE_MAJORA_HOME", None)
            else:
                os.environ["SNAKEMAKE_MAJORA_HOME"] = old

    # -- 3. workflow -----------------------------------------------------------------------------
    def write_workflow_config(self) -> None:
        """The workflow's config/config.yaml in the working directory: the shipped one, with the
        lab QC directory made absolute."""
        conf = yaml.safe_load(WORKFLOW_CONFIG.read_text())
        conf["lab_qc"]["dir"] = str(LAB_QC)
        target = self.work / "config" / "config.yaml"
        text = yaml.safe_dump(conf, sort_keys=False)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text() != text:  # unchanged file: no rerun of params
            target.write_text(text)

    def snakemake(self, *args: str) -> int:
        cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE),
               "--directory", str(self.work), *args]
        return subprocess.run(cmd, env=self.env, check=False).returncode

    # -- 4. summary ------------------------------------------------------------------------------
    def summary(self, counters_before: dict[str, Any], counters_after: dict[str, Any],
                seconds: float) -> None:
        manifest = self.work / "results" / "manifest.tsv"
        with open(manifest, newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        valid = sum(r["metadata_valid"] == "yes" for r in rows)
        qc_pass = sum(r["qc_pass"] == "pass" for r in rows)
        pushed = sum(r["metrics_pushed"] == "yes" for r in rows)
        tests = sorted({r["majora_qc_test"] for r in rows if r.get("majora_qc_test")})
        passed = sum(r.get("majora_qc") == "PASS" for r in rows)
        failed = sum(r.get("majora_qc") == "FAIL" for r in rows)
        refreshes = counters_after["refreshes"] - counters_before["refreshes"]
        api = counters_after["api_calls"] - counters_before["api_calls"]
        print()
        print(f"  manifest : {manifest}  ({len(rows)} samples: {valid} valid metadata, {qc_pass} pass the "
              f"lab's QC thresholds)")
        print(f"  majora   : {pushed} PAGs published (consensus file, metrics, QC): {passed} passed and "
              f"{failed} failed Majora's QC ({', '.join(tests) or 'no test'})")
        print(f"  report   : {self.report}")
        print(f"  plots    : {self.work / 'results' / 'plots'}")
        print(f"  workflow : {seconds:.1f} s; {api} Majora API calls; access tokens live "
              f"{self.token_lifetime} s")
        # When jobs run, the workflow's onstart preflight refreshes once on purpose; the rest happen mid-run.
        split = f"; 1 by the start-up check, {refreshes - 1} while jobs ran" if refreshes else ""
        print(f"  refreshes: {refreshes} token refresh(es) during the run (server counter{split}), "
              f"{counters_after['invalid_grant']} invalid_grant, "
              f"{counters_after['family_revocations']} family revocation(s)")
        print()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m snakemake_majora.demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default="demo-run", help="state directory (default: demo-run)")
    ap.add_argument("--token-lifetime", type=int, default=6, metavar="SECONDS",
                    help="access-token lifetime on the demo server (default 6: refreshes happen mid-run)")
    ap.add_argument("--cores", type=int, default=4, help="parallel jobs (default 4)")
    a = ap.parse_args(argv)
    try:
        return run(Demo(Path(a.dir), a.token_lifetime, a.cores))
    except Exception as e:  # expected failures get one line, not a traceback
        from majora_lite.ops.harness import LiteServerError
        from snakemake_majora.errors import MajoraError

        if isinstance(e, (MajoraError, LiteServerError)):
            print(f"[demo] failed: {e}", file=sys.stderr)
            return getattr(e, "exit_code", EX_UNAVAILABLE)
        raise


def run(demo: Demo) -> int:
    """The four steps of the module docstring."""
    demo.root.mkdir(parents=True, exist_ok=True)
    server = demo.server()
    state = demo.first_setup(server)
    t0 = time.monotonic()
    server.start()
    try:
        say(f"majora-lite listening on {server.url} (strict refresh rotation, tokens live "
            f"{demo.token_lifetime} s; log: {server.log_path})")
        demo.write_client_config(server.url, state)
        demo.login(server, state)
        demo.register_placeholders()
        run_name = yaml.safe_load(WORKFLOW_CONFIG.read_text())["publish"]["run_name"]
        if run_name:
            register_run(server, DEMO_USER, run_name, state["seed"]["example"]["central_sample_id"])
            say(f"registered sequencing run {run_name}, which the workflow publishes into")
        demo.write_workflow_config()
        before = server.counters()
        say(f"running the workflow with {demo.cores} parallel jobs in {demo.work}")
        w0 = time.monotonic()
        rc = demo.snakemake("--cores", str(demo.cores), "--printshellcmds", "--quiet", "rules")
        took = time.monotonic() - w0
        after = server.counters()
        if rc != 0:
            say(f"the workflow failed (exit {rc}); see the messages above and "
                f"{demo.work / '.snakemake' / 'log'}")
            return EX_SOFTWARE
        say("building the Snakemake report")
        rc = demo.snakemake("--cores", "1", "--quiet", "progress", "--report", str(demo.report))
        if rc != 0:
            say(f"the report failed (exit {rc})")
            return EX_SOFTWARE
        demo.summary(before, after, took)
        say(f"done in {time.monotonic() - t0:.1f} s; run `make demo` again: only what changed is redone")
        return 0
    finally:
        server.stop()
        say("majora-lite stopped")


if __name__ == "__main__":
    sys.exit(main())
