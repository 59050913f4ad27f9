"""Biosamples: ``api/v2/artifact/biosample/`` get, query/validity, add, update and addempty, with Majora's
rules and the ct metrics a biosample add carries."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import string
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from majora_lite.api import forms, structs, tags
from majora_lite.api import metrics as metric_forms
from majora_lite.api.envelope import format_tuple, missing, v2
from majora_lite.majora2 import models

log = logging.getLogger("majora_lite.biosample")
ZANA_DISABLED = (
    "ZANA has not been enabled to issue the anonymous_sample_id. "
    "If you wish to enable this behaviour, contact a system administrator."
)


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


def set_metrics(artifact: models.MajoraArtifact, metrics: Any, api_o: dict) -> None:
    """Majora's ``handle_metrics`` of biosample/add: ``ct`` here, the other namespaces as meta/metric/add.

    The request is indexed as Majora's loop does, so a malformed ``metrics`` raises the same Python error.
    """
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
        defaults={"data": {"num_tests": 0, "min_ct": 0.0, "max_ct": 0.0, "records": []}},
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
        metric.data = {"num_tests": 0, "min_ct": 0.0, "max_ct": 0.0, "records": recs}
        metric.save(update_fields=["data"])
        return
    cts = [r["ct_value"] for r in recs]
    metric.data = {
        "num_tests": len(recs),
        "min_ct": min(cts) if cts else 0.0,
        "max_ct": max(cts) if cts else 0.0,
        "records": recs,
    }
    metric.save(update_fields=["data"])


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

    before = structs.biosample_struct(bs) if bs is not None else None
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
            tags.handle_metadata(biosample.get("metadata", {}), "artifact", bs, api_o)
            set_metrics(bs, biosample.get("metrics", {}), api_o)
    except Exception as exc:
        # Majora runs without a transaction: the sample stays saved, the error text is the message,
        # and the sample is listed neither as new nor as updated.
        log.info("biosample metadata or metrics not saved: %s", type(exc).__name__)
        api_o["errors"] += 1
        api_o["messages"].append(str(exc))
        return

    bs = models.BiosampleArtifact.objects.select_related("created", "primary_group").get(pk=bs.pk)
    if not created_sample and structs.biosample_struct(bs) != before:
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


@v2()
def get_biosample(request, api_o, json_data, user=None, partial=False):
    sample_id = json_data.get("central_sample_id")
    if not sample_id:
        return missing(api_o, "central_sample_id")
    # Majora looks the dice name up among all artifacts and reports the error of calling None.as_struct().
    name = str(sample_id) if isinstance(sample_id, (str, int, float)) else None
    artifact = None
    if name is not None:
        artifact = (
            models.BiosampleArtifact.objects.filter(dice_name=name)
            .select_related("created__submission_org", "created__submission_user", "primary_group")
            .prefetch_related("metadata", "metrics", "pags")
            .first()
        ) or models.MajoraArtifact.objects.filter(dice_name=name).first()
    if artifact is None:
        api_o["errors"] += 1
        api_o["messages"].append("'NoneType' object has no attribute 'as_struct'")
        return
    api_o["get"] = {sample_id: structs.artifact_struct(artifact)}


@v2()
def biosample_query_validity(request, api_o, json_data, user=None, partial=False):
    biosamples = json_data.get("biosamples", {})
    if not biosamples:
        missing(api_o, "biosamples")
    api_o["result"] = {}
    # Majora iterates whatever was sent (a string's characters, a dict's keys); a number raises (500).
    for sid in biosamples:
        found = models.BiosampleArtifact.objects.select_related("created").filter(central_sample_id=str(sid))
        bs = found.first() if sid is not None else None  # Majora's filter on None matches no sample
        api_o["result"][sid] = {
            "central_sample_id": bs.central_sample_id if bs else None,
            "exists": bs is not None,
            "has_sender_id": bool(bs and bs.sender_sample_id),
            "has_metadata": bool(bs and bs.created and bs.created.collection_location_country),
        }


def _biosample_list(api_o, json_data) -> list | None:
    """The body's ``biosamples`` list, or None after reporting it missing or malformed as Majora does."""
    biosamples = json_data.get("biosamples")
    if not biosamples:
        missing(api_o, "biosamples")
        return None
    if not isinstance(biosamples, list):
        api_o["errors"] += 1
        api_o["messages"].append("'biosamples' appears malformed")
        return None
    return biosamples


def _biosample_add(request, api_o, json_data, user=None, partial=False):
    biosamples = json_data.get("biosamples", {})
    if not biosamples:
        missing(api_o, "biosamples")
    # As Majora: any iterable is walked (each non-dict entry is reported), a number raises (500).
    for biosample in biosamples:
        save_biosample(biosample, user=user, partial=partial, api_o=api_o)


add_biosample = v2(
    oauth_permission=(
        "majora2.add_biosampleartifact majora2.change_biosampleartifact majora2.add_biosamplesource "
        "majora2.change_biosamplesource majora2.add_biosourcesamplingprocess "
        "majora2.change_biosourcesamplingprocess"
    ),
    class_view=True,  # Majora's BiosampleArtifactEndpointView
)(_biosample_add)


update_biosample = v2(
    oauth_permission=(
        "majora2.change_biosampleartifact majora2.add_biosamplesource majora2.change_biosamplesource "
        "majora2.change_biosourcesamplingprocess"
    ),
    partial=True,
    class_view=True,
)(_biosample_add)


@v2(
    permission="majora2.force_add_biosampleartifact",
    oauth_only=True,
    oauth_permission=(
        "majora2.force_add_biosampleartifact majora2.add_biosampleartifact majora2.change_biosampleartifact "
        "majora2.add_biosourcesamplingprocess majora2.change_biosourcesamplingprocess"
    ),
)
def addempty_biosample(request, api_o, json_data, user=None, partial=False):
    biosamples = _biosample_list(api_o, json_data)
    for item in biosamples or []:
        sender = anon = None
        meta: Any = {}
        try:
            if isinstance(item, dict):
                sid = item["central_sample_id"]
                sender, anon = item.get("sender_sample_id"), item.get("anonymous_sample_id")
                meta = item.get("metadata", {})
            elif isinstance(item, str):
                sid = item
            else:
                raise TypeError
        except (KeyError, TypeError):
            api_o["warnings"] += 1
            api_o["messages"].append("'biosamples' appears malformed")
            continue
        if not sid:
            missing(api_o, "central_sample_id")
            continue
        sid = str(sid)
        with transaction.atomic():
            if anon and not addempty_anonymous_id_ok(sid, anon, user, api_o):
                continue
            bs, created = new_empty_biosample(sid)
            if anon and anon != bs.anonymous_sample_id:
                bs.anonymous_sample_id = anon
                bs.save(update_fields=["anonymous_sample_id"])
            if created:
                api_o["new"].append(format_tuple(bs))
                # Majora tags only a sample it has just created; a malformed metadata raises (500).
                tags.handle_metadata(meta, "artifact", bs, api_o)
            else:
                api_o["ignored"].append(format_tuple(bs))
                api_o["warnings"] += 1
            # Majora sets sender_sample_id only on samples whose sampling was never filled (adm1 empty).
            if sender and not bs.created.collection_location_adm1 and bs.sender_sample_id != str(sender):
                bs.sender_sample_id = str(sender)
                bs.revision += 1
                bs.modified = timezone.now()
                bs.save(update_fields=["sender_sample_id", "revision", "modified"])
                if not created:
                    api_o["updated"].append(format_tuple(bs))

