"""Join the batch, the per-sample verdicts, the lab's QC files and what was published to Majora (the
PAG and the QC outcome Majora evaluated) into one TSV.

One row per sample of the batch, including IDs Majora does not know (so nobody wonders where they
went). Used by the ``manifest`` rule (``script:``).
"""

# No `from __future__` import: Snakemake prepends a preamble to script: files.
import csv
import json
from pathlib import Path
from typing import Any

COLUMNS = [
    "central_sample_id", "in_majora", "metadata_valid", "metadata_problems", "adm1", "adm2",
    "collection_date", "received_date", "collection_week", "submission_org_code",
    "pct_covered_bases", "pct_N_bases", "longest_no_N_run", "num_aligned_reads", "qc_pass",
    "metrics_pushed", "publish_group", "majora_qc_test", "majora_qc",
]
NOT_FOUND = "record: not found in Majora (check the ID, or the lab has not registered it)"


def qc_verdict(row: dict[str, str], min_coverage: float, min_longest_run: int) -> str:
    """``pass`` or ``fail`` by this workflow's thresholds (the lab's own flag is not trusted blindly)."""
    ok = float(row["pct_covered_bases"]) >= min_coverage and int(row["longest_no_N_run"]) >= min_longest_run
    return "pass" if ok else "fail"


def by_sample(paths: list[str], suffix: str) -> dict[str, Path]:
    """``{sample: path}`` for files named ``<sample><suffix>``."""
    return {Path(p).name.removesuffix(suffix): Path(p) for p in paths}


def read_majora_qc(paths: list[str]) -> dict[str, dict[str, str]]:
    """``{sample: row}`` of ``majora_qc.tsv`` (no file: nothing was published)."""
    out: dict[str, dict[str, str]] = {}
    for path in paths:
        with open(path, newline="", encoding="utf-8") as fh:
            out.update({r["central_sample_id"]: r for r in csv.DictReader(fh, delimiter="\t")})
    return out


def build_rows(batch: list[dict[str, str]], verdicts: dict[str, Path], qc_files: dict[str, Path],
               published: dict[str, dict[str, str]], min_coverage: float,
               min_longest_run: int) -> list[dict[str, Any]]:
    """The manifest rows (see module docstring)."""
    rows = []
    for b in batch:
        sid = b["central_sample_id"]
        row: dict[str, Any] = dict.fromkeys(COLUMNS, "")
        row.update(central_sample_id=sid, in_majora=b["in_majora"])
        if b["in_majora"] == "yes":
            v = json.loads(verdicts[sid].read_text(encoding="utf-8"))
            row.update({k: v.get(k, "") for k in ("adm1", "adm2", "collection_date", "received_date",
                                                  "collection_week", "submission_org_code")})
            row["metadata_valid"] = "yes" if v["valid"] else "no"
            row["metadata_problems"] = "; ".join(v["problems"])
        else:
            row["metadata_valid"] = "no"
            row["metadata_problems"] = NOT_FOUND
        if sid in qc_files:
            with open(qc_files[sid], newline="", encoding="utf-8") as fh:
                qc = next(csv.DictReader(fh))
            for key in ("pct_covered_bases", "pct_N_bases", "longest_no_N_run", "num_aligned_reads"):
                row[key] = qc[key]
            row["qc_pass"] = qc_verdict(qc, min_coverage, min_longest_run)
        pub = published.get(sid)
        row["metrics_pushed"] = "yes" if pub else "no"
        if pub:
            row.update(publish_group=pub["publish_group"], majora_qc_test=pub["qc_test"],
                       majora_qc=pub["majora_qc"])
        rows.append(row)
    return rows


def _paths(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def main(smk: Any) -> None:
    """Entry point for Snakemake's ``script:`` directive."""
    with open(smk.input.samples, newline="", encoding="utf-8") as fh:
        batch = list(csv.DictReader(fh, delimiter="\t"))
    rows = build_rows(batch, by_sample(smk.input.verdicts, ".json"), by_sample(smk.input.qc, ".qc.csv"),
                      read_majora_qc(_paths(smk.input.majora_qc)), float(smk.params.min_coverage),
                      int(smk.params.min_longest_run))
    with open(smk.output[0], "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, COLUMNS, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    valid = sum(r["metadata_valid"] == "yes" for r in rows)
    Path(smk.log[0]).write_text(f"{len(rows)} samples, {valid} with valid metadata\n")


if "snakemake" in globals():
    main(globals()["snakemake"])
