"""QC test definitions (Majora's ``data/qc/*/*.qc`` format) and ``api/v2/meta/qc/add/``.

A ``.qc`` file is tab-separated: line 1 the test family's name (its slug names it in the API),
line 2 the test set's name, line 3 ``version_number<TAB>YYYY-MM-DD``, then lines starting with
``R`` (rule: name, description, metric namespace, metric name, warn_min, warn_max, fail_min,
fail_max; ``-`` for none), ``D`` (decision: rule, or rule AND|OR rule) and ``F`` (filter: name,
description, metadata namespace, metadata name, value, EQ|NEQ). ``meta/qc/add`` runs the newest
version of every test set of the family whose filter matches the PAG's metadata.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.text import slugify

from majora_lite.api.envelope import v2
from majora_lite.api.metrics import metric_struct
from majora_lite.majora2 import models
from majora_lite.ops.admin import AdminError

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "data" / "qc"


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


# ---------------------------------------------------------------- evaluation


def _artifacts(pag) -> list:
    """The PAG's artifacts with their metrics and metadata (read once per evaluation)."""
    cached = getattr(pag, "_qc_artifacts", None)
    if cached is None:
        cached = pag._qc_artifacts = list(pag.tagged_artifacts.prefetch_related("metrics", "metadata"))
    return cached


def family_tests(family: models.QCTestGroup) -> list:
    """The family's test sets with filters, versions, rules and decisions, in definition order."""
    return list(
        family.tests.order_by("id").prefetch_related(
            Prefetch("filters", queryset=models.QCTestFilter.objects.order_by("id")),
            Prefetch("versions", queryset=models.QCTestVersion.objects.order_by("-version_number")),
            Prefetch("versions__rules", queryset=models.QCTestRule.objects.order_by("id")),
            Prefetch("versions__decisions", queryset=models.QCTestDecision.objects.order_by("id")),
        )
    )


def _pag_metrics(pag) -> tuple[dict | None, str | None]:
    metrics: dict = {}
    for artifact in _artifacts(pag):
        for metric in sorted(artifact.metrics.all(), key=lambda m: m.id):
            if not metric.namespace:
                continue
            if metric.namespace in metrics:
                return None, (
                    "Cannot automatically QC a PAG with multiple objects containing the same metric type..."
                )
            metrics[metric.namespace] = metric_struct(metric.namespace, metric.data)
    return metrics, None


def _pag_metadata(pag) -> tuple[dict | None, str | None]:
    metadata: dict = {}
    for artifact in _artifacts(pag):
        for namespace, names in artifact.get_metadata_as_struct().items():
            ns = metadata.setdefault(namespace, {})
            for name, value in names.items():
                if name not in ns:
                    ns[name] = value
                elif ns[name] != value:
                    return None, (
                        "Cannot automatically QC a PAG with multiple objects containing the same "
                        "metadata fields with different values..."
                    )
    return metadata, None


def _check(value: float, low: float | None, high: float | None) -> bool:
    """Majora's bound check: a bound of None or 0 is not checked (falsy), below min or at/above max trips."""
    hit = False
    if low:
        hit = value < low
    if not hit and high:
        hit = value >= high
    return hit


