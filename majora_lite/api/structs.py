"""How majora-lite's models appear in API answers: Majora's ``as_struct`` methods, as functions.

Majora's models render themselves; majora-lite keeps its models as data (``majora2``) and its
serialisation here, below every endpoint module, so that models, endpoints and serialisers never import
each other in a circle.
"""

from __future__ import annotations

import datetime as dt

from majora_lite.majora2 import models

# Majora renders run times with "%H:%m" (the month where the minutes belong); kept so that what
# Ocarina prints from majora-lite is what it prints from Majora.
MAJORA_RUN_TIME_FORMAT = "%Y-%m-%d %H:%m"


def metadata_struct(artifact: models.MajoraArtifact) -> dict:
    """Majora's ``get_metadata_as_struct``: ``{tag: {name: value}}`` without restricted tags."""
    out: dict = {}
    for rec in artifact.metadata.all():
        if rec.restricted:
            continue
        out.setdefault(rec.meta_tag, {})[rec.meta_name] = rec.value
    return out


def metric_struct(namespace: str, data: dict) -> dict:
    """A metric as Majora's ``as_struct`` of its model: what QC reads and biosample/get shows."""
    if namespace == "sequence":
        out = {k: data.get(k) for k in ("num_seqs", "num_bases", "pc_acgt", "pc_masked", "pc_invalid")}
        for k in ("longest_gap", "longest_ungap"):
            if data.get(k) is not None:
                out[k] = data[k]
        return out
    if namespace == "mapping":
        out = {k: data.get(k) for k in ("num_pos", "pc_pos_cov_gte10", "pc_pos_cov_gte20")}
        for k in ("num_maps", "num_unmaps", "mean_cov"):
            if data.get(k) is not None:
                out[k] = data[k]
        return out
    if namespace == "tile-mapping":
        return {
            f"pc_tiles_medcov_gte{n}": data.get(f"pc_tiles_medcov_gte{n}")
            for n in (1, 5, 10, 20, 50, 100, 200)
        }
    if namespace == "ct":
        return ct_struct(data)
    return dict(data)  # other namespaces: as stored


def _float(value):
    return None if value is None else float(value)


def ct_struct(data: dict) -> dict:
    """A ct metric as Majora reads it back: ``min_ct``/``max_ct`` are float columns (``0.0``, never ``0``),
    whatever number was stored."""
    out = dict(data)
    for key in ("min_ct", "max_ct"):
        if key in out:
            out[key] = _float(out[key])
    return out



def metrics_struct(artifact: models.MajoraArtifact) -> dict:
    """Majora's ``get_metrics_as_struct``: each metric namespace of the artifact."""
    return {m.namespace: metric_struct(m.namespace, m.data) for m in artifact.metrics.all()}


def _fmt(d: dt.date | None) -> str | None:
    return d.strftime("%Y-%m-%d") if d else None


def _yn_out(v: bool | None) -> str:
    return "" if v is None else ("Y" if v else "N")


def biosample_struct(bs: models.BiosampleArtifact) -> dict:
    """Majora's ``BiosampleArtifact.as_struct`` merged with ``BiosourceSamplingProcess.as_struct``.

    Empty text fields follow what Majora stores: its forms save ``""`` for the choice field
    sample_type_collected and source_sex, ``None`` for the plain text fields; a sample made by
    ``addempty`` (a sampling process never filled) has ``None`` everywhere, ``""`` for is_surveillance,
    collection_pillar (no COG-UK supplement) and collected_by (always ``""``).
    """
    p = bs.created
    filled = p is not None and p.submission_user_id is not None
    # Majora's get_pags(include_suppressed=True): a suppressed PAG is still listed.
    pags = [g.published_name for g in bs.pags.all() if g.is_latest]
    out = {
        "central_sample_id": bs.central_sample_id,
        "anonymous_sample_id": bs.anonymous_sample_id,
        "root_sample_id": bs.root_sample_id or None,
        "sample_type_collected": bs.sample_type_collected if filled else (bs.sample_type_collected or None),
        "sample_type_received": bs.sample_type_received or None,
        "swab_site": bs.swab_site or None,
        "published_as": ",".join(pags),
        "metadata": metadata_struct(bs),
        "metrics": metrics_struct(bs),
        "root_biosample_source_id": bs.root_biosample_source_id or None,
    }
    if p is None:
        return out
    if not filled:
        out.update(dict.fromkeys(SAMPLING_KEYS))
        out.update(
            {"collected_by": "", "is_surveillance": "", "collection_pillar": "", "biosample_sources": []}
        )
        return out
    org = p.submission_org
    out.update(
        {
            "collection_date": _fmt(p.collection_date),
            "received_date": _fmt(p.received_date),
            "submission_user": p.submission_user.username if p.submission_user else None,
            "submission_org": org.name if org else None,
            "submission_org_code": org.code if org else None,
            "source_sex": p.source_sex,
            "source_age": p.source_age,
            "collected_by": "",
            "adm0": p.collection_location_country or None,
            "adm1": p.collection_location_adm1 or None,
            "adm2": p.collection_location_adm2 or None,
            "adm2_private": p.private_collection_location_adm2 or None,
            "is_surveillance": _yn_out(p.is_surveillance),
            "collection_pillar": p.collection_pillar,
            "biosample_sources": (
                [
                    {
                        "source_type": bs.primary_group.source_type,
                        "biosample_source_id": bs.primary_group.dice_name,
                    }
                ]
                if bs.primary_group
                else []
            ),
        }
    )
    return out


