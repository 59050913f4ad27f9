"""Majora's dataviews (MDV): the objects a view's filters select and its rows, in Majora's shape.

Definitions are loaded from Majora's ``data/mdv`` files by ``majora_lite.ops.dataview_defs``; the
``api/v3/mdv/`` view is ``v3.py`` and the task that renders the rows ``tasks.py``.
"""
from __future__ import annotations

from collections import defaultdict

from django.core.exceptions import FieldDoesNotExist
from django.db.models import CharField, Q, TextField

from majora_lite.majora2 import models

#: Views whose rows Majora builds in code rather than from the definition (``mdv_tasks``).
PHE1_FAST = "PHE1-FAST"
PHE1_AGREEMENT = "eng-sendersampleid-phe-1"
_SCALARS = {"str": str, "int": int, "float": float}
#: Majora's ORM paths on a biosample, as majora-lite's models spell them (the sampling process is
#: the biosample's ``created`` itself, its submitter is ``submission_user``; most COG-UK supplement
#: fields live in the process's ``supplement`` JSON).
_PREFIXES = (
    ("created__biosourcesamplingprocess__coguk_supp__is_surveillance", "created__is_surveillance"),
    ("created__biosourcesamplingprocess__coguk_supp__collection_pillar", "created__collection_pillar"),
    ("created__biosourcesamplingprocess__coguk_supp__", "created__supplement__"),
    ("created__biosourcesamplingprocess__", "created__"),
    ("created__who__", "created__submission_user__"),
)


def lite_path(path: str) -> str:
    """Majora's filter path on a biosample, rewritten for majora-lite's models."""
    for majora, lite in _PREFIXES:
        if path == majora or path.startswith(majora):
            return lite + path[len(majora) :]
    return path


def filter_value(flt: dict):
    """Majora's ``MajoraDataviewFilterField.get_filter_value``: the typed value of a filter."""
    kind, value = flt["type"], flt["value"]
    if kind == "list":
        out = []
        for entry in value.split(","):
            if not entry:
                continue
            entry_type, _, entry_value = entry.partition(":")
            if entry_type == "bool":
                out.append(bool(int(entry_value)))
            elif entry_type.lower() == "none":
                out.append(None)
            else:
                out.append(_SCALARS[entry_type](entry_value))
        return out
    if kind == "bool":
        return bool(int(value))
    return _SCALARS[kind](value)


def _is_text(path: str) -> bool:
    """Whether ``path`` ends on a text field of majora-lite's models (walked from BiosampleArtifact)."""
    model = models.BiosampleArtifact
    field = None
    for name in path.split("__"):
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            return False
        model = field.related_model
        if model is None:
            break
    return isinstance(field, CharField | TextField)


def filters_q(filters: list[dict]) -> Q:
    """All of a view's filters ANDed; an ``in`` list holding None also matches null (as Majora)."""
    q = Q()
    for flt in filters:
        value = filter_value(flt)
        path = lite_path(flt["field"])
        current = Q(**{f"{path}__{flt['op']}": value})
        if flt["op"] == "isnull" and _is_text(path):
            # majora-lite stores an unset text field as "" where Majora stores NULL.
            current = current | Q(**{path: ""}) if value else current & ~Q(**{path: ""})
        if flt["op"] == "in" and flt["type"] == "list" and None in value:
            current |= Q(**{f"{path}__isnull": True})
        q &= current
    return q


def selected_ids(mdv: models.MajoraDataviewDefinition) -> list[str]:
    """Ids of the entry point's objects the view's filters select, as Majora lists them per request.

    A filter through a to-many relation can list an object more than once; Majora counts those in
    ``expected_n`` and its task then reads each object once.
    """
    if mdv.entry_point != "BiosampleArtifact":
        return []  # majora-lite has no MajoraFact rows
    qs = models.BiosampleArtifact.objects.filter(filters_q(mdv.filters))
    return [str(pk) for pk in qs.values_list("id", flat=True)]


def _date(value) -> str | None:
    return value.strftime("%Y-%m-%d") if value else None


def _metadata(bs) -> dict:
    # Majora's v3 serializer lists every metadata record of the artifact.
    out: dict = {}
    for rec in bs.metadata.all():
        out.setdefault(rec.meta_tag, {})[rec.meta_name] = rec.value
    return out


