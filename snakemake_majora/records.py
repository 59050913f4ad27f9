"""Canonical local files for Majora records: stable JSON bytes and flat TSV tables.

The same record must always give the same bytes (the plugin's checksum and ledger depend on it), so
JSON is written with sorted keys, fixed indentation and a trailing newline, and tables have sorted,
deterministic columns.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any


def canonical_json(obj: Any) -> bytes:
    """Stable, human-readable JSON bytes for ``obj`` (sorted keys, 1-space indent, UTF-8, newline)."""
    return (json.dumps(obj, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def _flatten(obj: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(obj, dict) and obj:
        for k, v in obj.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    else:
        out[prefix or "value"] = obj


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # Tabs and newlines would break the table; Majora values are short strings, so replace them.
    return str(value).replace("\t", " ").replace("\r", " ").replace("\n", " ")


def table_rows(kind: str, payload: Any) -> list[dict[str, Any]]:
    """The rows of a dataview (a list of records) or a PAG result (``{"result": [...], ...}``)."""
    if kind == "pag":
        rows = payload.get("result", []) if isinstance(payload, dict) else payload
    else:
        rows = payload
    if not isinstance(rows, list):
        return []
    return [r if isinstance(r, dict) else {"value": r} for r in rows]


def canonical_tsv(rows: list[dict[str, Any]]) -> bytes:
    """A TSV table: nested keys flattened with dots, columns sorted, lists/dicts as compact JSON."""
    flat: list[dict[str, Any]] = []
    for row in rows:
        out: dict[str, Any] = {}
        _flatten(row, "", out)
        flat.append(out)
    columns = sorted({c for row in flat for c in row})
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    for row in flat:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buf.getvalue().encode("utf-8")