SAMPLING_KEYS = [
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
]



def library_struct(lib: models.LibraryArtifact, deep: bool = True) -> dict:
    """Majora's ``LibraryArtifact.as_struct``: each pooled biosample's struct plus its pooling fields."""
    biosamples = []
    if deep:
        records = lib.pooling_records.select_related(
            "biosample__created__submission_org", "biosample__created__submission_user"
        ).prefetch_related("biosample__metadata", "biosample__metrics", "biosample__pags")
        for rec in records.order_by("pk"):
            row = biosample_struct(rec.biosample)
            row.update(
                {
                    "library_strategy": rec.library_strategy,
                    "library_source": rec.library_source,
                    "library_selection": rec.library_selection,
                    "library_adaptor_barcode": rec.barcode,
                    "library_protocol": rec.library_protocol,
                    "library_primers": rec.library_primers,
                }
            )
            biosamples.append(row)
    return {
        "library_name": lib.dice_name,
        "library_layout_config": lib.layout_config,
        "layout_read_length": lib.layout_read_length,
        "layout_insert_length": lib.layout_insert_length,
        "library_seq_kit": lib.seq_kit,
        "library_seq_protocol": lib.seq_protocol,
        "metadata": metadata_struct(lib),
        "biosamples": biosamples,
    }


def run_struct(run: models.DNASequencingProcess, deep: bool = True) -> dict:
    """Majora's ``DNASequencingProcess.as_struct`` (``deep=False`` leaves ``libraries`` empty)."""

    def ts(v):
        return v.strftime(MAJORA_RUN_TIME_FORMAT) if v else None

    org = run.submission_org
    libraries = []
    if deep:
        for rec in run.records.select_related("library").order_by("pk"):
            libraries.append(library_struct(rec.library))
    return {
        "run_name": run.run_name,
        "run_group": run.run_group,
        "instrument_make": run.instrument_make,
        "instrument_model": run.instrument_model,
        "flowcell_type": run.flowcell_type,
        "flowcell_id": run.flowcell_id,
        "start_time": ts(run.start_time),
        "end_time": ts(run.end_time),
        "libraries": libraries,
        "sequencing_uuid": str(run.id),
        "sequencing_org": org.name if org else None,
        "sequencing_org_code": org.code if org else None,
        "sequencing_submission_date": run.when.strftime("%Y-%m-%d") if run.when else None,
    }


def file_struct(resource: models.DigitalResourceArtifact) -> dict:
    """Majora's ``DigitalResourceArtifact.as_struct`` (what ``biosample/get`` of a file's id answers)."""
    return {
        "current_path": resource.current_path,
        "current_name": resource.current_name,
        "current_hash": resource.current_hash,
        "current_size": resource.current_size,
        "current_kind": resource.current_kind,
        "metadata": metadata_struct(resource),
        "metrics": metrics_struct(resource),
    }


def artifact_struct(artifact: models.MajoraArtifact) -> dict:
    """Majora's ``as_struct`` of any artifact: the struct of its kind (biosample, library, file), else
    its id, name and kind."""
    if isinstance(artifact, models.BiosampleArtifact):
        return biosample_struct(artifact)
    if isinstance(artifact, models.LibraryArtifact):
        return library_struct(artifact)
    if isinstance(artifact, models.DigitalResourceArtifact):
        return file_struct(artifact)
    # A bare MajoraArtifact row: its subclass row, if any, is reached through the parent link.
    for kind, render in (
        ("biosampleartifact", biosample_struct),
        ("libraryartifact", library_struct),
        ("digitalresourceartifact", file_struct),
    ):
        sub = getattr(artifact, kind, None)
        if sub is not None:
            return render(sub)
    return {"id": str(artifact.id), "dice_name": artifact.dice_name, "artifact_kind": artifact.artifact_kind}
