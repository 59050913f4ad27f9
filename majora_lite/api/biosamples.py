"""Biosample add/update/addempty with Majora's rules, metadata tags, ct metrics and the output struct."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import string
import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from majora_lite.api import forms
from majora_lite.majora2 import models

log = logging.getLogger("majora_lite.biosample")
ZANA_DISABLED = (
    "ZANA has not been enabled to issue the anonymous_sample_id. "
    "If you wish to enable this behaviour, contact a system administrator."
)
#: Metadata tags Majora never shows (fixed_data.RESTRICTED_METADATA).
RESTRICTED_METADATA = ["investigation"]
NO_TARGET = "You must provide one 'artifact', 'group' or 'process' to attach metadata to"
BAD_CHOICE = "Select a valid choice. That choice is not one of the available choices."


def parse_date(value: Any) -> dt.date | None:
    """Parse ``%Y-%m-%d``; raise ValueError for anything else."""
    if not isinstance(value, str):
        raise ValueError
    return dt.datetime.strptime(value.strip(), "%Y-%m-%d").date()


def zana_prefix() -> str | None:
    """The ZANA pool prefix when the server runs with ``--zana PREFIX`` (None: ZANA disabled, Majora's
    recorded deployment)."""
    return (getattr(settings, "MAJORA_LITE", None) or {}).get("zana")


def zana_issue(linkage_id: str, prefix: str) -> str:
    """An anonymous id as ZANA issues one: ``PREFIX-`` and 8 alphanumerics, one per linkage id.

    ZANA keeps one id per linkage id (Majora passes the central_sample_id); a keyed hash of it gives the
    same stable answer without a table.
    """
    alphabet = string.digits + string.ascii_uppercase
    digest = hashlib.sha256(f"{settings.SECRET_KEY}|zana|{prefix}|{linkage_id}".encode()).digest()
    number = int.from_bytes(digest, "big")
    postfix = ""
    for _ in range(forms.ANON_POSTFIX_LENGTH):
        number, rem = divmod(number, len(alphabet))
        postfix += alphabet[rem]
    return f"{prefix}-{postfix}"


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
        "metadata": bs.get_metadata_as_struct(),
        "metrics": bs.get_metrics_as_struct(),
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


def _metadata_target(kind: str, name: Any):
    """Majora's TestMetadataForm lookup of the artifact (by dice name), group or process; None if unknown."""
    if name in forms.EMPTY:
        return None
    if isinstance(name, models.MajoraArtifact):
        return name
    if not isinstance(name, (str, int, float)) or isinstance(name, bool):
        return None
    if kind == "artifact":
        return models.MajoraArtifact.objects.filter(dice_name=str(name)).first()
    if kind == "group":
        return models.BiosampleSource.objects.filter(dice_name=str(name)).first()
    try:
        return models.DNASequencingProcess.objects.filter(pk=uuid.UUID(str(name))).first()
    except ValueError:
        return None


def _meta_text(value: Any, max_length: int, required: bool) -> tuple[str, dict | None]:
    try:
        return forms.clean_field(forms.Field("char", max_length, required=required, null=False), value), None
    except forms.FieldError as exc:
        return "", {"message": exc.message, "code": exc.code}


