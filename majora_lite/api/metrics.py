"""Artifact metrics: Majora's sequence, mapping and tile-mapping forms and ``api/v2/meta/metric/add/``.

Majora validates each namespace with a ModelForm over its metric model; the fields, which are required,
their types and the error texts below are those forms' (Django's IntegerField/FloatField messages).
"""

from __future__ import annotations

import math
import re
from typing import Any

from django.db import transaction

from majora_lite.api.envelope import format_tuple, v2
from majora_lite.majora2 import models

INT, FLOAT = "int", "float"

#: namespace -> [(field, type, required, min_value)], in the model's declaration order (the order
#: of the keys in a form's error dictionary).
FORMS: dict[str, list[tuple[str, str, bool]]] = {
    "sequence": [
        ("num_seqs", INT, True),
        ("num_bases", INT, True),
        ("pc_acgt", FLOAT, True),
        ("pc_masked", FLOAT, True),
        ("pc_invalid", FLOAT, True),
        ("longest_gap", INT, False),
        ("longest_ungap", INT, False),
    ],
    "mapping": [
        ("num_pos", INT, True),
        ("num_maps", INT, False),
        ("num_unmaps", INT, False),
        ("median_cov", FLOAT, False),
        ("mean_cov", FLOAT, False),
        *[(f"pc_pos_cov_gte{n}", FLOAT, False) for n in (1, 5, 10, 20, 50, 100, 200)],
    ],
    "tile-mapping": [
        ("n_tiles", INT, True),
        *[(f"pc_tiles_medcov_gte{n}", FLOAT, True) for n in (1, 5, 10, 20, 50, 100, 200)],
    ],
}

EMPTY_VALUES = (None, "", [], (), {})
# Django's IntegerField accepts "12.0" (it strips a zero fraction before int()).
_ZERO_FRACTION = re.compile(r"\.0*\s*$")


def _error(message: str, code: str) -> list[dict]:
    return [{"message": message, "code": code}]


def clean_number(kind: str, value: Any) -> tuple[Any, list[dict] | None]:
    """One value as Django's IntegerField (min 0) or FloatField cleans it: (value, errors)."""
    if kind == INT:
        try:
            if isinstance(value, bool):
                raise ValueError
            number = int(_ZERO_FRACTION.sub("", str(value)))
        except (TypeError, ValueError):
            return None, _error("Enter a whole number.", "invalid")
        if number < 0:
            return None, _error("Ensure this value is greater than or equal to 0.", "min_value")
        return number, None
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        return None, _error("Enter a number.", "invalid")
    if not math.isfinite(number):
        return None, _error("Enter a number.", "invalid")
    return number, None


def validate(namespace: str, body: dict) -> tuple[dict, dict]:
    """Clean one namespace's body: (model values, errors as Django's ``get_json_data``)."""
    data: dict = {}
    errors: dict = {}
    for field, kind, required in FORMS[namespace]:
        value = body.get(field)
        if value in EMPTY_VALUES:
            if required:
                errors[field] = _error("This field is required.", "required")
            data[field] = None
            continue
        data[field], err = clean_number(kind, value)
        if err:
            errors[field] = err
    return data, errors


def add_artifact_metrics(artifact: models.MajoraArtifact, metrics: dict, api_o: dict) -> None:
    """Validate and store each namespace as Majora's add_metrics loop does (one ``updated`` per namespace)."""
    for namespace in metrics:
        body = metrics[namespace]
        if not isinstance(body, dict):
            # Majora writes the artifact id into the body before looking at the namespace: a body
            # that is not an object makes the view fail (500), whatever the namespace.
            raise TypeError(f"metrics.{namespace} must be an object")
        if namespace not in FORMS:
            api_o["ignored"].append(namespace)
            api_o["messages"].append(f"'{namespace}' does not describe a valid metric")
            api_o["warnings"] += 1
            continue
        data, errors = validate(namespace, body)
        if errors:
            api_o["errors"] += 1
            api_o["ignored"].append(namespace)
            api_o["messages"].append(errors)
            continue
        # update_or_create keeps the row (and its id) of a namespace sent again, as Majora's form
        # with instance= does; the PAG task relies on that order.
        models.TemporaryMajoraArtifactMetric.objects.update_or_create(
            artifact=artifact, namespace=namespace, defaults={"data": data}
        )
        api_o["updated"].append(format_tuple(artifact))


def _find_artifact(artifact: Any, artifact_path: Any) -> models.MajoraArtifact | None:
    if artifact:
        found = list(models.MajoraArtifact.objects.filter(dice_name=artifact)[:2])
        # Majora uses .get(): two artifacts with one name count as none found.
        return found[0] if len(found) == 1 else None
    if artifact_path:
        return models.DigitalResourceArtifact.objects.filter(current_path=artifact_path).first()
    return None


@v2()
def add_metrics(request, api_o, json_data, user=None, partial=False):
    """``api/v2/meta/metric/add/``: metrics of one artifact named by dice name or by file path."""
    artifact = json_data.get("artifact", "")
    artifact_path = json_data.get("artifact_path", "")
    if not artifact and not artifact_path:
        api_o["messages"].append("'artifact' or 'artifact_path' key missing or empty")
        api_o["errors"] += 1
        return
    metrics = json_data.get("metrics", {})
    a = _find_artifact(artifact, artifact_path)
    if a is None:
        api_o["ignored"].append([artifact, artifact_path])
        api_o["errors"] += 1
        return
    with transaction.atomic():
        add_artifact_metrics(a, metrics, api_o)
