"""QC test definitions: Majora's ``data/qc/*/*.qc`` files read and loaded (``load-qc``).

A ``.qc`` file is tab-separated: line 1 the test family's name (its slug names it in the API),
line 2 the test set's name, line 3 ``version_number<TAB>YYYY-MM-DD``, then lines starting with
``R`` (rule: name, description, metric namespace, metric name, warn_min, warn_max, fail_min,
fail_max; ``-`` for none), ``D`` (decision: rule, or rule AND|OR rule) and ``F`` (filter: name,
description, metadata namespace, metadata name, value, EQ|NEQ).
``majora_lite.api.qc`` evaluates the loaded tests.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.db import transaction
from django.utils.text import slugify

from majora_lite.majora2 import models
from majora_lite.ops.admin import AdminError, shipped_data

SHIPPED_DIR = shipped_data("qc")


class QCFormatError(AdminError):
    """A .qc file that cannot be read (66) or parsed (65); the message names the file and line."""

    def __init__(self, message: str, code: int = 65) -> None:
        super().__init__(message, code)


def _threshold(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def load_qc_file(path: str | Path) -> dict:
    """Load one ``.qc`` file (idempotent, as Majora's get_or_create loader); returns what it defined."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise QCFormatError(f"{path}: cannot read ({exc.strerror})", 66) from None
    if len(lines) < 3:
        raise QCFormatError(f"{path}: a QC file needs a family name, a test name and a version line")
    rules: dict[str, models.QCTestRule] = {}
    skipped: list[str] = []
    with transaction.atomic():
        family_name = lines[0].strip().split("\t")[0]
        family, _ = models.QCTestGroup.objects.get_or_create(
            slug=slugify(family_name), defaults={"name": family_name}
        )
        test_name = lines[1].strip().split("\t")[0]
        test, _ = models.QCTest.objects.get_or_create(
            name=test_name, defaults={"group": family, "slug": slugify(test_name)}
        )
        fields = lines[2].strip().split("\t")
        try:
            number, date = int(fields[0]), dt.datetime.strptime(fields[1], "%Y-%m-%d").date()
        except (IndexError, ValueError):
            raise QCFormatError(f"{path}:3: expected 'version_number<TAB>YYYY-MM-DD'") from None
        version, _ = models.QCTestVersion.objects.get_or_create(
            test=test, version_number=number, version_date=date
        )
        for line_no, line in enumerate(lines[3:], start=4):
            fields = line.strip().split("\t")
            try:
                if line.startswith("R"):
                    warn_min, warn_max, fail_min, fail_max = (_threshold(f) for f in fields[5:9])
                    rules[fields[1]], _ = models.QCTestRule.objects.get_or_create(
                        version=version,
                        rule_name=fields[1],
                        rule_desc=fields[2],
                        metric_namespace=fields[3],
                        metric_name=fields[4],
                        warn_min=warn_min,
                        warn_max=warn_max,
                        fail_min=fail_min,
                        fail_max=fail_max,
                    )
                elif line.startswith("D"):
                    if len(fields) == 4:
                        a, op, b = fields[1], fields[2], fields[3]
                        if op not in ("AND", "OR") or a not in rules or b not in rules:
                            skipped.append(f"{path}:{line_no}")  # Majora skips such a decision line
                            continue
                        models.QCTestDecision.objects.get_or_create(
                            version=version, a=rules[a], b=rules[b], op=op
                        )
                    else:
                        if fields[1] not in rules:
                            raise QCFormatError(f"{path}:{line_no}: decision on unknown rule {fields[1]!r}")
                        models.QCTestDecision.objects.get_or_create(
                            version=version, a=rules[fields[1]], b=None
                        )
                elif line.startswith("F"):
                    if fields[6] not in ("EQ", "NEQ"):
                        skipped.append(f"{path}:{line_no}")
                        continue
                    models.QCTestFilter.objects.get_or_create(
                        test=test,
                        filter_name=fields[1],
                        filter_desc=fields[2],
                        metadata_namespace=fields[3],
                        metadata_name=fields[4],
                        filter_on_str=fields[5],
                        op=fields[6],
                    )
            except IndexError:
                raise QCFormatError(f"{path}:{line_no}: too few tab-separated fields") from None
    return {
        "file": str(path),
        "test_name": family.slug,
        "test_set": test.name,
        "version": number,
        "rules": len(rules),
        "skipped_lines": skipped,
    }


def shipped_qc_files() -> list[Path]:
    """Majora's published QC definitions shipped with majora-lite."""
    return sorted(SHIPPED_DIR.glob("*/*.qc"))


def expand_paths(items: list[str | Path]) -> list[Path]:
    """Files as given; a directory stands for its ``*.qc`` and ``*/*.qc`` files (Majora's data/qc layout)."""
    out: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            out += sorted(path.glob("*.qc")) + sorted(path.glob("*/*.qc"))
        else:
            out.append(path)
    return out


def load_qc(paths: list[str | Path]) -> list[dict]:
    """Load several ``.qc`` files in order."""
    return [load_qc_file(p) for p in paths]

