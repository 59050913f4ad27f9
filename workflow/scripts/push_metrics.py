"""Push one sample's lab QC numbers to Majora (``meta/metric/add``) with the shared credential.

Each job is its own process; the client from ``snakemake_majora.jobs`` passes every call through the
shared, locked token file, so hundreds of these jobs at once refresh the OAuth token only when it is
due, and never twice. Used by the ``push_metrics`` rule (``script:``).
"""

# No `from __future__` import: Snakemake prepends a preamble to script: files.
import csv
import json
import sys
from pathlib import Path
from typing import Any

GENOME_LENGTH = 29903  # SARS-CoV-2 reference (MN908947.3)


def read_lab_qc(path: str | Path) -> dict[str, str]:
    """The one row of an ARTIC-style ``<sample>.qc.csv``."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if len(rows) != 1:
        raise ValueError(f"{path}: expected a header and exactly one row, found {len(rows)} rows")
    return rows[0]


def metrics_from_qc(row: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Majora's ``sequence`` and ``mapping`` metric namespaces from a lab QC row."""
    return {
        "sequence": {
            "num_seqs": 1,
            "num_bases": GENOME_LENGTH,
            "pc_acgt": float(row["pct_covered_bases"]),
            "pc_masked": float(row["pct_N_bases"]),
            "pc_invalid": 0.0,
            "longest_ungap": int(row["longest_no_N_run"]),
        },
        # num_pos is required by Majora's mapping form: the positions of the reference mapped against.
        "mapping": {"num_pos": GENOME_LENGTH, "num_maps": int(row["num_aligned_reads"])},
    }


def main(smk: Any) -> None:
    """Entry point for Snakemake's ``script:`` directive."""
    from snakemake_majora import jobs
    from snakemake_majora.errors import MajoraError

    sample, artifact = smk.wildcards.sample, smk.params.artifact
    try:
        metrics = metrics_from_qc(read_lab_qc(smk.input.qc))
    except (ValueError, KeyError) as e:
        sys.exit(f"push_metrics {sample}: bad lab QC file {smk.input.qc}: {e}")
    try:
        answer = jobs.client(profile=smk.params.profile).add_metrics(artifact, metrics)
    except MajoraError as e:
        sys.exit(f"push_metrics {sample}: Majora refused the metrics for {artifact}: {e}")
    result = {"artifact": artifact, "metrics": metrics, "updated": answer.get("updated") or []}
    Path(smk.output[0]).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    Path(smk.log[0]).write_text(f"pushed {', '.join(metrics)} metrics to {artifact}\n")


if "snakemake" in globals():
    main(globals()["snakemake"])
