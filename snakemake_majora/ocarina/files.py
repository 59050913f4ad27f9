"""What ``put file`` learns from a local file before registering it: hash, size, type checks, metadata."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

#: Type name -> extensions, matched against the end of the lower-cased path (no dot), as Ocarina does.
TYPES = {"fasta": ("fa", "fas", "fasta"), "bam": ("bam",)}


@dataclass
class FileReport:
    """Problems found (messages) and metadata to send under the type's name."""

    type_name: str
    extension: str
    problems: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


def md5(path: str) -> str:
    """MD5 of the whole file (Majora stores it as ``current_hash``)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "md5").hexdigest()


def file_type(path: str) -> tuple[str, str] | None:
    """(type name, matched extension) or None for a type without checks."""
    low = path.lower()
    for name, exts in TYPES.items():
        for ext in exts:
            if low.endswith(ext):
                return name, ext
    return None


def _fasta(path: str, report: FileReport) -> None:
    seqs = bases = 0
    head_space = bad_chars = False
    seq: list[str] = []

    def close() -> None:
        nonlocal bases, bad_chars
        joined = "".join(seq)
        bases += len(joined)
        bad_chars = bad_chars or any(c in joined for c in "X- ")

    with open(path, errors="replace") as fh:
        for line in fh:
            # Like Ocarina, the last character of every line is dropped (the newline, normally).
            if line[:1] == ">":
                if seqs:
                    close()
                seqs += 1
                seq = []
                head_space = head_space or " " in line[1:-1]
            elif seqs:
                seq.append(line[:-1])
    if seqs:
        close()
    size = os.path.getsize(path)
    for failed, msg in ((size == 0, "is empty"),
                        (head_space, "has at least one sequence with a space in the header"),
                        (bad_chars, "has at least one sequence containing a space, X or -"),
                        (seqs == 0, "has no sequence headers")):
        if failed:
            report.problems.append(msg)
    report.metadata = {"n_sequences": seqs, "n_bases": bases}
    if bases > 0 and seqs > 0:
        report.metadata["avg_bases"] = bases / seqs


def _bam(path: str, report: FileReport) -> None:
    alignments, reference = -1, None
    samtools = shutil.which("samtools")
    if samtools:
        # Without samtools the counts are unknown, as in Ocarina; the index checks still run.
        count = subprocess.run([samtools, "view", "-c", "-F4", path], capture_output=True, text=True)
        if count.returncode == 0 and count.stdout.strip().isdigit():
            alignments = int(count.stdout.strip())
        head = subprocess.run([samtools, "view", "-H", path], capture_output=True, text=True)
        refs = [ln for ln in head.stdout.splitlines() if ln.startswith("@SQ")]
        if len(refs) == 1 and "\t" in refs[0]:
            reference = refs[0].split("\t")[1].replace("SN:", "")
    index = path + ".bai"
    has_index = os.path.exists(index)
    fresh_index = has_index and os.path.getmtime(path) <= os.path.getmtime(index)
    for failed, msg in ((alignments == 0, "has no mapped reads"), (not has_index, "has no index"),
                        (not fresh_index, "has an index older than itself")):
        if failed:
            report.problems.append(msg)
    if alignments > -1:
        report.metadata["n_mapped_alignments"] = alignments
    if reference:
        report.metadata["reference"] = reference


def check(path: str) -> FileReport | None:
    """Run the checks for the file's type; None when the type has none."""
    kind = file_type(path)
    if kind is None:
        return None
    report = FileReport(*kind)
    (_fasta if kind[0] == "fasta" else _bam)(path, report)
    return report
