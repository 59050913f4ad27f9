"""Metadata tags (Majora's ``handle_metadata``): ``api/v2/meta/tag/add/`` and the tags biosample, library
and file adds carry."""

from __future__ import annotations

import uuid
from typing import Any

from majora_lite.api import forms
from majora_lite.api.envelope import v2
from majora_lite.majora2 import models

#: Metadata tags Majora never shows (fixed_data.RESTRICTED_METADATA).
RESTRICTED_METADATA = ["investigation"]


NO_TARGET = "You must provide one 'artifact', 'group' or 'process' to attach metadata to"


BAD_CHOICE = "Select a valid choice. That choice is not one of the available choices."


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


def _process_id_error(value: Any) -> dict | None:
    """Django's UUIDField message for a ``process`` that is no UUID (Majora's form looks processes up by
    their UUID primary key, and that lookup's own error reaches the answer before the choice check)."""
    if not isinstance(value, (str, int, float)):
        return None
    try:
        uuid.UUID(int=value) if isinstance(value, int) else uuid.UUID(hex=value)  # type: ignore[arg-type]
    except (AttributeError, ValueError, TypeError):
        return {"message": f"'{value}' is not a valid UUID.", "code": "invalid"}
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
                bad_id = _process_id_error(target) if kind == "process" else None
                choice = {"message": BAD_CHOICE, "code": "invalid_choice"}
                errors.setdefault(kind, []).append(bad_id or choice)
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


def set_metadata(artifact: models.MajoraArtifact, metadata: Any, api_o: dict) -> None:
    """Tag ``artifact`` with ``metadata`` (``handle_metadata`` on an artifact already looked up)."""
    handle_metadata(metadata if metadata is not None else {}, "artifact", artifact, api_o)



@v2()
def add_tag(request, api_o, json_data, user=None, partial=False):
    # Majora's meta/tag/add needs no scope; with no artifact, group or process it does nothing.
    for kind in ("artifact", "group", "process"):
        if json_data.get(kind):
            handle_metadata(json_data.get("metadata", {}), kind, json_data.get(kind), api_o)
            return

