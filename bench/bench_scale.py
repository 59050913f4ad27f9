"""Production scale: the example workflow and a PAG listing input on bulk-seeded majora-lite servers.

    python bench/bench_scale.py [--big 100000] [--big-dir DIR] [--no-write]
    python bench/bench_scale.py --only workflow [--big-dir DIR]    # part B alone, printed, not written

All rows in one run, each against a baseline measured in the same run:

A. bulk seed (``server seed --pags N``) of 1,000 and 10,000 PAGs (and ``--big`` unless ``--big-dir``
   names a data dir already seeded with it, e.g. by ``python -m majora_lite seed --data-dir DIR
   --biosamples 100000 --pags 100000``: no orphan PAG, or part C's default-mode listing fails);
B. the example workflow on a 96-sample batch (publish, Majora's QC, QC read-back, validation, report)
   on the 1,000-PAG server (baseline) and on the big one: wall time, API requests, pag/qc/get calls and
   the bytes of the QC read-back answer;
C. ``majora://pag/<test>`` (default mode, JSON) as the one input of a one-job workflow on the 10,000-PAG
   server and the big one: wall time and the Snakemake process's peak RSS, against a raw download of
   the same task answer to a file (baseline).

D. a one-job-per-sample workflow on 2,000 samples (``majora://biosample/{s}`` inputs) against the same
   workflow on local files (baseline), and a cProfile of the plugin run's Snakemake process.

Results go to the "Production scale" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_plugin import PER_SAMPLE, RUNNER, start_with_home, workdir, write_section  # noqa: E402
from bench_plugin import snakemake as timed_snakemake  # noqa: E402

from majora_lite.ops import bulk_plan  # noqa: E402
from majora_lite.ops.harness import LiteServer  # noqa: E402

SECTION = "## Production scale"
QC = "cog-uk-elan-minimal-qc"
BATCH = 96
LAB_QC = ROOT / "resources" / "lab-qc"
LOAD_AT_START = os.getloadavg()
PUBLISH_SCOPES = [
    "majora2.add_digitalresourceartifact",
    "majora2.change_digitalresourceartifact",
    "majora2.add_pagqualityreport",
    "majora2.change_pagqualityreport",
    "majora2.add_temporarymajoraartifactmetric",
    "majora2.change_temporarymajoraartifactmetric",
]


def seeded(tmp: Path, name: str, pags: int, data_dir: Path | None = None) -> tuple[LiteServer, dict, float]:
    """A started server with ``pags`` bulk-seeded PAGs (seeding timed), a logged-in home's env."""
    srv = LiteServer(data_dir or tmp / name)
    # No orphan PAG: Majora's (and majora-lite's) default-mode listing fails while one matches, and part C
    # lists them all.
    spec = {} if data_dir else {"bulk_seed": {"biosamples": pags, "pags": pags}}
    t0 = time.perf_counter()
    _out, env = start_with_home(srv, tmp / f"home-{name}", spec)
    took = time.perf_counter() - t0 if not data_dir else float("nan")
    cfg = Path(env["SNAKEMAKE_MAJORA_HOME"]) / "config.yaml"
    # The workflow publishes: the home asks for the write scopes too (logged in again below).
    from snakemake_majora.config import DEFAULT_SCOPES

    cfg.write_text(
        cfg.read_text() + "scopes:\n" + "".join(f"  - {s}\n" for s in [*DEFAULT_SCOPES, *PUBLISH_SCOPES])
    )
    from snakemake_majora import login
    from snakemake_majora.config import load_settings
    from snakemake_majora.credentials import CredentialManager

    mgr = CredentialManager(load_settings(env=env))
    login.finish_login(mgr, srv.approve(login.start_login(mgr), "bench", "bench-pw-1"))
    return srv, env, took


