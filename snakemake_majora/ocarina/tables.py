"""Ocarina's stdout layouts: the sequencing TSV, PAG tables (``--ofield``, ``--mode pagfiles``), Markdown
summaries and the MAG listing. Each function takes Majora's decoded answer and writes to ``out``."""

from __future__ import annotations

import csv
import re
import sys
from collections.abc import Iterable
from typing import Any, TextIO

PAGFILES_HEADER = ("pag_name", "file_type", "file_path", "file_hash", "file_size", "pag_suppressed",
                   "pag_basic_qc", "published_date")


def _cell(value: Any) -> str:
    # Booleans as Y/N, missing as empty, as Ocarina prints them.
    if value is True:
        return "Y"
    if value is False:
        return "N"
    if value is None or value == "None":
        return ""
    return str(value)


def _flatten(node: dict[str, Any], part: str, keys: set[str]) -> None:
    """Lift a library's or biosample's ``metadata`` (``meta.TAG.NAME``) or ``metrics``
    (``metric.NS.NAME``, records as ``metric.NS.N.NAME``) into the node itself, noting the new keys."""
    flat: dict[str, Any] = {}
    for tag, names in (node.get(part) or {}).items():
        for name, value in names.items():
            if part == "metadata":
                flat[f"meta.{tag}.{name}"] = value
            elif name == "records":
                for i, record in enumerate(value, start=1):
                    for sub, sub_value in record.items():
                        flat[f"metric.{tag}.{i}.{sub}"] = sub_value
            else:
                flat[f"metric.{tag}.{name}"] = value
    keys.update(flat)
    node.update(flat)


def sequencing_tsv(result: dict[str, Any], *, faster: bool, show_dummy: bool, out: TextIO,
                   err: TextIO = sys.stderr) -> None:
    """One row per run x library x biosample, columns sorted by name, the header before the first row.

    Biosamples without adm1 or without both dates are skipped (``--tsv-show-dummy`` keeps them); a row
    with a different set of columns from the first is skipped, as Ocarina skips it.
    """
    extra_keys: set[str] = set()
    for run in result.values():
        for lib in run["libraries"]:
            _flatten(lib, "metadata", extra_keys)
            for b in _biosamples(lib, faster):
                _flatten(b, "metadata", extra_keys)
                b.pop("metadata", None)
                _flatten(b, "metrics", extra_keys)
                b.pop("metrics", None)
            lib.pop("metadata", None)

    header: list[str] | None = None
    for run_name, run in result.items():
        libraries = run.pop("libraries")
        for lib in libraries:
            biosamples = _biosamples(lib, faster)
            lib.pop("biosamples")
            for key in extra_keys:
                lib.setdefault(key, None)
            for b in biosamples:
                dated = b.get("received_date") or b.get("collection_date")
                incomplete = not b.get("adm1") or not dated
                where = f"{run_name}.{lib['library_name']}.{b['central_sample_id']}"
                if incomplete and not show_dummy:
                    err.write(f"Skipping row: {where} as it does not have a complete set of headers...\n")
                    continue
                if not faster:
                    # The older endpoint nests the source; the faster one already gives its id.
                    sources = b.pop("biosample_sources", None)
                    try:
                        b["biosample_source_id"] = sources[0]["biosample_source_id"]
                    except (TypeError, IndexError, KeyError):
                        b["biosample_source_id"] = None
                row = {**run, **lib, **b}
                columns = sorted(row)
                if header is None:
                    header = columns
                    out.write("\t".join(header) + "\n")
                if len(columns) != len(header):
                    err.write(f"Skipping row: {where} as it does not have a complete set of headers...\n")
                else:
                    out.write("\t".join(_cell(row[c]) for c in columns) + "\n")


def _biosamples(lib: dict[str, Any], faster: bool) -> list[dict[str, Any]]:
    # get2 (--faster) gives biosamples as a mapping by id, get as a list.
    bs = lib.get("biosamples") or ([] if not faster else {})
    return list(bs.values()) if faster else list(bs)


