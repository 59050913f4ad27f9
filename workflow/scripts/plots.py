"""The report's two plots, drawn from the batch manifest.

1. Samples per region (adm1) per ISO collection week, stacked bars.
2. QC outcome: per region, how many samples passed lab QC, failed it, had no QC file, or have
   metadata Majora would reject; next to it, genome coverage per sample against the pass threshold.

Used by the ``plots`` rule (``script:``); ``python plots.py MANIFEST OUTDIR`` works too.
"""

# No `from __future__` import: Snakemake prepends a preamble to script: files.
import csv
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on cluster nodes or in CI
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

REGIONS = ["UK-ENG", "UK-SCT", "UK-WLS", "UK-NIR"]
REGION_NAMES = {"UK-ENG": "England", "UK-SCT": "Scotland", "UK-WLS": "Wales", "UK-NIR": "Northern Ireland"}
REGION_COLOURS = {"UK-ENG": "#c8102e", "UK-SCT": "#005eb8", "UK-WLS": "#00a651", "UK-NIR": "#f2a900",
                  "": "#9e9e9e"}
OUTCOMES = [("QC pass", "#2e7d32"), ("QC fail", "#c62828"), ("no QC file", "#9e9e9e"),
            ("metadata invalid", "#ef6c00")]


def read_manifest(path: str | Path) -> list[dict[str, str]]:
    """The manifest rows as dicts."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def outcome(row: dict[str, str]) -> str:
    """One label per sample; invalid metadata wins, because such a sample cannot be published."""
    if row.get("metadata_valid") != "yes":
        return "metadata invalid"
    return {"pass": "QC pass", "fail": "QC fail"}.get(row.get("qc_pass", ""), "no QC file")


def plot_regions_by_week(rows: list[dict[str, str]], out: str | Path, title: str) -> None:
    """Stacked bars: samples per collection week, one colour per region."""
    weeks = sorted({r["collection_week"] for r in rows if r.get("collection_week")})
    dated = [r for r in rows if r.get("collection_week")]
    counts = Counter((r["collection_week"], r.get("adm1", "")) for r in dated)
    regions = [g for g in REGIONS if any(c for (w, g2), c in counts.items() if g2 == g)]
    regions += sorted({g for (_, g) in counts if g not in REGIONS})
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(weeks) + 3), 4.2), layout="constrained")
    bottom = [0] * len(weeks)
    for region in regions:
        heights = [counts.get((w, region), 0) for w in weeks]
        label = REGION_NAMES.get(region, region or "unknown")
        bars = ax.bar(weeks, heights, bottom=bottom, label=label,
                      color=REGION_COLOURS.get(region, "#7b1fa2"), edgecolor="white", linewidth=0.6)
        ax.bar_label(bars, labels=[str(h) if h else "" for h in heights], label_type="center",
                     color="white", fontsize=8, fontweight="bold")
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    for x, total in enumerate(bottom):
        ax.annotate(str(total), (x, total), ha="center", va="bottom", fontsize=9, xytext=(0, 2),
                    textcoords="offset points")
    undated = len(rows) - len(dated)
    note = f"; {undated} sample(s) without a date not shown" if undated else ""
    ax.set_xlabel("collection week (ISO)" + note)
    ax.set_ylabel("samples")
    ax.set_title(title)
    ax.set_ylim(0, max([*bottom, 1]) * 1.15)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.spines[["top", "right"]].set_visible(False)
    if weeks:
        ax.legend(title="region (adm1)", frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    else:
        ax.text(0.5, 0.5, "no dated samples in this batch", ha="center", va="center", transform=ax.transAxes)
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    fig.savefig(out, dpi=120)
    plt.close(fig)


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def plot_qc(rows: list[dict[str, str]], out: str | Path, title: str, min_coverage: float) -> None:
    """Left: QC outcome per region (horizontal stacked bars). Right: coverage per sample vs threshold."""
    if not rows:  # an empty day: say so instead of drawing empty axes
        fig, ax = plt.subplots(figsize=(6, 2.5), layout="constrained")
        ax.text(0.5, 0.5, "no samples in this batch", ha="center", va="center", fontsize=12)
        ax.set_axis_off()
        fig.suptitle(title)
        fig.savefig(out, dpi=120)
        plt.close(fig)
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained",
                                      gridspec_kw={"width_ratios": [1.2, 1]})
    regions = [g for g in REGIONS if any(r.get("adm1") == g for r in rows)]
    if any(r.get("adm1", "") not in REGIONS for r in rows):
        regions.append("")
    labels = [REGION_NAMES.get(g, g or "no region\n(no metadata)") for g in regions]
    per = Counter((r.get("adm1", "") if r.get("adm1", "") in REGIONS else "", outcome(r)) for r in rows)
    start = [0] * len(regions)
    for name, colour in OUTCOMES:
        widths = [per.get((g, name), 0) for g in regions]
        bars = left.barh(labels, widths, left=start, color=colour, label=name, edgecolor="white")
        left.bar_label(bars, labels=[str(w) if w else "" for w in widths], label_type="center",
                       color="white", fontsize=9, fontweight="bold")
        start = [s + w for s, w in zip(start, widths, strict=True)]
    left.invert_yaxis()
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_xlabel("samples")
    totals = Counter(outcome(r) for r in rows)
    left.set_title("  ".join(f"{name}: {totals.get(name, 0)}" for name, _ in OUTCOMES), fontsize=9)
    left.legend(frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.08), ncol=4, fontsize=8)
    left.spines[["top", "right"]].set_visible(False)

    points = sorted(((c, r) for r in rows if (c := _float(r.get("pct_covered_bases"))) is not None),
                    key=lambda cr: cr[0])
    xs = list(range(len(points)))
    colours = ["#2e7d32" if r.get("qc_pass") == "pass" else "#c62828" for _, r in points]
    right.scatter(xs, [c for c, _ in points], c=colours, s=28, zorder=3)
    right.axhline(min_coverage, color="#555555", linestyle="--", linewidth=1)
    right.annotate(f"pass threshold {min_coverage:g}%", (1.0, min_coverage),
                   xycoords=("axes fraction", "data"), xytext=(-2, -12), textcoords="offset points",
                   ha="right", fontsize=8, color="#555555")
    right.set_ylim(0, 102)
    right.set_xticks([])
    right.set_xlabel(f"samples with a lab QC file, sorted by coverage (n={len(points)})")
    right.set_ylabel("genome covered (%)")
    right.spines[["top", "right"]].set_visible(False)
    fig.suptitle(title)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def draw(manifest: str | Path, regions_png: str | Path, qc_png: str | Path, batch: str,
         min_coverage: float) -> None:
    """Both plots for one manifest."""
    rows = read_manifest(manifest)
    plot_regions_by_week(rows, regions_png, f"Samples per region and collection week: {batch}")
    plot_qc(rows, qc_png, f"QC outcome: {batch} ({len(rows)} samples)", min_coverage)


def main(smk: Any) -> None:
    """Entry point for Snakemake's ``script:`` directive."""
    draw(smk.input.manifest, smk.output.regions, smk.output.qc, smk.params.batch,
         float(smk.params.min_coverage))


if "snakemake" in globals():
    main(globals()["snakemake"])
elif __name__ == "__main__" and len(sys.argv) == 3:
    out_dir = Path(sys.argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    draw(sys.argv[1], out_dir / "samples_per_region_week.png", out_dir / "qc_pass_fail.png", "batch", 90.0)
