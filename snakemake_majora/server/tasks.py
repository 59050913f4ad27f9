"""Async tasks (Celery in Majora) run by a worker thread pool; results persisted in ``TatlTask``."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections, connection
from django.db.models import Prefetch
from django.utils import timezone

from snakemake_majora.server.majora2 import models

log = logging.getLogger("majora_lite.tasks")
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lite-task")
        return _pool


def shutdown() -> None:
    """Stop the worker pool (pending tasks stay PENDING in the DB and are re-queued on next start)."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
            _pool = None


def submit(kind: str, params: dict, user) -> str:
    """Record a PENDING task and queue it; returns the task id."""
    task = models.TatlTask.objects.create(kind=kind, params=params, user=user)
    _executor().submit(run, str(task.id))
    return str(task.id)


def requeue_pending() -> int:
    """Re-queue tasks left PENDING by a previous server process."""
    ids = [
        str(t)
        for t in models.TatlTask.objects.filter(
            state="PENDING", result__isnull=True, cleaned=False
        ).values_list("id", flat=True)
    ]
    for tid in ids:
        _executor().submit(run, tid)
    return len(ids)


def run(task_id: str) -> None:
    """Worker body: compute, then store SUCCESS with the result or FAILURE."""
    close_old_connections()
    try:
        task = models.TatlTask.objects.get(pk=task_id)
        try:
            result = RUNNERS[task.kind](task.params)
            state = "SUCCESS"
        except Exception as exc:  # a task failure is data, reported as FAILURE
            log.warning("task %s (%s) failed: %s", task_id, task.kind, type(exc).__name__)
            result = {"errors": 1, "messages": [f"Task failed: {type(exc).__name__}"]}
            state = "FAILURE"
        models.TatlTask.objects.filter(pk=task_id).update(
            state=state, result=json.dumps(result), finished=timezone.now()
        )
    except Exception:
        log.exception("task %s could not be run", task_id)
    finally:
        connection.close()


def read_once(task_id: str) -> tuple[str, dict | None]:
    """Majora's ``res.get()`` + ``res.forget()``: only one caller can take a SUCCESS result."""
    task = models.TatlTask.objects.filter(pk=task_id).first()
    if task is None or task.cleaned:
        return "PENDING", None
    if task.state != "SUCCESS":
        return task.state, None
    taken = models.TatlTask.objects.filter(pk=task_id, state="SUCCESS", cleaned=False).update(
        cleaned=True, result=None, state="PENDING"
    )
    if taken != 1:
        return "PENDING", None
    return "SUCCESS", json.loads(task.result or "{}")


# ---------------------------------------------------------------- task bodies


def _date(value: str | None) -> dt.date | None:
    if not value:
        return None
    return dt.datetime.strptime(str(value), "%Y-%m-%d").date()


def _pag_queryset(params: dict):
    qs = (
        models.PublishedArtifactGroup.objects.filter(
            is_latest=True, quality_groups__test_name=params["test_name"]
        )
        .select_related("owner_org")
        .prefetch_related(
            "quality_groups",
            "accessions",
            Prefetch(
                "tagged_artifacts",
                queryset=models.MajoraArtifact.objects.select_related(
                    "biosampleartifact__created__submission_org",
                    "biosampleartifact__created__submission_user",
                    "digitalresourceartifact",
                ).prefetch_related("metrics"),
            ),
        )
    )
    if params.get("pass") and not params.get("fail"):
        qs = qs.filter(quality_groups__is_pass=True)
    elif params.get("fail") and not params.get("pass"):
        qs = qs.filter(quality_groups__is_pass=False)
    # Majora's _get_pags_by_qc_options: service_name only narrows together with public or private.
    public, private, service = params.get("public"), params.get("private"), params.get("service_name")
    if public and not private:
        if service:
            qs = qs.filter(accessions__service=service, accessions__is_public=True)
        else:
            qs = qs.filter(is_public=True)
    elif private and not public:
        if service:
            qs = qs.exclude(accessions__service=service)  # "private" = not yet submitted to that service
        else:
            qs = qs.filter(is_public=False)
    if params.get("published_after"):
        qs = qs.filter(published_date__gt=_date(params["published_after"]))
    if params.get("published_before"):
        qs = qs.filter(published_date__lt=_date(params["published_before"]))
    if params.get("suppressed_after"):
        qs = qs.filter(is_suppressed=True, suppressed_date__date__gt=_date(params["suppressed_after"]))
    else:
        qs = qs.filter(is_suppressed=False)
    return qs.distinct().order_by("published_name")


def _pag_option_messages(params: dict) -> list[str]:
    """The notes Majora's _get_pags_by_qc_options adds to the task result's ``messages``."""
    if params.get("service_name"):
        if params.get("public") and params.get("private"):
            return ["service_name is ignored with both public and private"]
        if not params.get("public") and not params.get("private"):
            return ["service_name is ignored without public or private"]
    return []


ADM1_NAMES = {"UK-ENG": "England", "UK-SCT": "Scotland", "UK-WLS": "Wales", "UK-NIR": "Northern Ireland"}


