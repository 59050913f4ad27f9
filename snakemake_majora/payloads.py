"""Request bodies for Majora's write calls, built the way Ocarina 1.0.0 builds them.

* :func:`metrics_from_triples`: ``--metric NAMESPACE KEY VALUE`` (and ``NAMESPACE.RECORD KEY VALUE``).
* :func:`file_record`: an ``artifact/file/add`` body describing a real file (MD5, size, name,
  extension, FASTA statistics), as ``ocarina put file --full-path`` sends it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import UsageError

FASTA_EXTENSIONS = ("fa", "fas", "fasta")
RESOURCE_TYPES = ("file", "reads", "alignment", "consensus")


def metrics_from_triples(triples: Iterable[Iterable[str]]) -> dict[str, dict[str, Any]]:
    """``{namespace: {key: value}}`` from ``(namespace, key, value)`` triples; a namespace written
    ``ns.record`` puts the pair under ``{ns: {"records": {record: {key: value}}}}`` (Majora's record-style
    metrics, e.g. ``ct.1 ct_value 21.3``). Values stay strings, as Ocarina sends them."""
    metrics: dict[str, dict[str, Any]] = {}
    for triple in triples:
        namespace, key, value = triple
        parts = namespace.split(".")
        if len(parts) > 2 or not all(parts):
            raise UsageError(f"--metric {namespace!r}: write the namespace as NAMESPACE or NAMESPACE.RECORD "
                             "(one dot at most)")
        ns = metrics.setdefault(parts[0], {})
        if len(parts) == 2:
            ns.setdefault("records", {}).setdefault(parts[1], {})[key] = value
        else:
            ns[key] = value
    return metrics


def md5_of(path: Path) -> str:
    """MD5 hex digest of a file (the hash Majora stores for digital resources, as Ocarina computes it)."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def fasta_stats(path: Path) -> dict[str, Any]:
    """Ocarina's FASTA metadata (``n_sequences``, ``n_bases``, ``avg_bases``) and its integrity problem
    (a sequence with a space, ``X`` or ``-``; a header with a space; no sequence), or None."""
    seqs = bases = 0
    problem = None
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line.startswith(">"):
                seqs += 1
                if " " in line:
                    problem = "has at least one sequence with a space in the header"
            elif line:
                bases += len(line)
                if any(c in line for c in "X- "):
                    problem = "has at least one sequence containing a space, X or -"
    if seqs == 0:
        problem = "has no sequence headers"
    stats: dict[str, Any] = {"n_sequences": seqs, "n_bases": bases}
    if seqs and bases:
        stats["avg_bases"] = bases / seqs
    return {"stats": stats, "problem": problem}


def file_record(path: str | Path, *, resource_type: str, pipeline: tuple[str, str, str, str],
                bridge_artifact: str | None = None, source_artifacts: list[str] | None = None,
                publish_group: str | None = None, node: str | None = None,
                metadata: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The ``artifact/file/add`` body for the real file at ``path`` (absolute path, as with Ocarina's
    ``--full-path``). ``pipeline`` is (hook, kind, name, version). Raises :class:`UsageError` if the file is
    missing or a FASTA fails Ocarina's integrity checks."""
    p = Path(path).absolute()
    if not p.is_file():
        raise UsageError(f"{p} does not exist or is not a file")
    if resource_type not in RESOURCE_TYPES:
        raise UsageError(f"resource type {resource_type!r} is not one of {', '.join(RESOURCE_TYPES)}")
    name = p.name
    ext = name.rsplit(".", 1)[-1] if "." in name else ""
    meta = {ns: dict(v) for ns, v in (metadata or {}).items()}
    if ext.lower() in FASTA_EXTENSIONS:
        checked = fasta_stats(p)
        if checked["problem"]:
            raise UsageError(f"{p} {checked['problem']}; fix the FASTA before registering it")
        meta["fasta"] = {**checked["stats"], **meta.get("fasta", {})}
    hook, kind, pipe_name, pipe_version = pipeline
    body: dict[str, Any] = {
        "path": str(p), "sep": os.sep, "current_name": name, "current_fext": ext,
        "current_hash": md5_of(p), "current_size": p.stat().st_size, "resource_type": resource_type,
        "pipe_hook": hook, "pipe_kind": kind, "pipe_name": pipe_name, "pipe_version": pipe_version,
        "metadata": meta,
    }
    if node:
        body["node_name"] = node
    if bridge_artifact:
        body["bridge_artifact"] = bridge_artifact
    if source_artifacts:
        body["source_artifact"] = list(source_artifacts)
    if publish_group:
        body["publish_group"] = publish_group
    return body