def pagfiles(result: Iterable[list[Any]], *, header: bool, out: TextIO) -> None:
    """``--mode pagfiles``: the first eight columns of each file row, with readable QC and status."""
    if header:
        out.write("\t".join(PAGFILES_HEADER) + "\n")
    for row in result:
        row = list(row)
        row[6] = "PASS" if row[6] else "FAIL"
        row[5] = "SUPPRESSED" if row[5] else "VALID"
        row[7] = str(row[7]).split("T")[0]
        out.write("\t".join(str(x) for x in row[:8]) + "\n")


def _unique(flat: dict[str, Any], key: str, value: Any) -> None:
    # A key seen twice across a PAG's artifacts is ambiguous, so it is dropped (Ocarina keeps unique ones).
    if key not in flat:
        flat[key] = value
    else:
        del flat[key]


def flatten_pag(pag: dict[str, Any]) -> dict[str, Any]:
    """A PAG's scalars, accessions, QC reports and artifact fields as one flat mapping of dotted names."""
    flat = {k: v for k, v in pag.items() if not isinstance(v, dict | list)}
    for service, acc in (pag.get("accessions") or {}).items():
        for key, value in acc.items():
            if key != "service":
                flat[f"accession.{service.lower()}.{key}"] = value
    for test, result in (pag.get("qc_reports") or {}).items():
        flat[f"qc.{test}"] = result
    for artifacts in pag["artifacts"].values():
        for artifact in artifacts:
            kind = artifact.get("current_kind", "")
            for key, value in artifact.items():
                if key == "metadata":
                    for ns, names in value.items():
                        for name, v in names.items():
                            _unique(flat, f"{ns}.{name}", v)
                elif key == "metrics":
                    for ns, names in value.items():
                        for name, v in names.items():
                            mkey = name  # Ocarina reuses the previous name for the records list itself
                            if name == "records":
                                for i, record in enumerate(v, start=1):
                                    for sub, sub_value in record.items():
                                        flat[f"metric.{ns}.{i}.{sub}"] = sub_value
                            else:
                                mkey = f"metric.{ns}.{name}"
                            _unique(flat, mkey, v)
                elif key.startswith("supplement_"):
                    for name, v in value.items():
                        _unique(flat, f"supplement.{key.split('_')[1]}.{name}", v)
                else:
                    name = f"{kind}.{key}" if kind else key
                    if name not in flat and not isinstance(value, dict | list):
                        flat[name] = value
                    elif name in flat:
                        del flat[name]
    return flat


def _template(field: str, flat: dict[str, Any]) -> str:
    text = field[1:]
    for m in re.findall(r"{[\w\.]+}", field):
        if m[1:-1] in flat:
            text = text.replace(m, str(flat[m[1:-1]]))
    return text


def ofield_table(get: dict[str, Any] | None, ofields: list[list[str]], ffield_true: list[list[str]] | None,
                 delimiter: str, out: TextIO) -> int | None:
    """``--ofield FIELD AS DEFAULT`` columns (``~`` fields are ``{name}`` templates), rows filtered by
    ``--ffield-true``; returns the number of PAGs skipped, or None for an answer without ``count``."""
    writer = csv.DictWriter(out, fieldnames=[f[1] for f in ofields], delimiter=delimiter)
    writer.writeheader()
    if not isinstance(get, dict) or "count" not in get:
        return None
    skipped = 0
    if get["count"] >= 1:
        for item in get["result"]:
            pag = item["pag"]
            wanted = [f[0] for f in ffield_true or []]
            if any(name in pag and not pag[name] for name in wanted):
                skipped += 1
                continue
            flat = flatten_pag(pag)
            row = {}
            for field, as_, default in ofields:
                if field[0] == "~":
                    row[as_] = _template(field, flat)
                elif field in flat and flat[field] is not None:
                    row[as_] = flat[field]
                else:
                    row[as_] = default
            writer.writerow(row)
    return skipped