def handle_metadata(metadata: Any, kind: str, target: Any, api_o: dict) -> None:
    """Majora's ``handle_metadata``: one ``TestMetadataForm`` per ``{tag: {name: value}}`` entry.

    The loops index the request as Majora's do, so a malformed ``metadata`` raises the same Python error
    (reported by the caller as Majora's view does, or a 500 where Majora's view does not catch it).
    """
    for tag in metadata:
        for name in metadata[tag]:
            value = metadata[tag][name]
            errors: dict = {}
            found = _metadata_target(kind, target)
            if found is None and target not in forms.EMPTY:
                errors.setdefault(kind, []).append({"message": BAD_CHOICE, "code": "invalid_choice"})
            tag_s, tag_err = _meta_text(tag, 64, True)
            name_s, name_err = _meta_text(name, 64, True)
            value_s, value_err = _meta_text(value, 128, False)
            for key, err in (("tag", tag_err), ("name", name_err), ("value", value_err)):
                if err:
                    errors[key] = [err]
            if found is None:
                for key in ("artifact", "group", "process"):
                    errors.setdefault(key, []).append({"message": NO_TARGET, "code": ""})
            if errors:
                api_o["errors"] += 1
                api_o["ignored"].append(f"metadata__{tag}__{name}")
                api_o["messages"].append(errors)
                continue
            if not isinstance(found, models.MajoraArtifact):
                # majora-lite keeps tags on artifacts only (groups and processes: accepted, not kept)
                continue
            models.MajoraMetaRecord.objects.update_or_create(
                artifact=found,
                meta_tag=tag_s,
                meta_name=name_s,
                defaults={"value": value_s, "restricted": tag_s in RESTRICTED_METADATA},
            )


def _set_metadata(artifact: models.MajoraArtifact, metadata: Any, api_o: dict) -> None:
    """Tag ``artifact`` with ``metadata`` (``handle_metadata`` on an artifact already looked up)."""
    handle_metadata(metadata if metadata is not None else {}, "artifact", artifact, api_o)


def set_metrics(artifact: models.MajoraArtifact, metrics: Any, api_o: dict) -> None:
    """Majora's ``handle_metrics`` of biosample/add: ``ct`` here, the other namespaces as meta/metric/add.

    The request is indexed as Majora's loop does, so a malformed ``metrics`` raises the same Python error.
    """
    from majora_lite.api import metrics as metric_forms  # metrics.py imports this module

    for namespace in metrics:
        body = metrics[namespace]
        body["artifact"] = str(artifact.id)
        body["namespace"] = namespace
        if namespace == "ct":
            save_ct(artifact, body, api_o)
        else:
            metric_forms.add_artifact_metrics(artifact, {namespace: body}, api_o)


CT_CHOICES = {
    "test_kit": (
        "ALTONA",
        "ABBOTT",
        "ROCHE",
        "AUSDIAGNOSTICS",
        "BOSPHORE",
        "INHOUSE",
        "SEEGENE",
        "VIASURE",
        "BD",
        "XPERT",
        "QIASTAT",
        "ALINITY",
        "AMPLIDIAG",
        "TAQPATH_HT",
        "INVITROGEN",
    ),
    "test_platform": (
        "ALTOSTAR_AM16",
        "ABBOTT_M2000",
        "ABBOTT_ALINITY",
        "APPLIED_BIO_7500",
        "ROCHE_FLOW",
        "ROCHE_COBAS",
        "ELITE_INGENIUS",
        "CEPHEID_XPERT",
        "QIASTAT_DX",
        "AUSDIAGNOSTICS",
        "ROCHE_LIGHTCYCLER",
        "INHOUSE",
        "ALTONA",
        "PANTHER",
        "SEEGENE_NIMBUS",
        "QIAGEN_ROTORGENE",
        "BD_MAX",
        "AMPLIDIAG_EASY",
        "THERMO_AMPLITUDE",
    ),
    "test_target": ("S", "E", "N", "RDRP", "ORF1AB", "ORF8", "RDRP+N"),
}


def _ct_record_errors(rec: dict) -> tuple[dict, dict]:
    """Majora's ``M2MetricRecord_ThresholdCycleForm``: ct_value a number >= 0, case-sensitive choices."""
    errors: dict = {}
    cleaned: dict = {}
    try:
        ct = float(str(rec.get("ct_value")).strip())
        if ct < 0:
            errors["ct_value"] = [
                {"message": "Ensure this value is greater than or equal to 0.0.", "code": "min_value"}
            ]
        cleaned["ct_value"] = ct
    except ValueError:
        errors["ct_value"] = [{"message": "Enter a number.", "code": "invalid"}]
    for key, choices in CT_CHOICES.items():
        try:
            cleaned[key] = forms.clean_field(forms.Field("choice", choices=choices), rec.get(key))
        except forms.FieldError as exc:
            errors[key] = [{"message": exc.message, "code": exc.code}]
    return cleaned, errors


