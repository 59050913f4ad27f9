"""Bodies of the PAG tasks ``pag/qc/get`` starts (Majora's ``task_get_pag_v2``, ``task_get_pagfiles``).

The task machinery (queue, worker, read-once results) is ``tasks.py``; these functions take the
task's parameters and return its result.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Prefetch

from majora_lite.api import structs
from majora_lite.majora2 import models


class _Report:
    """What ``_get_pags_by_qc_options`` adds to the task's reply: its error count and messages."""

    def __init__(self) -> None:
        self.errors = 0
        self.messages: list[str] = []

    def fail(self, exc: Exception) -> None:
        self.errors += 1
        self.messages.append(str(exc))  # Python's own strptime message, as Majora reports it


def _date(value) -> dt.datetime:
    # strptime on the raw value, so a non-string gets Python's TypeError text as in Majora.
    return dt.datetime.strptime(value, "%Y-%m-%d")


DATE_FILTERS = (("published_after", "published_date__gt"), ("published_before", "published_date__lt"))


def _pag_queryset(params: dict, report: _Report):
    """The matching PAGs, or None when Majora returns no PAG ids (an unparseable ``suppressed_after``).

    Date filters are checked in the task, as Majora does: a bad ``published_after``/``_before`` is
    reported and its filter dropped; a bad ``suppressed_after`` is reported and ends the selection.
    """
    tagged = models.MajoraArtifact.objects.select_related(
        "biosampleartifact__created__submission_org",
        "biosampleartifact__created__submission_user",
        "digitalresourceartifact__created",
    ).prefetch_related("metrics", "biosampleartifact__libraries__library")
    # Test and pass/fail in one filter() so both apply to the same QC report, as Majora's single Q does
    # (two filter() calls would match a PAG failing this test that passed another one).
    qc: dict = {"quality_groups__test_name": params["test_name"]}
    if params.get("pass") and not params.get("fail"):
        qc["quality_groups__is_pass"] = True
    elif params.get("fail") and not params.get("pass"):
        qc["quality_groups__is_pass"] = False
    qs = (
        models.PublishedArtifactGroup.objects.filter(is_latest=True, **qc)
        .select_related("owner_org", "owner__profile__institute")
        .prefetch_related("quality_groups", "accessions", Prefetch("tagged_artifacts", queryset=tagged))
    )
    for key, lookup in DATE_FILTERS:
        if params.get(key):
            try:
                qs = qs.filter(**{lookup: _date(params[key]).date()})
            except (TypeError, ValueError) as exc:
                report.fail(exc)
    if params.get("suppressed_after"):
        try:
            after = _date(params["suppressed_after"]).date()
        except (TypeError, ValueError) as exc:
            report.fail(exc)
            return None
        qs = qs.filter(is_suppressed=True, suppressed_date__date__gt=after)
    else:
        qs = qs.filter(is_suppressed=False)
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
    report.messages += _pag_option_messages(params)
    return qs.distinct().order_by("published_name")


def _pag_option_messages(params: dict) -> list[str]:
    """The notes Majora's _get_pags_by_qc_options adds to the task result's ``messages``."""
    if params.get("service_name"):
        if params.get("public") and params.get("private"):
            return ["service_name is ignored with both public and private"]
        if not params.get("public") and not params.get("private"):
            return ["service_name is ignored without public or private"]
    return []


def _select(params: dict) -> tuple[list, _Report]:
    report = _Report()
    qs = _pag_queryset(params, report)
    return ([] if qs is None else list(qs)), report


# Majora's adm1 translation table in task_get_pag_v2 (note the underscore in Northern_Ireland).
ADM1_NAMES = {"UK-ENG": "England", "UK-SCT": "Scotland", "UK-WLS": "Wales", "UK-NIR": "Northern_Ireland"}

# Majora's Institute columns majora-lite does not store, at the defaults of Majora's model: an
# institute that never set its opt-ins or GISAID credit details renders exactly these.
INSTITUTE_DEFAULTS = {
    "ena_opted": True,
    "ena_assembly_opted": False,
    "gisaid_opted": False,
    "gisaid_user": None,
    "gisaid_mail": None,
    "gisaid_lab_name": None,
    "gisaid_lab_addr": None,
    "gisaid_list": None,
    "credit_code_only": False,
}

# The per-file metric keys of a PAG's artifacts (from the file's sequence and mapping metrics).
FILE_METRICS = {
    "sequence": ("num_bases", "longest_ungap", "pc_acgt", "pc_masked"),
    "mapping": ("mean_cov", "num_pos", "pc_pos_cov_gte10", "pc_pos_cov_gte20"),
}