def evaluate(pag, family: models.QCTestGroup, api_o: dict, tests: list | None = None) -> dict | None:
    """Run the family's tests on the PAG as Majora's add_qc; returns per-test results or None on error.

    ``tests``: the family's ``family_tests()`` when the caller evaluates many PAGs (the seed).
    """
    metrics, err = _pag_metrics(pag)
    if err is None:
        metadata, err = _pag_metadata(pag)
    if err is not None:
        api_o["messages"].append(err)
        api_o["errors"] += 1
        return None
    results: dict = {}
    all_skipped = True
    for test in tests if tests is not None else family_tests(family):
        version = next(iter(test.versions.all()), None)
        if version is None:
            continue
        entry = {"test": test.name, "version": version.version_number, "is_pass": None, "is_skip": None}
        results[version.pk] = entry
        is_skip = False
        for tfilter in test.filters.all():
            meta = metadata.get(tfilter.metadata_namespace, {}).get(tfilter.metadata_name)
            if meta:
                meta = str(meta).upper()
                is_match = False
                if tfilter.op == "EQ":
                    is_match = meta == tfilter.filter_on_str
                elif tfilter.op == "NEQ":
                    is_match = meta != tfilter.filter_on_str
                is_skip = not is_match
            elif tfilter.force_field:
                api_o["messages"].append(
                    "Cannot automatically QC a PAG that is missing required metadata "
                    f"({tfilter.metadata_namespace}.{tfilter.metadata_name})"
                )
                api_o["errors"] += 1
                return None
        if is_skip:
            entry.update(is_skip=True, is_pass=False)
            continue
        all_skipped = False
        entry["is_skip"] = False
        rules = list(version.rules.all())
        rule_fail: dict[int, bool] = {}
        for rule in rules:
            if rule.metric_namespace not in metrics:
                api_o["messages"].append(f"Namespace {rule.metric_namespace} not found in metrics")
                api_o["ignored"].append(rule.metric_namespace)
                api_o["errors"] += 1
                continue
            value = metrics[rule.metric_namespace].get(rule.metric_name)
            if value is None:
                api_o["messages"].append(
                    f"Metric {rule.metric_namespace}.{rule.metric_name} not found in metrics"
                )
                api_o["ignored"].append(rule.metric_name)
                api_o["errors"] += 1
                continue
            rule_fail[rule.pk] = _check(value, rule.fail_min, rule.fail_max)
        if len(rule_fail) != len(rules):
            api_o["messages"].append(
                "Refusing to create QC report as not all target metrics could be assessed..."
            )
            api_o["metrics"] = metrics
            api_o["errors"] += 1
            return None
        fails = 0
        decisions = []
        for decision in version.decisions.all():
            a_fail = rule_fail[decision.a_id]
            if decision.b_id is None:
                is_fail = a_fail
            elif decision.op == "AND":
                is_fail = a_fail and rule_fail[decision.b_id]
            elif decision.op == "OR":
                is_fail = a_fail or rule_fail[decision.b_id]
            else:
                api_o["messages"].append("Unknown decision operator encountered")
                api_o["errors"] += 1
                return None
            decisions.append({"decision": str(decision), "is_pass": not is_fail})
            fails += bool(is_fail)
        entry.update(is_pass=fails == 0, decisions=decisions)
    if all_skipped:
        api_o["messages"].append("Cowardly refusing to create QC report as no tests were performed...")
        api_o["errors"] += 1
        return None
    return results


def record_qc(
    pag, family: models.QCTestGroup, api_o: dict, test_version: str = "1", tests: list | None = None
) -> dict | None:
    """Evaluate and store the PAG's pass/fail for the family; None (with api_o errors) when not assessable."""
    results = evaluate(pag, family, api_o, tests)
    if results is None:
        return None
    is_pass = all(r["is_pass"] for r in results.values() if not r["is_skip"])
    with transaction.atomic():
        models.PAGQualityReport.objects.update_or_create(
            pag=pag,
            test_name=family.slug,
            defaults={"is_pass": is_pass, "test_version": test_version, "last_updated": timezone.now()},
        )
    return results


@v2(oauth_permission="majora2.add_pagqualityreport majora2.change_pagqualityreport")
def add_qc(request, api_o, json_data, user=None, partial=False):
    """``api/v2/meta/qc/add/``: evaluate a loaded QC family on a PAG and record pass/fail."""
    pag_name = json_data.get("publish_group")
    test_name = json_data.get("test_name")
    test_version = json_data.get("test_version")
    # len() as in Majora: a number for the PAG or test name makes the view fail (500).
    if not pag_name or not test_name or not test_version or not (len(pag_name) and len(test_name)):
        api_o["messages"].append("'pag_name', 'test' or 'version' key missing or empty")
        api_o["errors"] += 1
        return
    pag = models.PublishedArtifactGroup.objects.filter(is_latest=True, published_name=pag_name).first()
    if pag is None:
        api_o["messages"].append("Invalid 'pag_name'")
        api_o["ignored"].append(pag_name)
        api_o["errors"] += 1
        return
    family = models.QCTestGroup.objects.filter(slug=test_name).first()
    if family is None:
        api_o["messages"].append("Invalid 'test_name'")
        api_o["ignored"].append(pag_name)
        api_o["errors"] += 1
        return
    results = record_qc(pag, family, api_o, str(test_version)[:24])
    if results is None:
        return
    # Majora answers a Python repr with database objects here; majora-lite a JSON text of the same facts.
    api_o["test_results"] = json.dumps(list(results.values()))