def lab_qc(dest: Path, samples: list[str]) -> None:
    """One lab QC row and consensus per sample, copied from the shipped BIRM-00001 files."""
    template = next(csv.DictReader(open(LAB_QC / "BIRM-00001.qc.csv")))
    fasta = (LAB_QC / template["fasta"]).read_text()
    (dest / "fa").mkdir(parents=True)
    for s in samples:
        row = {**template, "sample_name": s, "fasta": f"fa/{s}.fa"}
        (dest / "fa" / f"{s}.fa").write_text(fasta.replace("BIRM-00001", s))
        with open(dest / f"{s}.qc.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, list(row))
            w.writeheader()
            w.writerow(row)


def server_cpu(srv: LiteServer) -> float:
    """CPU seconds (user + system) the server process has used so far; NaN where /proc is missing."""
    try:
        fields = Path(f"/proc/{srv.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (AttributeError, OSError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def workflow(tmp: Path, name: str, srv: LiteServer, env: dict[str, str], samples: list[str]) -> dict:
    import yaml

    work = tmp / f"wf-{name}"
    lab = tmp / f"lab-{name}"
    lab_qc(lab, samples)
    conf = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    conf["batch"] = {"name": "bench", "samples": samples}
    conf["lab_qc"]["dir"] = str(lab)
    conf["publish"]["run_name"] = f"BENCH-{name}-{int(time.time())}"  # a server may be reused
    (work / "config").mkdir(parents=True)
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(conf))
    tasks = Path(env["SNAKEMAKE_MAJORA_HOME"]) / "tasks"
    before = set(tasks.glob("*.json")) if tasks.exists() else set()
    srv.reset_counters()
    cpu0 = server_cpu(srv)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--snakefile",
            str(ROOT / "workflow" / "Snakefile"),
            "--directory",
            str(work),
            "--cores",
            "2",
            "--quiet",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    # The server's own CPU seconds: what the database's size can add, and far less noisy than wall time
    # on a machine other work is loading.
    cpu = server_cpu(srv) - cpu0
    if proc.returncode:
        raise SystemExit(f"workflow failed on {name}:\n{proc.stderr[-3000:]}")
    counters = srv.counters()
    new = [f for f in tasks.glob("*.json") if f not in before]
    readback = (work / "results" / "logs" / "majora_qc.log").read_text().strip().splitlines()
    return {
        "wall": wall,
        "server_cpu": cpu,
        "requests": counters.get("api_calls", 0),
        "pag_qc_get": sum(n for p, n in counters["paths"].items() if "pag/qc/get" in p),
        "task_bytes": sum(f.stat().st_size for f in new),
        "readback": readback[1:],
    }


def listing(tmp: Path, name: str, env: dict[str, str]) -> dict:
    work = tmp / f"list-{name}"
    work.mkdir()
    (work / "Snakefile").write_text(
        f'rule all:\n    input: storage.majora("majora://pag/{QC}")\n    output: "n.txt"\n'
        '    shell: "wc -c < {input} > {output}"\n'
    )
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, "--cores", "1", "--quiet", "all"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"listing workflow failed on {name}:\n{proc.stderr[-3000:]}")
    rss = int(proc.stderr.rsplit("PEAK_RSS_KB", 1)[1].split()[0])
    return {"wall": wall, "rss_mib": rss / 1024, "bytes": int((work / "n.txt").read_text())}


def raw_download(env: dict[str, str], dest: Path) -> tuple[float, int]:
    """Start the same pag/qc/get task and stream its one answer to a file, unparsed."""
    from snakemake_majora.client import PAG_QC_GET, TASK_GET, MajoraClient
    from snakemake_majora.config import load_settings

    client = MajoraClient(load_settings(env=env))
    t0 = time.perf_counter()
    task = client._request(PAG_QC_GET, {"test_name": QC})["tasks"][0]
    while True:
        r = client.raw_request(TASK_GET, {"task_id": task}, once=True, stream=True)
        with open(dest, "wb") as fh:
            for chunk in r.iter_content(1 << 20):
                fh.write(chunk)
        if dest.stat().st_size > 4096 or b'"SUCCESS"' in dest.read_bytes():
            return time.perf_counter() - t0, dest.stat().st_size
        if b'"FAILURE"' in dest.read_bytes():
            raise SystemExit(f"the pag/qc/get task failed: {dest.read_text()[:500]}")
        time.sleep(0.25)


