"""Biosample validation, storage and output struct (Majora §1.4 and §1.7 behaviour)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.db import transaction
from django.utils import timezone

from snakemake_majora.server.majora2 import models

ADM1 = ["UK-ENG", "UK-SCT", "UK-WLS", "UK-NIR"]
SOURCE_SEX = ["F", "M", "Other"]
SAMPLE_TYPE_COLLECTED = ["dry swab", "swab", "aspirate", "sputum", "BAL"]
SAMPLE_TYPE_RECEIVED = ["primary", "extract", "lysate", "culture"]
SWAB_SITE = ["nose", "throat", "nose-throat", "endotracheal", "rectal"]
PILLARS = [1, 2, 103, 34613]
EARLIEST = dt.date(2020, 1, 1)
STR_FIELDS = {
    "central_sample_id": 48,
    "adm2": 100,
    "adm2_private": 10,
    "biosample_source_id": 48,
    "root_biosample_source_id": 48,
    "collecting_org": 100,
    "root_sample_id": 48,
    "sender_sample_id": 48,
    "anonymous_sample_id": 48,
    "employing_hospital_name": 100,
    "employing_hospital_trust_or_board": 100,
    "admitted_hospital_name": 100,
    "admitted_hospital_trust_or_board": 100,
    "anonymised_care_home_code": 10,
}
CHOICE_FIELDS = {
    "adm1": ADM1,
    "source_sex": SOURCE_SEX,
    "sample_type_collected": SAMPLE_TYPE_COLLECTED,
    "sample_type_received": SAMPLE_TYPE_RECEIVED,
    "swab_site": SWAB_SITE,
}
YN_FIELDS = [
    "is_surveillance",
    "is_hcw",
    "is_hospital_patient",
    "is_icu_patient",
    "admitted_with_covid_diagnosis",
    "is_care_home_worker",
    "is_care_home_resident",
]
DATE_FIELDS = ["collection_date", "received_date", "admission_date"]
SUPPLEMENT_FIELDS = [
    "is_hcw",
    "employing_hospital_name",
    "employing_hospital_trust_or_board",
    "is_hospital_patient",
    "is_icu_patient",
    "admission_date",
    "admitted_hospital_name",
    "admitted_hospital_trust_or_board",
    "admitted_with_covid_diagnosis",
    "is_care_home_worker",
    "is_care_home_resident",
    "anonymised_care_home_code",
]
KNOWN_FIELDS = (
    set(STR_FIELDS)
    | set(CHOICE_FIELDS)
    | set(YN_FIELDS)
    | set(DATE_FIELDS)
    | {
        "source_age",
        "collection_pillar",
    }
)


def _err(errors: dict, field: str, message: str, code: str = "invalid") -> None:
    errors.setdefault(field, []).append({"message": message, "code": code})


def parse_date(value: Any) -> dt.date | None:
    """Parse ``%Y-%m-%d``; raise ValueError for anything else."""
    if not isinstance(value, str):
        raise ValueError
    return dt.datetime.strptime(value.strip(), "%Y-%m-%d").date()


def _yn(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        v = value.strip().upper()
        if v in ("Y", "YES"):
            return True
        if v in ("N", "NO"):
            return False
    raise ValueError


def clean_biosample(
    data: dict, *, partial: bool, existing: models.BiosampleArtifact | None
) -> tuple[dict, dict]:
    """Validate one biosample dict. Returns (cleaned values for the fields given, form-like errors)."""
    errors: dict = {}
    cleaned: dict = {}
    today = timezone.now().date()
    for field in KNOWN_FIELDS:
        if field not in data:
            continue
        value = data[field]
        if value is None or value == "":
            cleaned[field] = None
            continue
        if isinstance(value, (dict, list)):
            _err(errors, field, "Expected a single value, not a list or object.")
            continue
        if field in STR_FIELDS:
            value = str(value).strip()
            if len(value) > STR_FIELDS[field]:
                _err(
                    errors,
                    field,
                    f"Ensure this value has at most {STR_FIELDS[field]} characters.",
                    "max_length",
                )
                continue
            cleaned[field] = value
        elif field in CHOICE_FIELDS:
            choices = CHOICE_FIELDS[field]
            v = str(value).strip()
            match = next((c for c in choices if c.lower() == v.lower()), None)
            if match is None:
                _err(
                    errors,
                    field,
                    f"Select a valid choice. {v} is not one of the available choices.",
                    "invalid_choice",
                )
                continue
            cleaned[field] = match
        elif field in YN_FIELDS:
            try:
                cleaned[field] = _yn(value)
            except ValueError:
                _err(
                    errors,
                    field,
                    f"Select a valid choice. {value} is not one of the available choices.",
                    "invalid_choice",
                )
        elif field in DATE_FIELDS:
            try:
                cleaned[field] = parse_date(value)
            except ValueError:
                _err(errors, field, "Enter a valid date.")
        elif field == "source_age":
            if isinstance(value, bool) or not re.fullmatch(r"\d{1,3}", str(value).strip()):
                _err(errors, field, "Enter a whole number.")
                continue
            age = int(str(value).strip())
            if age > 150:
                _err(errors, field, "Ensure this value is less than or equal to 150.", "max_value")
                continue
            cleaned[field] = age
        elif field == "collection_pillar":
            try:
                pillar = int(str(value).strip())
            except ValueError:
                pillar = None
            if isinstance(value, bool) or pillar not in PILLARS:
                _err(
                    errors,
                    field,
                    f"Select a valid choice. {value} is not one of the available choices.",
                    "invalid_choice",
                )
                continue
            cleaned[field] = pillar

    if cleaned.get("adm2"):
        cleaned["adm2"] = cleaned["adm2"].upper()
        if re.search(r"\d", cleaned["adm2"]):
            _err(
                errors,
                "adm2",
                "adm2 cannot contain numbers. Use adm2_private if you are trying to provide an "
                "outer postcode",
            )
    if cleaned.get("adm2_private"):
        cleaned["adm2_private"] = cleaned["adm2_private"].upper()
        if " " in cleaned["adm2_private"]:
            _err(errors, "adm2_private", "Enter the first part of the postcode only")

    if not partial:
        for field in ("central_sample_id", "adm1"):
            if not cleaned.get(field) and field not in errors:
                _err(errors, field, "This field is required.", "required")
        if cleaned.get("is_surveillance") is None and "is_surveillance" not in errors:
            _err(errors, "is_surveillance", "You must set is_surveillance to Y or N")

    # Date rules work on the merged record so that a partial update cannot break them.
    proc = existing.created if existing is not None else None
    coll = (
        cleaned.get("collection_date")
        if "collection_date" in cleaned
        else (proc.collection_date if (partial and proc) else None)
    )
    recv = (
        cleaned.get("received_date")
        if "received_date" in cleaned
        else (proc.received_date if (partial and proc) else None)
    )
    is_new = existing is None or proc is None or proc.submission_user_id is None
    if "collection_date" in errors or "received_date" in errors:
        pass
    elif not coll and not recv:
        if not partial or "collection_date" in cleaned or "received_date" in cleaned:
            _err(
                errors,
                "received_date",
                "You must provide a received date for samples without a collection date",
            )
    for field, value, verb in (("collection_date", coll, "collected"), ("received_date", recv, "received")):
        if not value or field not in cleaned:
            continue
        if value > today:
            _err(errors, field, f"Sample cannot be {verb} in the future")
        elif value < EARLIEST:
            _err(errors, field, f"Sample cannot be {verb} before 2020")
        elif is_new and value < today - dt.timedelta(days=365):
            _err(errors, field, f"Sample cannot be {verb} more than a year ago...")
    if coll and recv and recv < coll and "received_date" not in errors:
        _err(errors, "received_date", "Sample cannot be received before it was collected")
    swab, stype = cleaned.get("swab_site"), cleaned.get("sample_type_collected")
    if swab and stype and "swab" not in stype and stype != "aspirate":
        _err(errors, "sample_type_collected", "Swab site specified but the sample type is not 'swab'")
    return cleaned, errors


def _fmt(d: dt.date | None) -> str | None:
    return d.strftime("%Y-%m-%d") if d else None


def _yn_out(v: bool | None) -> str:
    return "" if v is None else ("Y" if v else "N")


def biosample_struct(bs: models.BiosampleArtifact) -> dict:
    """Majora's ``BiosampleArtifact.as_struct`` merged with ``BiosourceSamplingProcess.as_struct``."""
    pags = [p.published_name for p in bs.pags.all() if p.is_latest and not p.is_suppressed]
    out = {
        "central_sample_id": bs.central_sample_id,
        "anonymous_sample_id": bs.anonymous_sample_id,
        "root_sample_id": bs.root_sample_id or None,
        "sample_type_collected": bs.sample_type_collected or None,
        "sample_type_received": bs.sample_type_received or None,
        "swab_site": bs.swab_site,
        "published_as": ",".join(pags),
        "metadata": bs.get_metadata_as_struct(),
        "metrics": bs.get_metrics_as_struct(),
        "root_biosample_source_id": bs.root_biosample_source_id,
    }
    p = bs.created
    if p is None or p.submission_user_id is None:
        empty = dict.fromkeys(
            [
                "collection_date",
                "received_date",
                "submission_user",
                "submission_org",
                "submission_org_code",
                "source_sex",
                "source_age",
                "collected_by",
                "adm0",
                "adm1",
                "adm2",
                "adm2_private",
                "is_surveillance",
                "collection_pillar",
            ]
        )
        out.update(empty)
        out["biosample_sources"] = []
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
            "collected_by": p.collected_by,
            "adm0": p.collection_location_country,
            "adm1": p.collection_location_adm1,
            "adm2": p.collection_location_adm2,
            "adm2_private": p.private_collection_location_adm2,
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


