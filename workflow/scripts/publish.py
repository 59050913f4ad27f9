"""Publish one sample to Majora as a COG-UK pipeline does, with the shared credential:

1. ``artifact/file/add``: the consensus FASTA named in the lab's QC row (path, size and MD5 of the
   real file), bridged to its biosample, made by the configured pipeline, in the publish group (the
   PAG) ``COGUK/<sample>/<org>:<run>``;
2. ``meta/metric/add`` on that file: Majora's ``sequence`` and ``mapping`` metrics with every field
   its forms require, measured from the FASTA and taken from the QC row (config/README.md says where
   each number comes from);
3. ``meta/qc/add``: Majora evaluates the configured QC test on the PAG with its loaded rules.

Majora's outcome of the test is read back once per batch (``majora_qc.py``), for the PAGs published
around the ``published_on`` days this records. Used by the ``publish``
rule (``script:``); each job is its own process and every call passes the shared token gate.
"""

# No `from __future__` import: Snakemake prepends a preamble to script: files.
import csv
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def read_lab_qc(path: str | Path) -> dict[str, str]:
    """The one row of an ARTIC-style ``<sample>.qc.csv``."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if len(rows) != 1:
        raise ValueError(f"expected a header and exactly one row, found {len(rows)} rows")
    return rows[0]


def consensus_path(qc_file: str | Path, row: dict[str, str]) -> Path:
    """The consensus FASTA the QC row names (``fasta`` column), relative to the QC file's directory."""
    if not row.get("fasta"):
        raise ValueError("the row has no 'fasta' column naming the consensus file")
    p = Path(row["fasta"])
    return (p if p.is_absolute() else Path(qc_file).parent / p).absolute()


def _longest_run(seq: str, inside: bool) -> int:
    best = cur = 0
    for c in seq:
        cur = cur + 1 if (c == "N") == inside else 0
        best = max(best, cur)
    return best


def sequence_metrics(fasta: str | Path) -> dict[str, Any]:
    """Majora's ``sequence`` namespace measured from the FASTA itself."""
    seqs: list[str] = []
    with open(fasta, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line.startswith(">"):
                seqs.append("")
            elif line and seqs:
                seqs[-1] += line.upper()
    bases = sum(len(s) for s in seqs)
    if not bases:
        raise ValueError(f"{fasta} holds no sequence")
    acgt = sum(s.count(c) for s in seqs for c in "ACGT")
    masked = sum(s.count("N") for s in seqs)
    return {
        "num_seqs": len(seqs),
        "num_bases": bases,
        "pc_acgt": round(100 * acgt / bases, 2),
        "pc_masked": round(100 * masked / bases, 2),
        "pc_invalid": round(100 * (bases - acgt - masked) / bases, 2),
        "longest_gap": max(_longest_run(s, True) for s in seqs),
        "longest_ungap": max(_longest_run(s, False) for s in seqs),
    }


def mapping_metrics(row: dict[str, str], reference_length: int, read_length: int,
                    covered_depth: int) -> dict[str, Any]:
    """Majora's ``mapping`` namespace from the lab's QC row (``num_pos`` is required by its form)."""
    reads = int(row["num_aligned_reads"])
    if row.get("mean_depth"):
        mean_cov = float(row["mean_depth"])
    else:  # ARTIC's qc.csv has no depth column: aligned bases over the reference
        mean_cov = reads * read_length / reference_length
    return {
        "num_pos": reference_length,
        "num_maps": reads,
        "mean_cov": round(mean_cov, 1),
        f"pc_pos_cov_gte{covered_depth}": float(row["pct_covered_bases"]),
    }


def publish_group_name(template: str, sample: str, org: str, run: str) -> str:
    return template.format(sample=sample, org=org, run=run)


def main(smk: Any) -> None:
    """Entry point for Snakemake's ``script:`` directive."""
    from snakemake_majora import jobs
    from snakemake_majora.answers import answer_notes
    from snakemake_majora.errors import MajoraError
    from snakemake_majora.payloads import file_record

    sample, p = smk.wildcards.sample, smk.params
    try:
        row = read_lab_qc(smk.input.qc)
        metrics = {"sequence": sequence_metrics(smk.input.fasta),
                   "mapping": mapping_metrics(row, int(p.reference_length), int(p.read_length),
                                              int(p.covered_depth))}
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"publish {sample}: bad lab QC file {smk.input.qc} or consensus {smk.input.fasta}: {e}")
    pag = publish_group_name(p.publish_group, sample, p.org, p.run)
    notes: list[str] = []
    try:
        body = file_record(smk.input.fasta, resource_type="consensus", pipeline=tuple(p.pipeline),
                           bridge_artifact=sample, source_artifacts=[sample], publish_group=pag,
                           node=p.node, metadata={"sequencing": {"platform": p.platform}})
        client = jobs.client(profile=p.profile)
        added = client.add_file(body)
        notes += answer_notes(added)
        pushed = client.add_metrics(None, metrics, artifact_path=body["path"])
        notes += answer_notes(pushed)
        qc = client.add_qc(pag, p.qc_test, p.qc_version)
        notes += answer_notes(qc)
    except MajoraError as e:
        sys.exit(f"publish {sample}: {e}")
    result = {
        "central_sample_id": sample, "publish_group": pag, "path": body["path"],
        "current_hash": body["current_hash"], "current_size": body["current_size"], "metrics": metrics,
        "qc_test": p.qc_test, "qc_version": p.qc_version,
        "new": [n[0] for n in added.get("new") or []], "metrics_updated": len(pushed.get("updated") or []),
        # The (UTC) day of the file/add: Majora dates a new PAG by it, and the QC read-back asks for
        # PAGs published around these days only (majora_qc.py).
        "published_on": datetime.now(UTC).date().isoformat(),
        # "MAG not found from hard path": the file is kept outside any directory group, as on Majora.
        "majora_notes": notes,
    }
    Path(smk.output[0]).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    Path(smk.log[0]).write_text(f"registered {body['path']} in {pag}, pushed {', '.join(metrics)} metrics, "
                                f"QC {p.qc_test} v{p.qc_version} evaluated by Majora\n"
                                + "".join(f"{n}\n" for n in notes), encoding="utf-8")


if "snakemake" in globals():
    main(globals()["snakemake"])