def perjob(tmp: Path, n: int = 2000) -> tuple[list[tuple[str, str, str]], str]:
    """Part D: rows and the profile's top entries."""
    import pstats

    srv = LiteServer(tmp / "perjob")
    _out, env = start_with_home(srv, tmp / "home-perjob", {"bulk_seed": {"biosamples": n, "pags": 0}})
    try:
        ids = [s["central_sample_id"] for s in bulk_plan.plan(n, 0).samples]
        plug = workdir(
            tmp, "perjob-plugin", ids, PER_SAMPLE.format(input='storage.majora("majora://biosample/{s}")')
        )
        t_plug, rss_plug = timed_snakemake(plug, env, 2)
        local = workdir(tmp, "perjob-local", ids, PER_SAMPLE.format(input='"local/{s}.json"'))
        shutil.copytree(plug / "qc", local / "local")
        t_local, rss_local = timed_snakemake(local, env, 2)
        prof_dir = workdir(
            tmp, "perjob-profile", ids, PER_SAMPLE.format(input='storage.majora("majora://biosample/{s}")')
        )
        prof = tmp / "snakemake.prof"
        subprocess.run(
            [sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "snakemake", "--cores", "2", "--quiet"],
            cwd=prof_dir,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        srv.stop()
    stats = pstats.Stats(str(prof))
    total = stats.total_tt
    top = []
    # Where the time goes by self time (any module): what bounds the run, not who called it.
    for (file, _line, func), (_cc, _nc, tt, _ct, _callers) in sorted(
        stats.stats.items(), key=lambda kv: -kv[1][2]
    ):
        where = f"{Path(file).parent.name}/{Path(file).name}" if file.startswith("/") else file
        top.append(f"{where}:{func} {tt:.1f} s ({100 * tt / total:.0f}%)")
        if len(top) == 10:
            break
    rows = [
        (f"one job per sample, {n:,} samples, local files: wall", f"{t_local:.1f} s", "1"),
        (
            f"one job per sample, {n:,} samples, `majora://biosample/{{s}}`: wall",
            f"{t_plug:.1f} s",
            f"{t_plug / t_local:.2f}x",
        ),
        (
            "&nbsp;&nbsp;peak RSS of the Snakemake process (local / plugin)",
            f"{rss_local / 1024:.0f} / {rss_plug / 1024:.0f} MiB",
            "",
        ),
    ]
    return rows, f"profile of the plugin run ({total:.0f} s of CPU in the Snakemake process): " + "; ".join(
        top
    )


def workflow_rows(n: str, wf_small: dict, wf_big: dict) -> list[tuple[str, str, str]]:
    """Part B's rows: the workflow on the 1,000-PAG server (baseline) and on the big one."""
    return [
        (f"workflow, {BATCH}-sample batch, 1,000-PAG server: wall", f"{wf_small['wall']:.1f} s", "1"),
        (
            f"workflow, {BATCH}-sample batch, {n}-PAG server: wall",
            f"{wf_big['wall']:.1f} s",
            f"{wf_big['wall'] / wf_small['wall']:.2f}x",
        ),
        (
            "&nbsp;&nbsp;majora-lite CPU during the workflow (1,000 / big)",
            f"{wf_small['server_cpu']:.1f} / {wf_big['server_cpu']:.1f} s",
            f"{wf_big['server_cpu'] / wf_small['server_cpu']:.2f}x",
        ),
        (
            "&nbsp;&nbsp;API requests (1,000 / big)",
            f"{wf_small['requests']} / {wf_big['requests']}",
            f"{wf_big['requests'] / wf_small['requests']:.2f}x",
        ),
        (
            "&nbsp;&nbsp;pag/qc/get calls (1,000 / big)",
            f"{wf_small['pag_qc_get']} / {wf_big['pag_qc_get']}",
            "",
        ),
        (
            "&nbsp;&nbsp;QC read-back answer bytes (1,000 / big)",
            f"{wf_small['task_bytes']:,} / {wf_big['task_bytes']:,}",
            f"{wf_big['task_bytes'] / max(1, wf_small['task_bytes']):.2f}x",
        ),
    ]


def only_workflow(big: int, big_dir: Path | None) -> str:
    """Part B alone (``--only workflow``): both servers in one run, one after the other."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        samples = [s["central_sample_id"] for s in bulk_plan.plan(BATCH, BATCH).samples]
        small, small_env, _t = seeded(tmp, "1k", 1_000)
        try:
            wf_small = workflow(tmp, "1k", small, small_env, samples)
        finally:
            small.stop()
        load_between = os.getloadavg()
        big_srv, big_env, _t = seeded(tmp, "big", big, big_dir)
        try:
            wf_big = workflow(tmp, "big", big_srv, big_env, samples)
        finally:
            big_srv.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = workflow_rows(f"{big:,}", wf_small, wf_big)
    loads = "; ".join(
        ", ".join(f"{x:.1f}" for x in la) for la in (LOAD_AT_START, load_between, os.getloadavg())
    )
    return (
        "".join(f"| {m} | {v} | {r} |\n" for m, v, r in rows)
        + f"\nload average at start / between the two runs / at the end: {loads}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--big", type=int, default=100_000)
    ap.add_argument(
        "--big-dir", type=Path, default=None, help="a data dir already bulk-seeded with --big PAGs"
    )
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument(
        "--only",
        choices=["perjob", "workflow"],
        default=None,
        help="run only part D, or only part B (the workflow on the 1,000-PAG server and the big one)",
    )
    a = ap.parse_args()
    if a.only == "workflow":
        print(only_workflow(a.big, a.big_dir))
        return
    if a.only == "perjob":
        tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
        try:
            rows, profile = perjob(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print("".join(f"| {m} | {v} | {r} |\n" for m, v, r in rows) + "\n" + profile)
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    servers = []
    try:
        samples = [s["central_sample_id"] for s in bulk_plan.plan(BATCH, BATCH).samples]
        small, small_env, t_small = seeded(tmp, "1k", 1_000)
        servers.append(small)
        wf_small = workflow(tmp, "1k", small, small_env, samples)
        mid, mid_env, t_mid = seeded(tmp, "10k", 10_000)
        servers.append(mid)
        raw_mid = raw_download(mid_env, tmp / "raw-10k.json")
        list_mid = listing(tmp, "10k", mid_env)
        small.stop()
        mid.stop()
        big, big_env, t_big = seeded(tmp, "big", a.big, a.big_dir)
        servers.append(big)
        wf_big = workflow(tmp, "big", big, big_env, samples)
        raw_big = raw_download(big_env, tmp / "raw-big.json")
        list_big = listing(tmp, "big", big_env)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    n = f"{a.big:,}"
    rows = [
        ("bulk seed, 1,000 PAGs (`server seed --pags`)", f"{t_small:.1f} s", ""),
        ("bulk seed, 10,000 PAGs", f"{t_mid:.1f} s", f"{t_mid / t_small:.1f}x"),
        (f"bulk seed, {n} PAGs", "see below" if a.big_dir else f"{t_big:.1f} s", ""),
        *workflow_rows(n, wf_small, wf_big),
        (
            "raw download of `pag/qc/get` (default mode), 10,000 PAGs",
            f"{raw_mid[0]:.1f} s ({raw_mid[1] / 2**20:.0f} MiB)",
            "1",
        ),
        (
            "`majora://pag/<test>` as input, 10,000 PAGs: wall",
            f"{list_mid['wall']:.1f} s",
            f"{list_mid['wall'] / raw_mid[0]:.2f}x",
        ),
        ("&nbsp;&nbsp;peak RSS of the Snakemake process", f"{list_mid['rss_mib']:.0f} MiB", ""),
        (
            f"raw download of `pag/qc/get` (default mode), {n} PAGs",
            f"{raw_big[0]:.1f} s ({raw_big[1] / 2**20:.0f} MiB)",
            "1",
        ),
        (
            f"`majora://pag/<test>` as input, {n} PAGs: wall",
            f"{list_big['wall']:.1f} s",
            f"{list_big['wall'] / raw_big[0]:.2f}x",
        ),
        (
            "&nbsp;&nbsp;peak RSS of the Snakemake process",
            f"{list_big['rss_mib']:.0f} MiB",
            f"{list_big['rss_mib'] / list_mid['rss_mib']:.2f}x of 10,000",
        ),
    ]
    load = ", ".join(f"{x:.1f}" for x in LOAD_AT_START)
    text = (
        f"{SECTION}\n\n`python bench/bench_scale.py{' --big-dir DIR' if a.big_dir else ''}` "
        f"({time.strftime('%Y-%m-%d')}, CPython {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {load} at start).\n\n| measurement | value | ratio |\n| --- | --- | --- |\n"
        + "".join(f"| {m} | {v} | {r} |\n" for m, v, r in rows)
        + "\nQC read-back queries (1,000-PAG server): "
        + "; ".join(wf_small["readback"])
        + f"\n\nQC read-back queries ({n}-PAG server): "
        + "; ".join(wf_big["readback"])
        + "\n"
    )
    print(text)
    if not a.no_write:
        write_section(text, SECTION)


if __name__ == "__main__":
    main()
