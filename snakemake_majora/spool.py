"""Large task results stay on disk: read to a file as they arrive, rewritten canonically item by item.

A PAG listing or a dataview is one ``task/get`` answer, hundreds of MB at production size. Parsed as a
whole it would sit in the Snakemake main process many times over (bytes, objects, canonical bytes). So
for those queries the answer is written to the task file as it arrives (:func:`spool_answer`); only its
envelope (``errors``, ``messages``, ``task``) is read out of it; and the local copy is written from it
item by item with ijson (:func:`write_canonical`), hashing as it goes. The bytes are exactly those
:func:`snakemake_majora.records.canonical_json` / ``canonical_tsv`` give for the parsed answer, so the
record's checksum and the ledger do not depend on which path made them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import ijson

from .records import _cell, _flatten

CHUNK = 1 << 20
SCALARS = ("string", "number", "boolean", "null")


def spool_answer(response: Any, dest: Path) -> int:
    """Write a streamed response body to ``dest`` (0600, created anew); returns its size."""
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    size = 0
    with os.fdopen(fd, "wb") as fh:
        for chunk in response.iter_content(CHUNK):
            fh.write(chunk)
            size += len(chunk)
    return size


def envelope(path: Path) -> dict[str, Any]:
    """The small part of a spooled answer: ``errors``, ``warnings``, ``messages``, ``tasks``, ``task``
    (each read by ijson's C backend, skipping the listing)."""
    out: dict[str, Any] = {}
    with open(path, "rb") as fh:
        for prefix, event, value in ijson.parse(fh, use_float=True):
            if prefix in ("errors", "warnings") and event == "number":
                out[prefix] = value
            elif prefix == "messages.item" and event in ("string", "number"):
                out.setdefault("messages", []).append(value)
            elif prefix == "tasks.item" and event == "string":
                out.setdefault("tasks", []).append(value)
            elif prefix.startswith("task.") and prefix.count(".") == 1 and event in ("string", "boolean"):
                out.setdefault("task", {})[prefix[5:]] = value
            elif prefix.startswith("get.") and prefix.count(".") == 1 and event in SCALARS:
                out.setdefault("get", {})[prefix[4:]] = value  # count: the listing itself is not kept
    return out


def _items(path: Path, prefix: str) -> Iterator[Any]:
    with open(path, "rb") as fh:
        yield from ijson.items(fh, prefix, use_float=True)


class _HashingWriter:
    """Writes text as UTF-8 to a binary file, hashing and counting what it wrote."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh, self.sha, self.size = fh, hashlib.sha256(), 0

    def write(self, text: str) -> int:
        data = text.encode("utf-8")
        self.fh.write(data)
        self.sha.update(data)
        self.size += len(data)
        return len(text)


def _json_list(out: _HashingWriter, items: Iterator[Any], depth: int) -> None:
    """A list at nesting ``depth`` as ``json.dumps(indent=1, sort_keys=True)`` writes it."""
    pad = " " * depth
    first = True
    for item in items:
        text = json.dumps(item, sort_keys=True, indent=1, ensure_ascii=False).replace("\n", "\n" + pad + " ")
        out.write(("[\n" if first else ",\n") + pad + " " + text)
        first = False
    out.write("[]" if first else "\n" + pad + "]")


def _result_items(path: Path, kind: str) -> Iterator[Any]:
    return _items(path, "get.result.item" if kind == "pag" else "data.item")


def write_canonical(path: Path, kind: str, table: bool, dest: BinaryIO, get: dict | None = None
                    ) -> tuple[str, int]:
    """Write the canonical local copy of the spooled answer ``path`` (a ``pag`` or ``dataview`` task
    result) to ``dest``; ``get``: the scalar keys of a PAG answer's ``get`` besides ``result`` (from
    :func:`envelope`). Returns (sha256 hex, size)."""
    out = _HashingWriter(dest)
    if table:
        _write_tsv(out, lambda: _result_items(path, kind))
        return out.sha.hexdigest(), out.size
    keys = {k: v for k, v in (get or {}).items() if k != "result"} if kind == "pag" else None
    if keys is None:
        _json_list(out, _result_items(path, kind), 0)
    else:
        entries = sorted([*keys, "result"])
        out.write("{\n")
        for i, name in enumerate(entries):
            out.write(f" {json.dumps(name, ensure_ascii=False)}: ")
            if name == "result":
                _json_list(out, _result_items(path, kind), 1)
            else:
                text = json.dumps(keys[name], sort_keys=True, indent=1, ensure_ascii=False)
                out.write(text.replace("\n", "\n "))
            out.write(",\n" if i < len(entries) - 1 else "\n")
        out.write("}")
    out.write("\n")
    return out.sha.hexdigest(), out.size


def _write_tsv(out: _HashingWriter, items) -> None:
    """``canonical_tsv`` in two passes: the columns of every row first, then the rows."""
    columns: set[str] = set()
    for item in items():
        flat: dict[str, Any] = {}
        _flatten(item if isinstance(item, dict) else {"value": item}, "", flat)
        columns.update(flat)
    ordered = sorted(columns)
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)

    def flush() -> None:
        out.write(buf.getvalue())
        buf.seek(0)
        buf.truncate()

    writer.writerow(ordered)
    for n, item in enumerate(items()):
        flat = {}
        _flatten(item if isinstance(item, dict) else {"value": item}, "", flat)
        writer.writerow([_cell(flat.get(c)) for c in ordered])
        if n % 1000 == 999:
            flush()
    flush()
