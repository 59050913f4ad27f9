"""Read back, once per batch, the QC outcome Majora evaluated for each PAG this run published.

The cost follows the batch, not the server: one ``pag/qc/get`` for the configured test in
``mode: pagfiles`` (one row per file: name, kind, path, hash, size, suppressed, pass, date), limited to
PAGs published on the days this batch published (``published_after``/``published_before``, from the
``published_on`` each publish job records): what it reads grows with the PAGs published on those days,
not with the server. Majora dates a PAG by the day it was made: a PAG of this run missing from that
window (Majora's clock on another day) is looked for in a window a day wider, and a PAG that already
existed before this run (``file/add`` did not make it) in everything published before the window;
these extra queries are made only when such PAGs exist. ``pagfiles`` mode is also the one a
PAG without a sequencing run does not break on Majora (its default-mode listing fails for everyone).
Used by the ``majora_qc`` checkpoint (``script:``).
"""

# No `from __future__` import: Snakemake prepends a preamble to script: files.
import csv
import json
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

COLUMNS = ["central_sample_id", "publish_group", "qc_test", "majora_qc"]
#: Days of slack on each side of the publish days when a PAG made by this run is not on its day
#: (Majora's clock or time zone against ours): asked for only then.
SLACK_DAYS = 1
PAG_KIND = "Published Artifact Group"


def outcomes(result: list[Any], test: str) -> dict[str, str]:
    """``{published_name: PASS|FAIL}`` for one QC test from a ``pag/qc/get`` result, in ``pagfiles``
    mode (rows whose 7th column is the PAG's pass) or the default mode (``qc_reports``)."""
    key = test.replace("-", "_")  # Majora's qc_reports keys are the test slugs with underscores
    out = {}
    for item in result:
        if isinstance(item, list):
            if len(item) > 6 and item[0] and item[6] is not None:
                out[item[0]] = "PASS" if item[6] else "FAIL"
            continue
        pag = item.get("pag") or item
        name = pag.get("published_name") or item.get("published_name")
        reports = pag.get("qc_reports") or {}
        if name and key in reports:
            out[name] = str(reports[key]).upper()
    return out


def window(published: list[dict[str, Any]], slack: int = 0) -> tuple[str, str]:
    """``(published_after, published_before)`` (Majora's bounds are exclusive): the publish days, widened
    by ``slack`` days on each side."""
    today = datetime.now(UTC).date()
    days = [date.fromisoformat(p["published_on"]) if p.get("published_on") else today for p in published]
    after = min(days) - timedelta(days=1 + slack)
    before = max(days) + timedelta(days=1 + slack)
    return after.isoformat(), before.isoformat()


def read_back(client: Any, test: str, published: list[dict[str, Any]]) -> tuple[dict[str, str], list[str]]:
    """Majora's outcomes of the batch's PAGs, asking only for the PAGs published around the batch;
    with one line per query made (for the log)."""
    asked: list[str] = []

    def ask(after: str, before: str | None, why: str = "") -> dict[str, str]:
        got = client.get_pags(test, mode="pagfiles", published_after=after or None, published_before=before)
        rows = got.get("result") or []
        asked.append(f"pag/qc/get {test} mode=pagfiles published_after={after} published_before={before}"
                     f"{why}: {len(rows)} rows")
        return outcomes(rows, test)

    def made_here(p: dict[str, Any]) -> bool:
        return PAG_KIND in (p.get("new") or []) and bool(p.get("published_on"))

    after, before = window(published)
    found = ask(after, before)
    if any(made_here(p) and p["publish_group"] not in found for p in published):
        # Made by this run but not dated on its publish day by Majora's clock: widen the window.
        wide_after, wide_before = window(published, SLACK_DAYS)
        found.update(ask(wide_after, wide_before, " (PAGs of this run dated on another day)"))
        after = wide_after
    # A PAG this run did not make (no "Published Artifact Group" in file/add's new) may be older.
    older = [p for p in published if p["publish_group"] not in found and not made_here(p)]
    if older:
        day_after = (date.fromisoformat(after) + timedelta(days=1)).isoformat()
        found.update(ask("", day_after, f" (for {len(older)} PAGs this run did not make)"))
    return found, asked


def main(smk: Any) -> None:
    """Entry point for Snakemake's ``script:`` directive."""
    from snakemake_majora import jobs
    from snakemake_majora.errors import MajoraError

    published = [json.loads(Path(f).read_text(encoding="utf-8")) for f in smk.input.published]
    rows, asked = [], []
    if published:
        try:
            by_pag, asked = read_back(jobs.client(profile=smk.params.profile), smk.params.qc_test, published)
        except MajoraError as e:
            sys.exit(f"majora_qc: cannot read the QC outcomes back from Majora: {e}")
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
                                f"{len(rows) - passed} other\n" + "".join(f"{a}\n" for a in asked),
                                encoding="utf-8")


if "snakemake" in globals():
    main(globals()["snakemake"])