def _set_metadata(artifact: models.MajoraArtifact, metadata: Any, api_o: dict) -> None:
    """Upsert ``{tag: {name: value}}`` records; values are stored as strings (CharField(128))."""
    if not metadata:
        return
    if not isinstance(metadata, dict):
        api_o["errors"] += 1
        api_o["messages"].append("'metadata' appears malformed")
        return
    for tag, names in metadata.items():
        if not isinstance(names, dict):
            api_o["errors"] += 1
            api_o["ignored"].append(f"metadata__{tag}")
            api_o["messages"].append(
                {"metadata": [{"message": f"Tag {tag} must map names to values", "code": ""}]}
            )
            continue
        for name, value in names.items():
            if isinstance(value, (dict, list)) or len(str(tag)) > 64 or len(str(name)) > 64:
                api_o["errors"] += 1
                api_o["ignored"].append(f"metadata__{tag}__{name}")
                api_o["messages"].append({"value": [{"message": "Enter a single value.", "code": "invalid"}]})
                continue
            sval = None if value is None else str(value)[:128]
            models.MajoraMetaRecord.objects.update_or_create(
                artifact=artifact,
                meta_tag=str(tag),
                meta_name=str(name),
                defaults={"value": sval, "restricted": str(tag) == "investigation"},
            )