def _pag_biosample(art) -> dict | None:
    """The PAG task's biosample summary, from prefetched rows (no per-sample queries)."""
    bs = getattr(art, "biosampleartifact", None)
    if bs is None or bs.created is None:
        return None
    p = bs.created
    ct = next((m.data for m in art.metrics.all() if m.namespace == "ct"), {})
    org = p.submission_org
    return {
        "central_sample_id": bs.central_sample_id,
        "collection_date": p.collection_date.strftime("%Y-%m-%d") if p.collection_date else None,
        "received_date": p.received_date.strftime("%Y-%m-%d") if p.received_date else None,
        "adm0": p.collection_location_country or None,
        "adm1": p.collection_location_adm1 or None,
        "adm1_trans": ADM1_NAMES.get(p.collection_location_adm1, ""),
        "min_ct": ct.get("min_ct"),
        "max_ct": ct.get("max_ct"),
        "is_surveillance": "" if p.is_surveillance is None else ("Y" if p.is_surveillance else "N"),
        "collection_pillar": p.collection_pillar,
        "submission_org_code": org.code if org else None,
        "submission_user": p.submission_user.username if p.submission_user else None,
    }


def _pag_struct(pag) -> dict:
    biosamples = [b for b in (_pag_biosample(a) for a in pag.tagged_artifacts.all()) if b is not None]
    org = pag.owner_org
    out = {
        "published_name": pag.published_name,
        "published_version": pag.published_version,
        "published_date": pag.published_date.strftime("%Y-%m-%d") if pag.published_date else None,
        "published_uuid": str(pag.id),
        "owner_org_code": org.code if org else None,
        "owner_org_name": org.name if org else None,
        "is_public": pag.is_public,
        "is_suppressed": pag.is_suppressed,
        "qc_reports": {
            q.test_name.replace("-", "_"): "PASS" if q.is_pass else "FAIL" for q in pag.quality_groups.all()
        },
        "artifacts": {"biosample": biosamples},
    }
    # Majora lists only public accessions, and adds the key only when there is one.
    public = {
        a.service: {"primary_accession": a.primary_accession, "secondary_accession": a.secondary_accession}
        for a in pag.accessions.all()
        if a.is_public
    }
    if public:
        out["accessions"] = public
    return out


def task_pag_v2(params: dict) -> dict:
    rows = [{"published_name": p.published_name, "pag": _pag_struct(p)} for p in _pag_queryset(params)]
    # The task get reply's `messages` is the task result's (Majora updates the reply with it).
    messages = _pag_option_messages(params) + ([] if rows else ["No PAGs found."])
    return {"messages": messages, "get": {"result": rows, "count": len(rows)}}


def task_pagfiles(params: dict) -> dict:
    rows = []
    pags = list(_pag_queryset(params))
    found = f"{len(pags)} PAGs found" if pags else "No PAGs found"  # sic: Majora's pagfiles has no period
    for pag in pags:
        is_pass = any(q.is_pass for q in pag.quality_groups.all() if q.test_name == params["test_name"])
        pdate = pag.published_date.strftime("%Y-%m-%d") if pag.published_date else None
        for art in pag.tagged_artifacts.all():
            dra = getattr(art, "digitalresourceartifact", None)
            if dra is not None:
                rows.append(
                    [
                        pag.published_name,
                        dra.current_kind,
                        dra.current_path,
                        dra.current_hash,
                        dra.current_size,
                        pag.is_suppressed,
                        is_pass,
                        pdate,
                    ]
                )
    return {"messages": [*_pag_option_messages(params), found], "get": {"result": rows, "count": len(rows)}}


def task_sequencing_all(params: dict) -> dict:
    runs = {
        r.run_name: r.as_struct()
        for r in models.DNASequencingProcess.objects.select_related(
            "library", "submission_org", "submission_user"
        )
    }
    return {"get": {"result": runs, "count": len(runs)}}


def mdv_rows(code: str) -> list[dict]:
    """Rows of a dataview: nested biosample records as Majora's v3 serializers shape them."""
    rows = []
    qs = (
        models.BiosampleArtifact.objects.filter(created__submission_user__isnull=False)
        .select_related("created", "created__submission_org")
        .prefetch_related("metadata", "pags")
        .order_by("central_sample_id")
    )
    for bs in qs:
        p = bs.created
        rows.append(
            {
                "id": str(bs.id),
                "dice_name": bs.dice_name,
                "artifact_kind": bs.artifact_kind,
                "published_as": ",".join(x.published_name for x in bs.pags.all() if not x.is_suppressed),
                "metadata": bs.get_metadata_as_struct(),
                "central_sample_id": bs.central_sample_id,
                "sender_sample_id": bs.sender_sample_id,
                "root_sample_id": bs.root_sample_id,
                "created": {
                    "adm1": p.collection_location_adm1,
                    "adm2": p.collection_location_adm2,
                    "collection_date": p.collection_date.strftime("%Y-%m-%d") if p.collection_date else None,
                    "received_date": p.received_date.strftime("%Y-%m-%d") if p.received_date else None,
                    "submission_org_code": p.submission_org.code if p.submission_org else None,
                    "is_surveillance": p.is_surveillance,
                },
            }
        )
    return rows


def task_mdv(params: dict) -> dict:
    return {"data": mdv_rows(params["mdv"])}


RUNNERS = {
    "pag_v2": task_pag_v2,
    "pagfiles": task_pagfiles,
    "sequencing_all": task_sequencing_all,
    "mdv": task_mdv,
}
