"""Read back, once per batch, the QC outcome Majora evaluated for each PAG this run published.

One ``pag/qc/get`` for the configured test (an async task) lists the PAGs with their ``qc_reports``;
this keeps the outcome of the published PAGs (``PASS``/``FAIL`` as Majora decided with its loaded QC
rules). Used by the ``majora_qc`` checkpoint (``script:``).
"""

# No `from __future__` import: Snakemake prepends a preamble to script: files.
import csv
import json
import sys
from pathlib import Path
from typing import Any

COLUMNS = ["central_sample_id", "publish_group", "qc_test", "majora_qc"]


def outcomes(result: list[dict[str, Any]], test: str) -> dict[str, str]:
    """``{published_name: PASS|FAIL}`` for one QC test from a ``pag/qc/get`` result."""
    key = test.replace("-", "_")  # Majora's qc_reports keys are the test slugs with underscores
    out = {}
    for item in result:
        pag = item.get("pag") or item
        name = pag.get("published_name") or item.get("published_name")
        reports = pag.get("qc_reports") or {}
        if name and key in reports:
            out[name] = str(reports[key]).upper()
    return out


def main(smk: Any) -> None:
    """Entry point for Snakemake's ``script:`` directive."""
    from snakemake_majora import jobs
    from snakemake_majora.errors import MajoraError

    published = [json.loads(Path(f).read_text(encoding="utf-8")) for f in smk.input.published]
    rows = []
    if published:
        try:
            got = jobs.client(profile=smk.params.profile).get_pags(smk.params.qc_test)
        except MajoraError as e:
            sys.exit(f"majora_qc: cannot read the QC outcomes back from Majora: {e}")
        by_pag = outcomes(got.get("result") or [], smk.params.qc_test)
        for p in published:
            rows.append({"central_sample_id": p["central_sample_id"], "publish_group": p["publish_group"],
                         "qc_test": smk.params.qc_test,
                         "majora_qc": by_pag.get(p["publish_group"], "NOT EVALUATED")})
    with open(smk.output[0], "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, COLUMNS, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    passed = sum(r["majora_qc"] == "PASS" for r in rows)
    Path(smk.log[0]).write_text(f"{len(rows)} PAGs published; Majora's {smk.params.qc_test}: {passed} PASS, "
                                f"{len(rows) - passed} other\n", encoding="utf-8")


if "snakemake" in globals():
    main(globals()["snakemake"])