METRIC_NAMESPACES = {"ct", "sequence", "mapping", "tile-mapping"}


def set_metrics(artifact: models.MajoraArtifact, metrics: Any, api_o: dict) -> None:
    """Store metric namespaces; ``ct`` records are summarised as Majora does (num_tests, min/max)."""
    if not metrics:
        return
    if not isinstance(metrics, dict):
        api_o["errors"] += 1
        api_o["messages"].append("'metrics' appears malformed")
        return
    for ns, body in metrics.items():
        if ns not in METRIC_NAMESPACES:
            api_o["ignored"].append(ns)
            api_o["messages"].append(f"'{ns}' does not describe a valid metric")
            api_o["warnings"] += 1
            continue
        if not isinstance(body, dict):
            api_o["errors"] += 1
            api_o["ignored"].append(ns)
            api_o["messages"].append(f"'{ns}' appears malformed")
            continue
        if ns == "ct":
            data = _ct_metric(body, api_o)
            if data is None:
                continue
        else:
            data = {}
            for k, v in body.items():
                if k in ("artifact", "namespace", "records"):
                    continue
                if v is not None and not isinstance(v, (int, float, str)):
                    continue
                data[k] = v
        models.TemporaryMajoraArtifactMetric.objects.update_or_create(
            artifact=artifact, namespace=ns, defaults={"data": data}
        )
        api_o["updated"].append(format_tuple(artifact))


