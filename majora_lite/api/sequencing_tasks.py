"""Bodies of the tasks ``sequencing/get`` and ``get2`` start for ``*`` (Majora's ``task_get_sequencing``,
``task_get_sequencing_faster``), and the run lookup the views share with them.

The task machinery is ``tasks.py``, which runs these; the views that start them are ``sequencing.py``.
"""

from __future__ import annotations

from django.db.models import Prefetch

from majora_lite.api import structs
from majora_lite.majora2 import models

# What a biosample's struct reads besides its own row, fetched for a whole library at once.
BIOSAMPLE_PREFETCH = ("biosample__metadata", "biosample__metrics", "biosample__pags")


def run_queryset():
    return models.DNASequencingProcess.objects.select_related("submission_org")


def lookup_runs(names, api_o: dict) -> dict:
    """Majora's per-name loop: a name that is no run is a warning and ``ignored``."""
    runs = {}
    for name in names:
        try:
            run = run_queryset().get(run_name=name)
        except Exception:  # Majora: any failure to get the run (unknown, unhashable name, ...) ignores it
            api_o["warnings"] += 1
            api_o["ignored"].append(name)
            continue
        runs[run.run_name] = structs.run_struct(run)
    return runs


def task_get_sequencing(params: dict) -> dict:
    """Majora's ``task_get_sequencing``: every run (for ``*``) as ``get``'s full struct."""
    out: dict = {"warnings": 0, "ignored": []}
    names = params.get("run_name") or []
    if names == ["*"]:
        names = list(models.DNASequencingProcess.objects.order_by("pk").values_list("run_name", flat=True))
    runs = lookup_runs(names, out)
    out["get"] = {"result": runs, "count": len(runs)}
    return out


def _faster_biosample(bs: models.BiosampleArtifact, pool: models.LibraryPoolingProcess, pags: list) -> dict:
    """One biosample of ``task_get_sequencing_faster``: Majora's ``values()`` row, pooling fields merged."""
    full = structs.biosample_struct(bs)
    p = bs.created
    known = p is not None and p.submission_user_id is not None
    row = {
        key: full.get(key)
        for key in (
            "central_sample_id",
            "anonymous_sample_id",
            "root_sample_id",
            "sample_type_collected",
            "root_biosample_source_id",
            "collection_date",
            "received_date",
            "submission_user",
            "submission_org",
            "submission_org_code",
            "source_sex",
            "source_age",
            "adm0",
            "adm1",
            "adm2",
            "adm2_private",
            "collection_pillar",
            "sample_type_received",
            "swab_site",
            "metrics",
            "metadata",
        )
    }
    # values() gives the stored boolean here, not get's Y/N; Majora turns None into "".
    surveillance = p.is_surveillance if known else None
    row["is_surveillance"] = "" if surveillance is None else surveillance
    row["biosample_source_id"] = bs.primary_group.dice_name if bs.primary_group_id else None
    received = pool.sequencing_org_received_date
    row.update(
        {
            "library_strategy": pool.library_strategy,
            "library_source": pool.library_source,
            "library_selection": pool.library_selection,
            "library_protocol": pool.library_protocol,
            "library_primers": pool.library_primers,
            "sequencing_org_received_date": received.strftime("%Y-%m-%d") if received else None,
            "library_adaptor_barcode": pool.barcode,
            # Every latest PAG of the sample, suppressed ones included (Majora's lookup does not filter them).
            "published_as": ",".join(sorted(set(pags))),
            "collected_by": "",  # Majora forces this to match get's interface
        }
    )
    return row


def task_get_sequencing_faster(params: dict) -> dict:
    """Majora's ``task_get_sequencing_faster`` (get2 ``*``): libraries' biosamples keyed by sample id."""
    pag_lookup: dict[str, list[str]] = {}
    for name, dice in models.PublishedArtifactGroup.objects.filter(
        is_latest=True, tagged_artifacts__biosampleartifact__isnull=False
    ).values_list("published_name", "tagged_artifacts__dice_name"):
        pag_lookup.setdefault(dice, []).append(name)
    pools = (
        models.LibraryPoolingProcess.objects.select_related(
            "biosample__created__submission_org",
            "biosample__created__submission_user",
            "biosample__primary_group",
        )
        .prefetch_related(*BIOSAMPLE_PREFETCH)
        .order_by("pk")
    )
    runs_qs = run_queryset().prefetch_related(
        Prefetch("records", queryset=models.DNASequencingProcessRecord.objects.order_by("pk")),
        Prefetch("records__library__pooling_records", queryset=pools),
    )
    result: dict = {}
    n_libs = n_biosamples = 0
    for run in runs_qs.order_by("pk"):
        struct = structs.run_struct(run, deep=False)
        for rec in run.records.all():
            n_libs += 1
            lib = structs.library_struct(rec.library, deep=False)
            samples = {}
            for pool in rec.library.pooling_records.all():
                n_biosamples += 1
                bs = pool.biosample
                samples[bs.central_sample_id] = _faster_biosample(bs, pool, pag_lookup.get(bs.dice_name, []))
            lib["biosamples"] = samples
            struct["libraries"].append(lib)
        result[run.run_name] = struct
    return {
        "get": {
            "result": result,
            "count": len(result),
            "legend": {},
            "count_detail": [len(result), n_libs, n_biosamples],
        }
    }