def save_ct(artifact: models.MajoraArtifact, body: dict, api_o: dict) -> None:
    """Majora's ``ct`` branch of ``handle_metrics``: records replace the old ones on the first valid one.

    Records are indexed as Majora indexes them, so a malformed body raises the same Python error.
    """
    body["artifact"] = str(artifact.id)
    records = body.get("records", {})
    if not any(records[name].get("ct_value") for name in records):
        api_o["ignored"].append("ct")
        api_o["messages"].append("'ct' records look empty")
        api_o["warnings"] += 1
        return
    metric, _ = models.TemporaryMajoraArtifactMetric.objects.get_or_create(
        artifact=artifact,
        namespace="ct",
        defaults={"data": {"num_tests": 0, "min_ct": 0, "max_ct": 0, "records": []}},
    )
    api_o["updated"].append(format_tuple(artifact))
    recs = list((metric.data or {}).get("records") or [])
    first_valid = True
    for name in records:
        rec = records[name]
        if not rec.get("ct_value"):
            api_o["ignored"].append(f"ct:{name}")
            api_o["warnings"] += 1
            continue
        cleaned, errors = _ct_record_errors(rec)
        if errors:
            api_o["errors"] += 1
            api_o["ignored"].append(f"ct:{name}")
            api_o["messages"].append(errors)
            continue
        if first_valid:
            if recs:
                api_o["messages"].append(
                    f"{len(recs)} existing Ct value records deleted and replaced with new values"
                )
            recs = []
            first_valid = False
        key = (cleaned["test_platform"], cleaned["test_target"], cleaned["test_kit"])
        same = [r for r in recs if (r["test_platform"], r["test_target"], r["test_kit"]) == key]
        if same:
            same[0]["ct_value"] = cleaned["ct_value"]
        else:
            recs.append({k: cleaned[k] for k in ("ct_value", "test_platform", "test_target", "test_kit")})
    if first_valid:
        # No valid record: Majora's metric form has just reset the summary; the old records stay.
        metric.data = {"num_tests": 0, "min_ct": 0, "max_ct": 0, "records": recs}
        metric.save(update_fields=["data"])
        return
    cts = [r["ct_value"] for r in recs]
    metric.data = {
        "num_tests": len(recs),
        "min_ct": min(cts) if cts else 0,
        "max_ct": max(cts) if cts else 0,
        "records": recs,
    }
    metric.save(update_fields=["data"])


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


def _text(value: Any) -> str:
    """majora-lite's text columns are not nullable: Majora's ``None`` is kept as ``""``."""
    return "" if value is None else value


def save_biosample(data: Any, *, user, partial: bool, api_o: dict) -> None:
    """Add (overwrite) or partially update one biosample, recording the outcome in ``api_o``.

    As in Majora's view, an unexpected error on one biosample (a malformed entry) is reported as that
    error's text and the next biosample is processed.
    """
    try:
        with transaction.atomic():
            _save_biosample(data, user=user, partial=partial, api_o=api_o)
    except Exception as exc:
        log.info("biosample not saved: %s", type(exc).__name__)
        api_o["errors"] += 1
        api_o["messages"].append(str(exc))