#: What Majora's v3 serializers can show, per serializer model name, as majora-lite has the data.
ARTIFACT_FIELDS = {
    "id": lambda bs: str(bs.id),
    "dice_name": lambda bs: bs.dice_name,
    "artifact_kind": lambda bs: bs.artifact_kind,
    "published_as": lambda bs: ",".join(p.published_name for p in bs.pags.all() if p.is_latest),
    "metadata": _metadata,
    "central_sample_id": lambda bs: bs.central_sample_id,
    "sender_sample_id": lambda bs: bs.sender_sample_id or None,
    "root_sample_id": lambda bs: bs.root_sample_id or None,
}
PROCESS_FIELDS = {
    "who": lambda p: p.submission_user.username if p.submission_user else None,
    "collection_date": lambda p: _date(p.collection_date),
    "received_date": lambda p: _date(p.received_date),
    "source_age": lambda p: p.source_age,
    "source_sex": lambda p: p.source_sex,
    "adm0": lambda p: p.collection_location_country,
    "adm1": lambda p: p.collection_location_adm1,
    "adm2": lambda p: p.collection_location_adm2,
    "private_collection_location_adm2": lambda p: p.private_collection_location_adm2,
    "submission_org": lambda p: p.submission_org_id,
    "submission_org_code": lambda p: p.submission_org.code if p.submission_org else None,
}
SUPPLEMENT_FIELDS = {"is_surveillance": lambda p: p.is_surveillance}


def _pick(table: dict, wanted: set[str], obj) -> dict:
    return {name: get(obj) for name, get in table.items() if name in wanted}


def render(bs, wanted: dict[str, set[str]]) -> dict:
    """One row in the shape of Majora's v3 serializers: the selected fields of the artifact, and its
    ``created`` process (always present, tagged ``process_model``) with the selected process fields."""
    row = _pick(ARTIFACT_FIELDS, wanted["BiosampleArtifact"], bs)
    process = bs.created
    if process is None:
        row["created"] = None
        return row
    created = _pick(PROCESS_FIELDS, wanted["BiosourceSamplingProcess"], process)
    if process.submission_user_id is None:
        # The empty process of an identifier added without metadata: Majora's fields are all null.
        created = dict.fromkeys(created)
    if "coguk_supp" in wanted["BiosourceSamplingProcess"]:
        created["coguk_supp"] = _pick(
            SUPPLEMENT_FIELDS, wanted["COGUK_BiosourceSamplingProcessSupplement"], process
        )
    created["process_model"] = "BiosourceSamplingProcess"
    row["created"] = created
    return row


def _phe1_fast_rows() -> list[dict]:
    # Majora builds PHE1-FAST's rows in code: PHE1's selection with adm1 added, without the definition.
    qs = (
        models.BiosampleArtifact.objects.filter(
            created__collection_location_adm1="UK-ENG",
            created__submission_user__profile__agreements__agreement__slug=PHE1_AGREEMENT,
            created__submission_user__profile__agreements__is_terminated=False,
        )
        .select_related("created")
        .order_by("central_sample_id")
    )
    return [
        {
            "central_sample_id": bs.central_sample_id,
            "created": {
                "adm1": bs.created.collection_location_adm1,
                "collection_date": _date(bs.created.collection_date),
                "process_model": "BiosourceSamplingProcess",
                "received_date": _date(bs.created.received_date),
            },
            "sender_sample_id": bs.sender_sample_id,
        }
        for bs in qs
    ]


def rows(code: str, ids: list[str]) -> list[dict]:
    """The rows of dataview ``code`` for the objects ``ids`` selected when the view was requested."""
    mdv = models.MajoraDataviewDefinition.objects.get(code_name=code)
    if mdv.code_name == PHE1_FAST:
        return _phe1_fast_rows()
    if mdv.entry_point != "BiosampleArtifact":
        return []
    wanted: dict[str, set[str]] = defaultdict(set)
    for model_name, field in mdv.fields:
        wanted[model_name].add(field)
    qs = (
        models.BiosampleArtifact.objects.filter(id__in=ids)
        .select_related("created", "created__submission_user", "created__submission_org")
        .prefetch_related("metadata", "pags")
        .order_by("central_sample_id")
    )
    return [render(bs, wanted) for bs in qs]