def _ct_metric(body: dict, api_o: dict) -> dict | None:
    records = body.get("records") or {}
    if isinstance(records, list):
        records = {str(i): r for i, r in enumerate(records)}
    if not isinstance(records, dict):
        api_o["errors"] += 1
        api_o["messages"].append("'ct' records appear malformed")
        return None
    recs = []
    for name, rec in records.items():
        if not isinstance(rec, dict) or not rec.get("ct_value"):
            api_o["ignored"].append(f"ct:{name}")
            api_o["warnings"] += 1
            continue
        try:
            ct = float(rec["ct_value"])
        except (TypeError, ValueError):
            api_o["errors"] += 1
            api_o["ignored"].append(f"ct:{name}")
            api_o["messages"].append({"ct_value": [{"message": "Enter a number.", "code": "invalid"}]})
            continue
        recs.append(
            {
                "ct_value": ct,
                "test_platform": str(rec.get("test_platform") or ""),
                "test_target": str(rec.get("test_target") or ""),
                "test_kit": str(rec.get("test_kit") or ""),
            }
        )
    if not recs:
        api_o["ignored"].append("ct")
        api_o["messages"].append("'ct' records look empty")
        api_o["warnings"] += 1
        return None
    cts = [r["ct_value"] for r in recs]
    return {"num_tests": len(recs), "min_ct": min(cts), "max_ct": max(cts), "records": recs}


def format_tuple(obj: Any) -> list:
    """Majora's ``_format_tuple``: ``[kind, uuid, name]``.

    ``kind`` is Majora's ``kind`` property (the model's ``artifact_kind`` / ``group_kind`` /
    ``process_kind``), not the class name: ``Biosample``, ``Library``, ``Biosample Source``,
    ``Published Artifact Group``, ``Sequencing`` (processes have an empty name).
    """
    if isinstance(obj, models.BiosampleArtifact):
        return ["Biosample", str(obj.id), obj.central_sample_id]
    if isinstance(obj, models.LibraryArtifact):
        return ["Library", str(obj.id), obj.dice_name]
    if isinstance(obj, models.MajoraArtifact):
        return [obj.artifact_kind, str(obj.id), obj.dice_name]
    if isinstance(obj, models.PublishedArtifactGroup):
        return ["Published Artifact Group", str(obj.id), obj.published_name]
    if isinstance(obj, models.DNASequencingProcess):
        return ["Sequencing", str(obj.id), ""]
    if isinstance(obj, models.BiosampleSource):
        return ["Biosample Source", str(obj.pk), obj.dice_name]
    if isinstance(obj, models.AbstractBioinformaticsProcess):
        return [obj.kind, str(obj.id), ""]  # a process: no name, as every Majora process
    if isinstance(obj, models.DigitalResourceNode):
        return [obj.kind, str(obj.id), obj.node_name]
    if isinstance(obj, models.DigitalResourceGroup):
        return [obj.kind, str(obj.id), obj.dice_name]
    return [type(obj).__name__, str(getattr(obj, "pk", "")), ""]


PROCESS_MAP = {
    "collection_date": "collection_date",
    "received_date": "received_date",
    "source_sex": "source_sex",
    "source_age": "source_age",
    "collecting_org": "collected_by",
    "adm1": "collection_location_adm1",
    "adm2": "collection_location_adm2",
    "adm2_private": "private_collection_location_adm2",
    "is_surveillance": "is_surveillance",
    "collection_pillar": "collection_pillar",
}
SAMPLE_MAP = {
    "sender_sample_id": "sender_sample_id",
    "anonymous_sample_id": "anonymous_sample_id",
    "root_sample_id": "root_sample_id",
    "sample_type_collected": "sample_type_collected",
    "sample_type_received": "sample_type_received",
    "swab_site": "swab_site",
    "root_biosample_source_id": "root_biosample_source_id",
}
NULLABLE = {
    "collection_date",
    "received_date",
    "source_age",
    "is_surveillance",
    "collection_pillar",
    "anonymous_sample_id",
    "swab_site",
    "root_biosample_source_id",
}


def _empty_value(attr: str) -> Any:
    return None if attr in NULLABLE else ""


def new_empty_biosample(sample_id: str) -> tuple[models.BiosampleArtifact, bool]:
    """Majora's ``get_or_create`` of a placeholder biosample with an empty sampling process."""
    bs = models.BiosampleArtifact.objects.filter(central_sample_id=sample_id).first()
    if bs is not None:
        if bs.created is None:
            bs.created = models.BiosourceSamplingProcess.objects.create()
            bs.save(update_fields=["created"])
        return bs, False
    proc = models.BiosourceSamplingProcess.objects.create()
    bs = models.BiosampleArtifact.objects.create(
        central_sample_id=sample_id,
        dice_name=sample_id,
        artifact_kind="Biosample",
        created=proc,
        modified=timezone.now(),
        revision=1,
    )
    return bs, True