def _day(value) -> str | None:
    return value.strftime("%Y-%m-%d") if value else None


def _owner_institute(pag):
    """The PAG owner's institute (Majora: ``owner.profile.institute``)."""
    if pag.owner_org is not None:
        return pag.owner_org
    profile = getattr(pag.owner, "profile", None) if pag.owner is not None else None
    return profile.institute if profile is not None else None


def _v1_credit(org) -> dict:
    """Majora's institute ("v1") credit keys; majora-lite has no per-sample credit codes."""
    if org is None:
        return {}
    return {
        "credit_code_only": INSTITUTE_DEFAULTS["credit_code_only"],
        "credit_code": org.code,
        "institute_code": org.code,
        "credit_lab_org_name": org.name,
        "credit_lab_name": INSTITUTE_DEFAULTS["gisaid_lab_name"] or org.name,
        "credit_lab_addr": INSTITUTE_DEFAULTS["gisaid_lab_addr"],
        "credit_lab_list": INSTITUTE_DEFAULTS["gisaid_list"],
    }


def _pag_biosample(bs, metrics) -> dict:
    """One ``artifacts.biosample`` entry, from prefetched rows (no per-sample queries)."""
    p = bs.created
    org = p.submission_org if p else None
    ct = structs.ct_struct(metrics.get("ct", {}))
    surveillance = p.is_surveillance if p else None
    return {
        "central_sample_id": bs.central_sample_id,
        "anonymous_sample_id": bs.anonymous_sample_id,
        "collection_date": _day(p.collection_date) if p else None,
        "received_date": _day(p.received_date) if p else None,
        "submission_user": p.submission_user.username if p and p.submission_user else None,
        "submission_org": org.name if org else None,
        "submission_org_credit_name": (INSTITUTE_DEFAULTS["gisaid_lab_name"] or org.name) if org else None,
        "submission_org_code": org.code if org else None,
        "adm0": (p.collection_location_country or None) if p else None,
        "adm1": (p.collection_location_adm1 or None) if p else None,
        "min_ct": ct.get("min_ct"),
        "max_ct": ct.get("max_ct"),
        # Majora's values() gives the raw boolean here (not the Y/N of biosample get); None becomes "".
        "is_surveillance": "" if surveillance is None else surveillance,
        "collection_pillar": p.collection_pillar if p else None,
        "adm1_trans": ADM1_NAMES.get(p.collection_location_adm1 if p else None, ""),
    }


def _pag_library(bs, run) -> dict:
    """The sample's pooling record in the run's library; ``{}`` when there is none (as Majora)."""
    run_libraries = run.library_ids if run is not None else set()
    rec = next((r for r in bs.libraries.all() if r.library_id in run_libraries), None)
    if rec is None:
        return {}
    return {
        "in_artifact__dice_name": bs.dice_name,
        "library_strategy": rec.library_strategy,
        "library_source": rec.library_source,
        "library_selection": rec.library_selection,
        "library_protocol": rec.library_protocol,
        "library_primers": rec.library_primers,
        "sequencing_org_received_date": _day(rec.sequencing_org_received_date),
        "seq_kit": rec.library.seq_kit,
        "seq_protocol": rec.library.seq_protocol,
        "library_adaptor_barcode": None,  # majora-lite does not store library barcodes
    }


def _pag_file(dra, metric_rows) -> dict:
    """One file entry. Majora reads the metric columns through one join row per metric of the file and
    keeps the last row, so only the newest metric's own columns are filled (the rest are null), and a
    file without metrics has all of them null."""
    out = {
        "current_kind": dra.current_kind,
        "current_path": dra.current_path,
        "current_hash": dra.current_hash,
        "current_size": dra.current_size,
    }
    last = max(metric_rows, key=lambda m: m.id, default=None)
    for namespace, keys in FILE_METRICS.items():
        data = last.data if last is not None and last.namespace == namespace else {}
        out.update({k: data.get(k) for k in keys})
    pipe = dra.created
    out.update(
        {
            "pipe_id": str(pipe.id) if pipe else None,
            "pipe_kind": pipe.pipe_kind if pipe else None,
            "pipe_name": pipe.pipe_name if pipe else None,
            "pipe_version": pipe.pipe_version if pipe else None,
        }
    )
    return out


def _pag_run_name(published_name: str) -> str:
    """Majora finds a PAG's run from its name (``.../SITE:RUN``): the part after the first colon."""
    parts = published_name.split(":")
    return parts[1] if len(parts) > 1 else published_name