def _anonymous_id(biosample: dict, sample_id: Any, bs, partial: bool, user, api_o: dict) -> bool:
    """Majora's anonymous_sample_id rules before the forms; False when the biosample is refused."""
    existing = bs.anonymous_sample_id if bs is not None else None
    given = biosample.get("anonymous_sample_id")
    if given:
        action = "change" if existing else "add"
        if existing and given == existing:
            return True
        if not user.has_perm(f"majora2.can_{action}_anonymous_sample_id"):
            api_o["errors"] += 1
            api_o["ignored"].append(sample_id)
            api_o["messages"].append(
                f"You do not have permission to {action} the anonymous_sample_id "
                f"on BiosampleArtifact {sample_id}"
            )
            return False
        return True
    biosample.pop("anonymous_sample_id", None)
    if existing:
        if not partial:  # a full add (PUT) keeps the id by sending it again
            biosample["anonymous_sample_id"] = existing
        return True
    prefix = zana_prefix()
    if prefix:
        biosample["anonymous_sample_id"] = zana_issue(str(sample_id), prefix)
    else:
        api_o["warnings"] += 1
        api_o["messages"].append(ZANA_DISABLED)
    return True


def addempty_anonymous_id_ok(sample_id: str, anon: Any, user, api_o: dict) -> bool:
    """addempty's anonymous_sample_id check: the permission, then the artifact form on the id pair."""
    bs = models.BiosampleArtifact.objects.filter(central_sample_id=sample_id).first()
    existing = bs.anonymous_sample_id if bs is not None else None
    if existing and anon == existing:
        pass
    elif not user.has_perm(f"majora2.can_{'change' if existing else 'add'}_anonymous_sample_id"):
        action = "change" if existing else "add"
        api_o["errors"] += 1
        api_o["ignored"].append(sample_id)
        api_o["messages"].append(
            f"You do not have permission to {action} the anonymous_sample_id on BiosampleArtifact {sample_id}"
        )
        return False

    def taken(value: str) -> bool:
        others = models.BiosampleArtifact.objects.filter(anonymous_sample_id=value)
        return others.exclude(pk=bs.pk).exists() if bs is not None else others.exists()

    form = forms.ArtifactForm({"central_sample_id": sample_id, "anonymous_sample_id": anon}, {}, True, taken)
    if not form.is_valid():
        _refuse(api_o, sample_id, form)
        return False
    return True


def _refuse(api_o: dict, sample_id: Any, form: forms.Form) -> None:
    api_o["errors"] += 1
    api_o["ignored"].append(sample_id)
    api_o["messages"].append(form.errors)


