"""Large task results stay on disk: read to a file as they arrive, rewritten canonically item by item.

A PAG listing, a dataview or every sequencing run is one ``task/get`` answer, hundreds of MB at
production size. Parsed as a whole it would sit in the Snakemake main process many times over (bytes,
objects, canonical bytes). So for those queries the answer is written to the task file as it arrives
(:func:`spool_answer`); only its envelope (``errors``, ``messages``, ``task``) is read out of it; and
the local copy is written from it item by item with ijson (:func:`write_canonical`), hashing as it
goes. The bytes are exactly those :func:`snakemake_majora.records.canonical_json` / ``canonical_tsv``
give for the parsed answer, so the record's checksum and the ledger do not depend on which path made
them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import ijson

from .jsonindent import IndentedJSON
from .records import _cell, _flatten

CHUNK = 1 << 20
SCALARS = ("string", "number", "boolean", "null")
#: ``records.canonical_json``'s layout (sorted keys, 1-space indent, UTF-8), at the C encoder's speed.
CANONICAL = IndentedJSON(indent=1, ensure_ascii=False)


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
    and the scalars of ``get`` (``count``), skipping the listing.

    Majora writes ``task`` after the listing, so the whole answer is read; with ijson's C backend the
    parsing costs little, the Python loop over its events is what counts: ``basic_parse`` and a depth
    counter do a fraction of the work of ``parse``'s prefixes (docs/benchmarks.md, "Where the listing
    input's extra time went")."""
    out: dict[str, Any] = {}
    with open(path, "rb") as fh:
        depth, top, sub = 0, "", ""
        for event, value in ijson.basic_parse(fh, use_float=True):
            if event == "map_key":
                if depth == 1:
                    top = value
                elif depth == 2:
                    sub = value
            elif event == "start_map" or event == "start_array":
                depth += 1
                sub = ""
            elif event == "end_map" or event == "end_array":
                depth -= 1
            elif depth == 1:
                if (top == "errors" or top == "warnings") and event == "number":
                    out[top] = value
            elif depth == 2 and top in _ENVELOPE_PARTS:
                name, kept, keyed = _ENVELOPE_PARTS[top]
                if event in kept and bool(sub) == keyed:
                    if keyed:
                        out.setdefault(name, {})[sub] = value
                    else:
                        out.setdefault(name, []).append(value)
    return out


# Top-level keys read at depth 2: (name in the envelope, the events kept, whether a map's values).
_ENVELOPE_PARTS: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "messages": ("messages", ("string", "number"), False),
    "tasks": ("tasks", ("string",), False),
    "task": ("task", ("string", "boolean"), True),
    "get": ("get", SCALARS, True),  # count: the listing itself is not kept
}


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
        out.write(("[\n" if first else ",\n") + pad + " " + CANONICAL.dumps(item, depth + 1))
        first = False
    out.write("[]" if first else "\n" + pad + "]")


def _result_items(path: Path, kind: str) -> Iterator[Any]:
    return _items(path, "get.result.item" if kind == "pag" else "data.item")


def _json_sorted_object(out: _HashingWriter, pairs: Iterator[tuple[str, Any]], indent: int,
                        ensure_ascii: bool, scratch_dir: Path) -> None:
    """A top-level object as ``json.dumps(obj, sort_keys=True, indent=indent)`` writes it, from its
    (key, value) pairs in any order, holding one value at a time.

    Majora lists runs in database order, not by name, so each value is rendered into an anonymous
    scratch file in ``scratch_dir`` (0600, gone when closed) and the object is then written from it in
    key order; only the keys and their offsets stay in memory."""
    pad = " " * indent
    render = IndentedJSON(indent, ensure_ascii)
    index: list[tuple[str, int, int]] = []
    with tempfile.TemporaryFile(dir=scratch_dir) as scratch:
        for key, value in pairs:
            data = render.dumps(value, 1).encode("utf-8")
            index.append((key, scratch.tell(), len(data)))
            scratch.write(data)
        if not index:
            out.write("{}")
            return
        index.sort(key=lambda entry: entry[0])  # json.dumps(sort_keys=True) orders keys the same way
        for n, (key, offset, length) in enumerate(index):
            scratch.seek(offset)
            name = json.dumps(key, ensure_ascii=ensure_ascii)
            out.write(("{\n" if n == 0 else ",\n") + pad + name + ": ")
            out.write(scratch.read(length).decode("utf-8"))
        out.write("\n}")


def _kvitems(path: Path, prefix: str) -> Iterator[tuple[str, Any]]:
    with open(path, "rb") as fh:
        yield from ijson.kvitems(fh, prefix, use_float=True)


def write_runs(path: Path, dest: BinaryIO, indent: int = 1, ensure_ascii: bool = False) -> tuple[str, int]:
    """Every run of a spooled ``sequencing/get '*'`` answer (its ``get.result``, keyed by run name) to
    ``dest`` as ``json.dumps(runs, sort_keys=True, indent=indent, ensure_ascii=ensure_ascii)`` and a
    newline would write it: the plugin's canonical copy (the defaults) or the CLI's output (indent 2,
    ASCII). Returns (sha256 hex, size)."""
    out = _HashingWriter(dest)
    _json_sorted_object(out, _kvitems(path, "get.result"), indent, ensure_ascii, path.parent)
    out.write("\n")
    return out.sha.hexdigest(), out.size


def write_canonical(path: Path, kind: str, table: bool, dest: BinaryIO, get: dict | None = None
                    ) -> tuple[str, int]:
    """Write the canonical local copy of the spooled answer ``path`` (a ``pag``, ``dataview`` or every-run
    ``sequencing`` task result) to ``dest``; ``get``: the scalar keys of a PAG answer's ``get`` besides
    ``result`` (from :func:`envelope`). Returns (sha256 hex, size)."""
    if kind == "sequencing":
        return write_runs(path, dest)
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
                out.write(CANONICAL.dumps(keys[name], 1))
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