def _pag_runs(pags) -> dict:
    names = {_pag_run_name(p.published_name) for p in pags}
    runs = {
        r.run_name: r
        for r in models.DNASequencingProcess.objects.filter(run_name__in=names).prefetch_related("records")
    }
    # Majora matches a PAG's sample to the pooling records of every library of the run.
    for r in runs.values():
        r.library_ids = {rec.library_id for rec in r.records.all()}
    return runs


def _pag_struct(pag, runs: dict) -> dict:
    """One PAG as Majora's ``task_get_pag_v2`` renders it (keys and nesting as in Majora)."""
    org = _owner_institute(pag)
    opt = INSTITUTE_DEFAULTS
    out: dict = {
        "published_name": pag.published_name,
        "published_version": pag.published_version,
        "published_date": _day(pag.published_date),
        "owner_institute_code": org.code if org else None,
        "published_uuid": str(pag.id),
        "owner_org_ena_assembly_opted": opt["ena_assembly_opted"] if org else None,
        "owner_org_ena_opted": opt["ena_opted"] if org else None,
        "owner_org_gisaid_opted": opt["gisaid_opted"] if org else None,
        "owner_username": pag.owner.username if pag.owner else None,
        "owner_org_code": org.code if org else None,
        "owner_org_name": org.name if org else None,
        "owner_org_gisaid_user": opt["gisaid_user"] if org else None,
        "owner_org_gisaid_mail": opt["gisaid_mail"] if org else None,
        "qc_reports": {
            q.test_name.replace("-", "_"): "PASS" if q.is_pass else "FAIL" for q in pag.quality_groups.all()
        },
        "artifacts": {},
    }
    artifacts = out["artifacts"]
    run = runs.get(_pag_run_name(pag.published_name))
    if run is not None:
        artifacts["sequencing"] = [
            {
                "id": str(run.id),
                "run_name": run.run_name,
                "instrument_make": run.instrument_make,
                "instrument_model": run.instrument_model,
                # Majora's run date is the process's "when" (the run name's date, else the first add).
                "sequencing_org_run_date": _day(run.when),
            }
        ]
    # Majora lists only public accessions, and adds the key only when there is one.
    for a in pag.accessions.all():
        if a.is_public:
            out.setdefault("accessions", {})[a.service] = {
                "primary_accession": a.primary_accession,
                "secondary_accession": a.secondary_accession,
            }
    files = []
    for art in pag.tagged_artifacts.all():
        metric_rows = list(art.metrics.all())
        metrics = {m.namespace: m.data for m in metric_rows}
        bs = getattr(art, "biosampleartifact", None)
        if bs is not None:
            if run is None:
                # Majora reads the biosample's library through the PAG's run and has none to read:
                # its task raises KeyError, so the whole listing fails until that run is registered.
                raise KeyError("sequencing")
            # One biosample per PAG: a later one replaces an earlier one, as in Majora.
            artifacts["biosample"] = [_pag_biosample(bs, metrics)]
            artifacts["library"] = [_pag_library(bs, run)]
            out.update(_v1_credit(org))  # credit is resolved per biosample, so only PAGs with one get it
        dra = getattr(art, "digitalresourceartifact", None)
        if dra is not None:
            files.append(_pag_file(dra, metric_rows))
    for f in files:  # Majora adds the files last, one per kind
        artifacts[f["current_kind"]] = [f]
    return out


def task_pag_v2(params: dict) -> dict:
    pags, report = _select(params)
    runs = _pag_runs(pags)
    rows = [{"published_name": p.published_name, "pag": _pag_struct(p, runs)} for p in pags]
    # The task get reply's `messages` is the task result's (Majora updates the reply with it).
    messages = report.messages + ([] if rows else ["No PAGs found."])
    return {"errors": report.errors, "messages": messages, "get": {"result": rows, "count": len(rows)}}


def task_pagfiles(params: dict) -> dict:
    rows = []
    pags, report = _select(params)
    found = f"{len(pags)} PAGs found" if pags else "No PAGs found"  # sic: Majora's pagfiles has no period
    for pag in pags:
        is_pass = any(q.is_pass for q in pag.quality_groups.all() if q.test_name == params["test_name"])
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
                        pag.published_date,  # a date: the task result's JSON encoding writes it
                    ]
                )
    return {
        "errors": report.errors,
        "messages": [*report.messages, found],
        "get": {"result": rows, "count": len(rows)},
    }