def _save_biosample(biosample: Any, *, user, partial: bool, api_o: dict) -> None:
    sample_id = biosample.get("central_sample_id")  # a non-dict entry raises here, as in Majora
    initial = forms.fixed_initial(user)
    if not sample_id:
        api_o["errors"] += 1
        api_o["messages"].append("'central_sample_id' key missing or empty")
        return
    bs = (
        models.BiosampleArtifact.objects.select_related("created", "primary_group")
        .filter(central_sample_id=str(sample_id))
        .first()
    )
    proc = bs.created if bs is not None else None
    if partial and bs is None:
        api_o["errors"] += 1
        api_o["ignored"].append(sample_id)
        api_o["messages"].append(f"Cannot use `partial` on new BiosampleArtifact {sample_id}")
        return
    if partial and (proc is None or proc.submission_user_id is None):
        api_o["errors"] += 1
        api_o["ignored"].append(sample_id)
        api_o["messages"].append(f"Cannot use `partial` on empty BiosampleArtifact {sample_id}")
        return
    if not _anonymous_id(biosample, sample_id, bs, partial, user, api_o):
        return

    # Majora's three forms, in its order; the first that fails is the only one reported.
    supp = forms.SupplementForm(biosample, initial, partial)
    if not supp.is_valid():
        return _refuse(api_o, sample_id, supp)
    sampling = forms.ProcessForm(biosample, initial, partial, adding=proc is None)
    if not sampling.is_valid():
        return _refuse(api_o, sample_id, sampling)

    def taken(anon: str) -> bool:
        others = models.BiosampleArtifact.objects.filter(anonymous_sample_id=anon)
        return others.exclude(pk=bs.pk).exists() if bs is not None else others.exists()

    artifact = forms.ArtifactForm(biosample, initial, partial, taken)
    if not artifact.is_valid():
        return _refuse(api_o, sample_id, artifact)

    before = biosample_struct(bs) if bs is not None else None
    created_sample = bs is None
    a = artifact.cleaned
    if bs is None:
        bs = models.BiosampleArtifact(artifact_kind="Biosample", revision=1, modified=timezone.now())
    for key, attr in ARTIFACT_COLUMNS.items():
        if key in a:
            value = a[key]
            setattr(bs, attr, value if attr in NULLABLE_COLUMNS else _text(value))
    bs.dice_name = bs.central_sample_id

    source = bs.primary_group  # kept unless a biosample_source_id is sent (Majora keeps it too)
    source_created = False
    source_id = biosample.get("biosample_source_id")
    if source_id:
        source, source_created = models.BiosampleSource.objects.get_or_create(
            dice_name=str(source_id), defaults={"source_type": initial["source_type"]}
        )

    proc = proc or models.BiosourceSamplingProcess()
    for key, attr in PROCESS_COLUMNS.items():
        if key in sampling.cleaned:
            value = sampling.cleaned[key]
            setattr(proc, attr, value if attr in NULLABLE_COLUMNS else _text(value))
    if proc.submission_user_id is None:
        profile = getattr(user, "profile", None)
        org = profile.institute if profile is not None else None
        proc.submission_org = org if org is not None and not org.code.startswith("?") else None
        proc.submission_user = user
    supplement = dict(proc.supplement or {})
    for key, value in supp.cleaned.items():
        if key == "is_surveillance":
            proc.is_surveillance = value
        elif key == "collection_pillar":
            proc.collection_pillar = value
        else:
            supplement[key] = value.isoformat() if isinstance(value, dt.date) else value
    proc.supplement = supplement
    proc.save()

    bs.primary_group = source
    bs.created = proc
    bs.save()
    try:
        with transaction.atomic():
            handle_metadata(biosample.get("metadata", {}), "artifact", bs, api_o)
            set_metrics(bs, biosample.get("metrics", {}), api_o)
    except Exception as exc:
        # Majora runs without a transaction: the sample stays saved, the error text is the message,
        # and the sample is listed neither as new nor as updated.
        log.info("biosample metadata or metrics not saved: %s", type(exc).__name__)
        api_o["errors"] += 1
        api_o["messages"].append(str(exc))
        return

    bs = models.BiosampleArtifact.objects.select_related("created", "primary_group").get(pk=bs.pk)
    if not created_sample and biosample_struct(bs) != before:
        models.BiosampleArtifact.objects.filter(pk=bs.pk).update(
            revision=bs.revision + 1, modified=timezone.now()
        )
    if created_sample:
        api_o["new"].append(format_tuple(bs))
    else:
        api_o["updated"].append(format_tuple(bs))
    if source_created:
        api_o["new"].append(format_tuple(source))


#: Artifact form field -> majora-lite column.
ARTIFACT_COLUMNS = {
    "central_sample_id": "central_sample_id",
    "root_sample_id": "root_sample_id",
    "sender_sample_id": "sender_sample_id",
    "anonymous_sample_id": "anonymous_sample_id",
    "sample_type_collected": "sample_type_collected",
    "sample_type_current": "sample_type_received",
    "sample_site": "swab_site",
    "root_biosample_source_id": "root_biosample_source_id",
}
#: Sampling process form field -> majora-lite column.
PROCESS_COLUMNS = {
    "collection_date": "collection_date",
    "received_date": "received_date",
    "source_age": "source_age",
    "source_sex": "source_sex",
    "collected_by": "collected_by",
    "collection_location_adm1": "collection_location_adm1",
    "collection_location_adm2": "collection_location_adm2",
    "private_collection_location_adm2": "private_collection_location_adm2",
    "collection_location_country": "collection_location_country",
}
NULLABLE_COLUMNS = {
    "anonymous_sample_id",
    "swab_site",
    "root_biosample_source_id",
    "collection_date",
    "received_date",
    "source_age",
}
