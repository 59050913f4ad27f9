"""Published artifact groups: accessions, suppression, QC listings and the summaries built on them.

Endpoints: ``api/v2/pag/accession/add/``, ``api/v2/group/pag/suppress/``, ``api/v2/pag/qc/get/``
(an async task), ``api/v2/outbound/summary/get/`` and ``api/v2/majora/summary/get/``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from majora_lite.api import tasks
from majora_lite.api.envelope import TASK_MESSAGE, format_tuple, v2
from majora_lite.majora2 import models

SUPPRESS_REASONS = ["WRONG_BARCODE", "WRONG_METADATA", "WRONG_SEQUENCE", "CONTROL_FAIL"]
MINIMAL_QC = "cog-uk-elan-minimal-qc"


@v2(oauth_permission="majora2.add_temporaryaccessionrecord majora2.change_temporaryaccessionrecord")
def add_accession(request, api_o, json_data, user=None, partial=False):
    """Record a PAG's accession at a service (submitted, public) as Majora's add_pag_accession."""
    pag_name = json_data.get("publish_group")
    if not pag_name:
        api_o["messages"].append("'publish_group' key missing or empty")
        api_o["errors"] += 1
        return
    qs = models.PublishedArtifactGroup.objects.filter(is_latest=True, is_suppressed=False)
    qs = (
        qs.filter(published_name__contains=pag_name)
        if json_data.get("contains")
        else qs.filter(published_name=pag_name)
    )
    pags = list(qs[:2])
    if len(pags) > 1:
        api_o["messages"].append(f"{pag_name} does not uniquely identify a PAG in Majora")
        api_o["errors"] += 1
        return
    if not pags:
        api_o["messages"].append(f"PAG {pag_name} not known to Majora")
        api_o["errors"] += 1
        return
    pag = pags[0]
    service = json_data.get("service")
    if not service:
        api_o["messages"].append("'service' key missing or empty")
        api_o["errors"] += 1
        return
    public = json_data.get("public")
    if not json_data.get("accession") and public:
        api_o["messages"].append(
            "You are trying to mark this PAG as public, but the 'accession' key is missing or empty."
        )
        api_o["errors"] += 1
        return
    now = timezone.now()
    with transaction.atomic():
        acc, _ = models.TemporaryAccessionRecord.objects.get_or_create(pag=pag, service=service)
        acc.primary_accession = json_data.get("accession")
        acc.secondary_accession = json_data.get("accession2")
        acc.tertiary_accession = json_data.get("accession3")
        api_o["updated"].append(format_tuple(pag))
        if not acc.requested_timestamp and json_data.get("submitted"):
            acc.requested_timestamp = now
            acc.requested_by = user
        if public and not acc.is_public:
            acc.is_public = True
            acc.public_timestamp = now
        if public and json_data.get("public_date"):
            try:
                acc.public_timestamp = dt.datetime.strptime(json_data["public_date"], "%Y-%m-%d").replace(
                    tzinfo=dt.UTC
                )
            except (TypeError, ValueError):
                api_o["warnings"] += 1
                api_o["messages"].append(
                    f"Failed to coerce --public-date {json_data['public_date']} to a date."
                )
        acc.save()
        if public and not pag.is_public:
            pag.is_public = True
            pag.public_timestamp = now
            pag.save(update_fields=["is_public", "public_timestamp"])
            api_o["messages"].append("PAG marked as public")


@v2(permission="majora2.can_suppress_pags_via_api", oauth_permission="majora2.can_suppress_pags_via_api")
def suppress(request, api_o, json_data, user=None, partial=False):
    """Suppress PAGs of the user's organisation (any PAG with can_suppress_any_pags_via_api)."""
    pag_names = json_data.get("publish_group")
    reason = json_data.get("reason")
    if not pag_names or not reason or len(pag_names) == 0 or len(reason) == 0:
        api_o["messages"].append("'publish_group' or 'reason' key missing or empty")
        api_o["errors"] += 1
        return
    if reason.upper() not in SUPPRESS_REASONS:
        api_o["messages"].append(f"Reason must be one of: {SUPPRESS_REASONS!s}")
        api_o["errors"] += 1
        return
    if isinstance(pag_names, str):
        pag_names = [pag_names]
    my_org = user.profile.institute
    for pag_name in pag_names:
        pag = (
            models.PublishedArtifactGroup.objects.filter(is_latest=True, published_name=pag_name)
            .select_related("owner__profile__institute")
            .first()
        )
        if pag is None:
            api_o["ignored"].append(pag_name)
            api_o["warnings"] += 1
            api_o["messages"].append(f"{pag_name} not found")
            continue
        if pag.is_suppressed:
            api_o["ignored"].append(pag_name)
            api_o["warnings"] += 1
            api_o["messages"].append(f"{pag_name} already suppressed")
            continue
        owner_org = pag.owner.profile.institute
        if owner_org != my_org and not user.has_perm("majora2.can_suppress_any_pags_via_api"):
            api_o["ignored"].append(pag_name)
            api_o["errors"] += 1
            api_o["messages"].append(
                f"Your organisation ({my_org.code}) does not own {pag_name} ({owner_org.code})"
            )
            continue
        if pag.quality_groups.filter(test_name=MINIMAL_QC, is_pass=True).exists():
            # Majora keeps a count of PAGs passing the minimal QC and says when it takes one off.
            api_o["messages"].append("PAG counter decremented")
        pag.is_suppressed = True
        pag.suppressed_date = timezone.now()
        pag.suppressed_reason = reason.upper()
        pag.save(update_fields=["is_suppressed", "suppressed_date", "suppressed_reason"])
        api_o["updated"].append(format_tuple(pag))