def save_biosample(data: dict, *, user, partial: bool, api_o: dict) -> None:
    """Add (overwrite) or partially update one biosample, recording the outcome in ``api_o``."""
    if not isinstance(data, dict):
        api_o["errors"] += 1
        api_o["messages"].append("'biosamples' appears malformed")
        return
    sample_id = data.get("central_sample_id")
    if not sample_id or not isinstance(sample_id, (str, int)):
        api_o["errors"] += 1
        api_o["messages"].append("'central_sample_id' key missing or empty")
        return
    sample_id = str(sample_id).strip()
    with transaction.atomic():
        bs = (
            models.BiosampleArtifact.objects.select_related("created")
            .filter(central_sample_id=sample_id)
            .first()
        )
        if partial:
            if bs is None:
                api_o["errors"] += 1
                api_o["ignored"].append(sample_id)
                api_o["messages"].append(f"Cannot use `partial` on new BiosampleArtifact {sample_id}")
                return
            if bs.created is None or bs.created.submission_user_id is None:
                api_o["errors"] += 1
                api_o["ignored"].append(sample_id)
                api_o["messages"].append(f"Cannot use `partial` on empty BiosampleArtifact {sample_id}")
                return
        anon = data.get("anonymous_sample_id")
        if anon and (bs is None or anon != bs.anonymous_sample_id):
            perm = "change" if bs is not None and bs.anonymous_sample_id else "add"
            if not user.has_perm(f"majora2.can_{perm}_anonymous_sample_id"):
                api_o["errors"] += 1
                api_o["ignored"].append(sample_id)
                api_o["messages"].append(
                    f"You do not have permission to {perm} the anonymous_sample_id "
                    f"on BiosampleArtifact {sample_id}"
                )
                return
        cleaned, errors = clean_biosample(data, partial=partial, existing=bs)
        if errors:
            api_o["errors"] += 1
            api_o["ignored"].append(sample_id)
            api_o["messages"].append(errors)
            return
        before = biosample_struct(bs) if bs is not None else None
        created_sample = bs is None
        if bs is None:
            bs = models.BiosampleArtifact(
                central_sample_id=sample_id, dice_name=sample_id, artifact_kind="Biosample"
            )
        proc = bs.created or models.BiosourceSamplingProcess()
        # Keep an existing anonymous_sample_id on a full overwrite, as Majora does.
        if not partial and "anonymous_sample_id" not in cleaned and bs.anonymous_sample_id:
            cleaned["anonymous_sample_id"] = bs.anonymous_sample_id
        for key, attr in PROCESS_MAP.items():
            if key in cleaned or not partial:
                val = cleaned.get(key)
                setattr(proc, attr, _empty_value(attr) if val is None else val)
        supp = dict(proc.supplement or {}) if partial else {}
        for key in SUPPLEMENT_FIELDS:
            if key in cleaned:
                val = cleaned[key]
                supp[key] = val.strftime("%Y-%m-%d") if isinstance(val, dt.date) else val
        proc.supplement = supp
        proc.collection_location_country = "United Kingdom"
        if proc.submission_user_id is None:
            proc.submission_user = user
            profile = getattr(user, "profile", None)
            proc.submission_org = profile.institute if profile else None
        proc.save()
        for key, attr in SAMPLE_MAP.items():
            if key in cleaned or not partial:
                val = cleaned.get(key)
                setattr(bs, attr, _empty_value(attr) if val is None else val)
        source_id = cleaned.get("biosample_source_id")
        source_created = False
        if source_id:
            source, source_created = models.BiosampleSource.objects.get_or_create(dice_name=source_id)
            bs.primary_group = source
        elif not partial:
            bs.primary_group = None
        bs.created = proc
        bs.save()
        _set_metadata(bs, data.get("metadata"), api_o)
        set_metrics(bs, data.get("metrics"), api_o)
        bs = models.BiosampleArtifact.objects.select_related("created", "primary_group").get(pk=bs.pk)
        after = biosample_struct(bs)
        if after != before:
            models.BiosampleArtifact.objects.filter(pk=bs.pk).update(
                revision=bs.revision + 1, modified=timezone.now()
            )
        if created_sample:
            api_o["new"].append(format_tuple(bs))
        else:
            api_o["updated"].append(format_tuple(bs))
        if source_created:
            api_o["new"].append(format_tuple(bs.primary_group))
