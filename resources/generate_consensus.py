"""Generate the demo lab's consensus FASTA files from its QC rows (run once; the files are shipped).

Each ``lab-qc/<sample>.qc.csv`` names its consensus in the ``fasta`` column (relative to ``lab-qc/``).
The sequence is made up (deterministic, seeded by the sample ID), shaped so that what the workflow
measures from the file agrees with the lab's QC row: 29,903 bases, ``pct_N_bases`` of them N, and a
longest stretch without N of exactly ``longest_no_N_run``.

    python resources/generate_consensus.py
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
LAB_QC = HERE / "lab-qc"
LENGTH = 29903  # MN908947.3


def sequence(sample: str, pct_n: float, longest: int) -> str:
    """N block, the longest ungapped run, N block, the rest, N block (ARTIC's amplicon dropouts)."""
    rng = random.Random(sample)
    n = round(pct_n * LENGTH / 100)
    rest = LENGTH - n - longest
    if rest < 0 or rest >= longest:
        raise ValueError(f"{sample}: pct_N_bases and longest_no_N_run do not fit {LENGTH} bases")
    n1, n2 = n // 3, max(1, n // 3) if rest else 0
    n3 = n - n1 - n2
    acgt = "".join(rng.choice("ACGT") for _ in range(longest + rest))
    return "N" * n1 + acgt[:longest] + "N" * n2 + acgt[longest:] + "N" * n3


def main() -> None:
    for qc in sorted(LAB_QC.glob("*.qc.csv")):
        with open(qc, newline="") as fh:
            row = next(csv.DictReader(fh))
        seq = sequence(row["sample_name"], float(row["pct_N_bases"]), int(row["longest_no_N_run"]))
        out = LAB_QC / row["fasta"]
        out.parent.mkdir(parents=True, exist_ok=True)
        name = Path(row["fasta"]).name.removesuffix(".fa")
        lines = [seq[i:i + 60] for i in range(0, len(seq), 60)]
        out.write_text(f">{name}\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
