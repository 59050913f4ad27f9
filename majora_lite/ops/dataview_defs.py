"""Dataview (MDV) definitions: Majora's ``data/mdv`` file format read and loaded, agreements signed.

A definition file has the view's code, name, description and entry point model on its first four
lines, then ``MF<TAB>Model<TAB>field`` lines (the fields a row shows, per serializer model) and
``FF<TAB>path<TAB>op<TAB>type<TAB>value`` lines (Django filters on the entry point, all ANDed).
Other lines are ignored, as Majora's ``load_dataview`` ignores them.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import FieldError
from django.db import transaction
from django.utils import timezone

from majora_lite.api.dataviews import filters_q
from majora_lite.majora2 import models
from majora_lite.ops.admin import AdminError, read_lines

#: Entry points majora-lite can select from. MajoraFact is the dummy entry point of PHE1-FAST.
ENTRY_POINTS = ("BiosampleArtifact", "MajoraFact")
FILTER_TYPES = ("str", "int", "float", "bool", "list")



def parse(path: str | Path) -> dict:
    """Read a definition file; raises AdminError (65) naming the line that is wrong."""
    head: list[str] = []
    fields: list[list[str]] = []
    filters: list[dict] = []
    for number, raw in enumerate(read_lines(path, "dataview file"), 1):
        cols = raw.strip().split("\t")
        if number <= 4:
            head.append(cols[0].strip())
            continue
        if cols[0] == "MF":
            if len(cols) < 3 or not cols[1] or not cols[2]:
                raise AdminError(f"{path}, line {number}: expected 'MF<TAB>Model<TAB>field'", 65)
            fields.append([cols[1], cols[2]])
        elif cols[0] == "FF":
            if len(cols) < 5 or not all(cols[1:4]):
                raise AdminError(
                    f"{path}, line {number}: expected 'FF<TAB>path<TAB>op<TAB>type<TAB>value'", 65
                )
            field, op, kind, value = cols[1:5]
            if kind not in FILTER_TYPES:
                raise AdminError(
                    f"{path}, line {number}: filter type {kind!r} is not one of {', '.join(FILTER_TYPES)}", 65
                )
            if kind == "bool":
                value = {"true": "1", "false": "0"}.get(value.lower(), value)
            flt = {"field": field, "op": op, "type": kind, "value": value}
            _check_filter(flt, f"{path}, line {number}")
            filters.append(flt)
    if len(head) < 4 or not head[0] or not head[3]:
        raise AdminError(
            f"{path}: the first four lines must be the view's code, name, description and entry point", 65
        )
    code, name, description, entry_point = head
    if entry_point not in ENTRY_POINTS:
        raise AdminError(
            f"{path}: entry point {entry_point!r} is not one majora-lite serves "
            f"({', '.join(ENTRY_POINTS)})",
            65,
        )
    if filters and entry_point != "BiosampleArtifact":
        raise AdminError(f"{path}: filters need the BiosampleArtifact entry point", 65)
    return {
        "code_name": code,
        "name": name,
        "description": description or name,
        "entry_point": entry_point,
        "fields": fields,
        "filters": filters,
    }


def _check_filter(flt: dict, where: str) -> None:
    try:
        str(models.BiosampleArtifact.objects.filter(filters_q([flt])).query)
    except (ValueError, KeyError):
        raise AdminError(f"{where}: value {flt['value']!r} is not a valid {flt['type']}", 65) from None
    except FieldError:
        raise AdminError(
            f"{where}: majora-lite cannot filter biosamples on {flt['field']}__{flt['op']}", 65
        ) from None


def load(path: str | Path) -> dict:
    """Load (or replace) the dataview a definition file describes; returns a summary."""
    spec = parse(path)
    with transaction.atomic():
        mdv, created = models.MajoraDataviewDefinition.objects.update_or_create(
            code_name=spec["code_name"], defaults={k: v for k, v in spec.items() if k != "code_name"}
        )
    return {
        "mdv": mdv.code_name,
        "created": created,
        "entry_point": mdv.entry_point,
        "fields": len(mdv.fields),
        "filters": len(mdv.filters),
    }


def sign_agreement(username: str, slug: str) -> dict:
    """Record that ``username`` signed agreement ``slug`` (PHE1 selects samples of signatories)."""
    profile = models.Profile.objects.filter(user__username=username).first()
    if profile is None:
        raise AdminError(f"no user {username!r} with a profile; create it with 'adduser' first", 66)
    agreement, _ = models.ProfileAgreementDefinition.objects.get_or_create(slug=slug)
    models.ProfileAgreement.objects.get_or_create(
        profile=profile,
        agreement=agreement,
        is_terminated=False,
        defaults={"signature_timestamp": timezone.now()},
    )
    return {"username": username, "agreement": slug}