@v2(permission="majora2.temp_can_read_pags_via_api")
def get_pag_by_qc(request, api_o, json_data, user=None, partial=False):
    """Start the task listing PAGs by QC outcome (``mode: pagfiles`` for the file rows)."""
    test_name = json_data.get("test_name")
    if not test_name or not isinstance(test_name, str):
        api_o["messages"].append("'test_name', key missing or empty")
        api_o["errors"] += 1
        return
    if not models.QCTestGroup.objects.filter(slug=test_name).exists():
        api_o["messages"].append("Invalid 'test_name'")
        api_o["ignored"].append(test_name)
        api_o["errors"] += 1
        return
    params: dict[str, Any] = {"test_name": test_name}
    for flag in ("pass", "fail", "public", "private"):
        params[flag] = bool(json_data.get(flag))
    # Majora starts the task without looking at the dates: the task reports one it cannot parse.
    for key in ("service_name", "published_after", "published_before", "suppressed_after"):
        val = json_data.get(key)
        if not val:
            continue
        params[key] = str(val) if key == "service_name" else val
    mode = json_data.get("mode") or ""
    kind = "pagfiles" if isinstance(mode, str) and mode.lower() == "pagfiles" else "pag_v2"
    api_o["tasks"].append(tasks.submit(kind, params, user, envelope=api_o))
    api_o["messages"].append(TASK_MESSAGE)


def _interval(accessions, day: dt.date, last: dt.date | None, whole: bool = True) -> dict:
    def on(field: str, qs):
        if last is None:
            return qs.filter(**{f"{field}__date__lte": day}).count()
        return qs.filter(**{f"{field}__date__lte": day, f"{field}__date__gt": last}).count()

    return {
        "whole": whole,
        "dt": day.strftime("%Y-%m-%d"),
        "last_dt": last.strftime("%Y-%m-%d") if last else "",
        "submitted": on("requested_timestamp", accessions),
        "rejected": on("rejected_timestamp", accessions.filter(is_rejected=True)),
        "released": on("public_timestamp", accessions.filter(is_public=True)),
    }


@v2()
def get_outbound_summary(request, api_o, json_data, user=None, partial=False):
    """Daily counts of submitted, rejected and released accessions of one service since ``gte_date``."""
    service = json_data.get("service")
    if not service or len(service) == 0:
        api_o["errors"] += 1
        api_o["messages"].append("'service' key missing or empty")
        return
    gte_date = None
    if json_data.get("gte_date"):
        try:
            gte_date = dt.datetime.strptime(json_data["gte_date"], "%Y-%m-%d").date()
        except (TypeError, ValueError):
            api_o["errors"] += 1
            api_o["messages"].append(f"Could not convert {json_data['gte_date']} to date.")
            return
    accessions = models.TemporaryAccessionRecord.objects.filter(service=service)
    api_o["get"] = {"intervals": [], "accessions": accessions.count()}
    if json_data.get("user"):
        profile = (
            models.Profile.objects.filter(user__username=json_data["user"]).select_related("user").first()
        )
        if profile is None:
            api_o["errors"] += 1
            api_o["messages"].append("Could not find named user.")
            return
        accessions = accessions.filter(requested_by=profile.user)
    today = timezone.now().date()
    days = []
    if gte_date is not None:
        days = [gte_date + dt.timedelta(days=i) for i in range((today - gte_date).days + 1)]
    if not days:
        # Majora's day list is empty without a gte_date or with a future one, and it then fails
        # reading the last day: a server error, as there.
        raise IndexError("list index out of range")
    for i, day in enumerate(days):
        api_o["get"]["intervals"].append(_interval(accessions, day, days[i - 1] if i else None))


@v2()
def get_summary(request, api_o, json_data, user=None, partial=False):
    """``majora/summary/get``: PAG totals and per-site minimal-QC counts (since ``gte_date``)."""
    reports = models.PAGQualityReport.objects.filter(
        test_name=MINIMAL_QC, pag__is_latest=True, pag__is_suppressed=False
    )
    gte = json_data.get("gte_date")
    try:
        reports = reports.filter(
            last_updated__gt=dt.datetime.strptime(str(gte or ""), "%Y-%m-%d").replace(tzinfo=dt.UTC)
        )
    except ValueError:
        pass  # Majora ignores a missing or bad gte_date here
    rows = (
        reports.values(
            site=F("pag__owner__profile__institute__code"),
            sourcesite=F(
                "pag__tagged_artifacts__biosampleartifact__created__submission_user__profile__institute__code"
            ),
        )
        .exclude(sourcesite__isnull=True)
        .annotate(
            count=Count("pk"),
            pass_count=Count("pk", filter=Q(is_pass=True)),
            fail_count=Count("pk", filter=Q(is_pass=False)),
            surveillance_num=Count(
                "pk", filter=Q(pag__tagged_artifacts__biosampleartifact__created__is_surveillance=True)
            ),
            surveillance_dom=Count(
                "pk",
                filter=Q(pag__tagged_artifacts__biosampleartifact__created__is_surveillance__isnull=False),
            ),
        )
    )
    site_qc = [
        {
            "site": r["site"],
            "sourcesite": r["sourcesite"],
            "count": r["count"],
            "surveillance_num": r["surveillance_num"],
            "surveillance_dom": r["surveillance_dom"],
            "pass_count": r["pass_count"],
            "fail_count": r["fail_count"],
        }
        for r in rows
    ]
    api_o["get"] = {
        "total_sequences": models.PublishedArtifactGroup.objects.filter(
            is_latest=True, is_suppressed=False
        ).count(),
        "site_qc": sorted(site_qc, key=lambda x: x["count"], reverse=True),
    }
