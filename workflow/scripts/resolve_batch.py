"""Resolve the batch into its samples: from a sequencing run's record, a PAG query's record, or a list
of central sample IDs checked against Majora in one ``biosample/query/validity`` call.

Writes ``samples.tsv`` (central_sample_id, in_majora, has_metadata, source). Used by the
``resolve_batch`` checkpoint (``script:``).
"""

# No `from __future__` import: Snakemake prepends a preamble to script: files.
import csv
import json
import sys
from pathlib import Path
from typing import Any


def samples_of_run(run: dict[str, Any]) -> list[str]:
    """Central sample IDs of a sequencing run record (libraries -> biosamples), in run order."""
    ids: list[str] = []
    for library in run.get("libraries") or []:
        for bs in library.get("biosamples") or []:
            if bs.get("central_sample_id") and bs["central_sample_id"] not in ids:
                ids.append(bs["central_sample_id"])
    return ids


def samples_of_pags(payload: dict[str, Any]) -> list[str]:
    """Central sample IDs of a PAG query result (``result[].pag.artifacts.biosample[]``)."""
    ids: list[str] = []
    for row in payload.get("result") or []:
        pag = row.get("pag") or {}
        for bs in (pag.get("artifacts") or {}).get("biosample") or []:
            if bs.get("central_sample_id") and bs["central_sample_id"] not in ids:
                ids.append(bs["central_sample_id"])
    return sorted(ids)


def rows_from_validity(ids: list[str], validity: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """One row per requested ID, in the requested order, from Majora's validity answer."""
    rows = []
    for sid in ids:
        v = validity.get(sid) or {}
        exists = bool(v.get("exists"))
        rows.append({
            "central_sample_id": sid,
            "in_majora": "yes" if exists else "no",
            "has_metadata": ("yes" if v.get("has_metadata") else "no") if exists else "",
            "source": "samples",
        })
    return rows


def write_rows(rows: list[dict[str, str]], path: str | Path) -> None:
    cols = ["central_sample_id", "in_majora", "has_metadata", "source"]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, cols, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main(smk: Any) -> None:
    """Entry point for Snakemake's ``script:`` directive."""
    mode = smk.params.mode
    if mode in ("samples", "sample_sheet"):
        from snakemake_majora import jobs
        from snakemake_majora.errors import MajoraError

        ids = list(smk.params.samples)
        try:
            validity = jobs.client(profile=smk.params.profile).biosample_validity(ids)
        except MajoraError as e:
            sys.exit(f"resolve_batch: cannot check the sample IDs on Majora: {e}")
        rows = [{**row, "source": mode} for row in rows_from_validity(ids, validity)]
    else:
        payload = json.loads(Path(smk.input.record).read_text(encoding="utf-8"))
        ids = samples_of_run(payload) if mode == "run_name" else samples_of_pags(payload)
        # An empty batch (a day without PAGs) is not an error: the manifest and plots say so.
        rows = [{"central_sample_id": s, "in_majora": "yes", "has_metadata": "", "source": mode} for s in ids]
    write_rows(rows, smk.output.samples)
    known = sum(r["in_majora"] == "yes" for r in rows)
    Path(smk.log[0]).write_text(f"{len(rows)} samples in the batch ({mode}); {known} known to Majora\n")


if "snakemake" in globals():
    main(globals()["snakemake"])