def summary_md(get: dict[str, Any], out: TextIO) -> None:
    """``get summary --md``: QC pass/fail and surveillance share per sample site and sequencing site."""
    groups = get["site_qc"]
    if not groups:
        return
    out.write("| Sample Site | Seq Site | Count | Pass | Pass% | Fail | Fail% | Surveillance "
              "| Surveillance% |\n")
    out.write("|------------:|---------:|------:|-----:|------:|-----:|------:|-------------:"
              "|--------------:|\n")
    for g in groups:
        surv = 0 if g["surveillance_dom"] == 0 else g["surveillance_num"] / g["surveillance_dom"] * 100
        sample_site = g["sourcesite"] if g["sourcesite"] != g["site"] else "-"
        out.write(f"| {sample_site} | {g['site']} | {int(g['count'])} | {int(g['pass_count'])} | "
                  f"{g['pass_count'] / g['count'] * 100:.2f} | {int(g['fail_count'])} | "
                  f"{g['fail_count'] / g['count'] * 100:.2f} | {int(g['surveillance_num'])} | {surv:.2f} |\n")


def outbound_md(get: dict[str, Any], *, from_wave: int, skip_zero: bool, out: TextIO) -> None:
    """``get outbound-summary --md``: one row per interval ("wave"), with a running released total."""
    intervals = get["intervals"]
    if not intervals:
        return
    out.write("| Wave | Date | Sites | Submitted | Rejected | Released | Cumulative released |\n")
    out.write("|:-----|:-----|------:|----------:|---------:|---------:|--------------------:|\n")
    total, shown = 0, 0
    for i, iv in enumerate(intervals):
        total += int(iv["released"])
        number = i
        if skip_zero:
            number = shown
            if int(iv["released"]) == 0 and int(iv["submitted"]) == 0:
                continue
            shown += 1
        mark = "" if iv["whole"] else "~"
        out.write(f"| {mark}{from_wave + number} | {iv['dt']} | 0 | {int(iv['submitted'])} | "
                  f"{int(iv['rejected'])} | {int(iv['released'])} | {total}\n")


def validity_tsv(result: dict[str, Any], out: TextIO) -> None:
    """``get biosample-validity --tsv``."""
    if not result:
        return
    out.write("sample_id\texists\thas_metadata\n")
    for sample_id, d in result.items():
        out.write(f"{sample_id}\t{1 if d['exists'] else 0}\t{1 if d['has_metadata'] else 0}\n")


def info_text(info: dict[str, Any], out: TextIO) -> None:
    """``info`` (the plain layout of ``--boring``)."""
    out.write(f"UUID {info['id']}\nTYPE {info['kind']}\nNAME {info['name']}\nPATH {info['path']}\n*\n")
    for tag in sorted(info["metadata"]):
        out.write(f"META {tag} {info['metadata'][tag]}\n")


def _text_table(rows: list[list[Any]], headers: list[str]) -> str:
    """A plain table as Ocarina prints it (tabulate's "simple" layout): cells stripped and left-aligned,
    columns two spaces apart and at least two wider than their header, a dashed rule under the headers."""
    cells = [["" if c is None else str(c).strip() for c in row] for row in rows]
    widths = [max([len(h) + 2] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def mag_table(mag: dict[str, Any], out: TextIO) -> None:
    """``list``: the group, its root and parent, then children, links and their artifacts."""
    rows: list[list[Any]] = []
    for label, g in (("...", mag.get("root_group")), (".. ", mag.get("parent_group")), (".  ", mag)):
        rows.append([label, g["name"], None, g["group_kind"], g["group_path"], g["id"]] if g
                    else [label, None, None, None, None, None])
    rows.append([None] * 6)
    for tc, kind in (("gc", "children"), ("gl", "hlinks"), ("sl", "slinks")):
        for g in mag.get(kind) or []:
            if tc == "sl":
                to = g.get("to_group")
                rows.append([f"{tc}-", g["name"], to["group_path"], to["name"], mag["group_path"], to["id"]]
                            if to else [f"{tc}-", g["name"], None, None, mag["group_path"], mag["id"]])
                continue
            rows.append([f"{tc}-", g["name"], None, g["group_kind"], g["group_path"], g["id"]])
            for a in g.get("artifacts", []):
                rows.append([f"-{tc[1]}a", a["name"], a["path"], a["kind"], g["name"], a["id"]])
            rows.append([None] * 6)
    out.write(_text_table(rows, ["", "ANAME", "APATH", "ATYPE", "GROUP", "MAJORA UUID"]) + "\n")
