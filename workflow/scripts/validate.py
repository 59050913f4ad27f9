"""Validate one Majora biosample record's metadata and write a per-sample verdict (JSON).

The rules are the ones Majora applies when a sample is added (majora2/forms.py; majora-api.md §1.7),
with Majora's own wording, so a lab sees the message it would get from Majora itself:
required fields, the four UK nations in ``adm1``, dates not in the future and not before 2020,
received on or after collection, and the choice fields. The 365-day rule is skipped: it only applies
to *new* samples, and every record here already exists.

Used by the ``validate`` rule (``script:``) and importable for tests.
"""

# No `from __future__` import: Snakemake prepends a preamble to script: files.
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

ADM1 = ("UK-ENG", "UK-SCT", "UK-WLS", "UK-NIR")
CHOICES = {
    "source_sex": ("F", "M", "Other"),
    "sample_type_collected": ("dry swab", "swab", "aspirate", "sputum", "BAL"),
    "sample_type_received": ("primary", "extract", "lysate", "culture"),
    "swab_site": ("nose", "throat", "nose-throat", "endotracheal", "rectal"),
}
PILLARS = (1, 2, 103, 34613)
EARLIEST = dt.date(2020, 1, 1)


def _date(record: dict, field: str, problems: list[str]) -> dt.date | None:
    value = record.get(field)
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        problems.append(f"{field}: '{value}' is not a YYYY-MM-DD date")
        return None


def check_record(record: dict[str, Any] | None, today: dt.date | None = None) -> list[str]:
    """Every problem with a biosample record's metadata, as ``field: message`` strings ([] = valid)."""
    today = today or dt.date.today()
    if not record:
        return ["record: not found in Majora"]
    problems: list[str] = []
    if not record.get("central_sample_id"):
        problems.append("central_sample_id: This field is required.")
    if not record.get("adm1") and not record.get("collection_date") and not record.get("received_date"):
        # An `addempty` placeholder: Majora knows the ID but the lab never sent the metadata.
        return ["metadata: none submitted yet (placeholder sample; the lab must add the metadata)"]
    adm1 = record.get("adm1")
    if not adm1:
        problems.append("adm1: This field is required.")
    elif adm1 not in ADM1:
        problems.append(f"adm1: '{adm1}' is not one of {', '.join(ADM1)}")
    if record.get("is_surveillance") not in ("Y", "N"):
        problems.append("is_surveillance: You must set is_surveillance to Y or N")

    coll = _date(record, "collection_date", problems)
    recv = _date(record, "received_date", problems)
    bad_dates = any(p.startswith(("collection_date", "received_date")) for p in problems)
    if coll is None and recv is None and not bad_dates:
        problems.append(
            "received_date: You must provide a received date for samples without a collection date")
    for field, value, verb in (("collection_date", coll, "collected"), ("received_date", recv, "received")):
        if value is None:
            continue
        if value > today:
            problems.append(f"{field}: Sample cannot be {verb} in the future")
        elif value < EARLIEST:
            problems.append(f"{field}: Sample cannot be {verb} before 2020")
    if coll and recv and recv < coll:
        problems.append("received_date: Sample cannot be received before it was collected")

    for field, allowed in CHOICES.items():
        value = record.get(field)
        if value not in (None, "") and value not in allowed:
            problems.append(f"{field}: '{value}' is not one of {', '.join(allowed)}")
    pillar = record.get("collection_pillar")
    if pillar not in (None, "") and pillar not in PILLARS:
        problems.append(f"collection_pillar: '{pillar}' is not one of {', '.join(map(str, PILLARS))}")
    if record.get("adm2") and re.search(r"\d", str(record["adm2"])):
        problems.append("adm2: adm2 cannot contain numbers. Use adm2_private if you are trying to provide an "
                        "outer postcode")
    if record.get("adm2_private") and " " in str(record["adm2_private"]):
        problems.append("adm2_private: Enter the first part of the postcode only")
    swab, stype = record.get("swab_site"), record.get("sample_type_collected")
    if swab and stype and "swab" not in stype and stype != "aspirate":
        problems.append("sample_type_collected: Swab site specified but the sample type is not 'swab'")
    return problems


def load_record(path: str | Path, sample: str) -> dict[str, Any] | None:
    """The biosample struct from the plugin's local file (``{"<id>": {...}}`` or the bare struct)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, dict) and sample in data and isinstance(data[sample], dict):
        return data[sample]
    return data if isinstance(data, dict) else None


def verdict(record: dict[str, Any] | None, sample: str, today: dt.date | None = None) -> dict[str, Any]:
    """The per-sample verdict written by the rule: the fields the manifest needs plus the problems."""
    problems = check_record(record, today)
    record = record or {}
    coll = record.get("collection_date") or record.get("received_date")
    week = ""
    if coll:
        try:
            year, wk, _ = dt.date.fromisoformat(coll).isocalendar()
            week = f"{year}-W{wk:02d}"
        except ValueError:
            pass
    return {
        "central_sample_id": sample,
        "valid": not problems,
        "problems": problems,
        "adm1": record.get("adm1") or "",
        "adm2": record.get("adm2") or "",
        "collection_date": record.get("collection_date") or "",
        "received_date": record.get("received_date") or "",
        "collection_week": week,
        "submission_org_code": record.get("submission_org_code") or "",
    }


def main(smk: Any) -> None:
    """Entry point for Snakemake's ``script:`` directive."""
    sample = smk.wildcards.sample
    result = verdict(load_record(smk.input.record, sample), sample)
    Path(smk.output[0]).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    summary = "valid" if result["valid"] else "; ".join(result["problems"])
    Path(smk.log[0]).write_text(f"{sample}: {summary}\n")


if "snakemake" in globals():
    main(globals()["snakemake"])
