"""QC: ``api/v2/meta/qc/add/`` runs a PAG through a QC test family and records the outcome.

``meta/qc/add`` runs the newest version of every test set of the family whose filter matches the PAG's
metadata. The families come from Majora's ``.qc`` files, loaded by ``majora_lite.ops.qc_defs``.
"""
from __future__ import annotations

import json

from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from majora_lite.api import structs
from majora_lite.api.envelope import v2
from majora_lite.majora2 import models


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
            metrics[metric.namespace] = structs.metric_struct(metric.namespace, metric.data)
    return metrics, None


def _pag_metadata(pag) -> tuple[dict | None, str | None]:
    metadata: dict = {}
    for artifact in _artifacts(pag):
        for namespace, names in structs.metadata_struct(artifact).items():
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
