"""Majora's v0 API: ``GET api/v0/artifact/info/?q=`` (basic information on any artifact)."""

from __future__ import annotations

import os
import uuid

from snakemake_majora.server.api import v2
from snakemake_majora.server.majora2 import models


def _find(query: str) -> models.MajoraArtifact | None:
    """Majora's lookup order: id, dice name, ``node://path`` of a file, then a unique dice-name substring."""
    try:
        found = models.MajoraArtifact.objects.filter(id=uuid.UUID(query)).first()
    except ValueError:
        found = None
    found = found or models.MajoraArtifact.objects.filter(dice_name=query).first()
    if found is None and "://" in query:
        parts = query.split("://")
        if len(parts) == 2:
            path = f"/{parts[1]}"
            found = models.DigitalResourceArtifact.objects.filter(current_path=path).first()
    if found is None:
        fuzzy = list(models.MajoraArtifact.objects.filter(dice_name__contains=query)[:2])
        if len(fuzzy) == 1:
            found = fuzzy[0]
    return found


def artifact_info_struct(artifact: models.MajoraArtifact) -> dict:
    """Majora's ``MajoraArtifact.info``: id, kind, name, path and the flat ``tag.name`` metadata."""
    resource = getattr(artifact, "digitalresourceartifact", None)
    name, path = artifact.dice_name, ""
    if resource is not None:
        # A file is named by its file name and located by its path (Majora: the directory groups' path).
        path = resource.current_path
        name = getattr(resource, "current_name", None) or os.path.basename(resource.current_path)
    metadata = {
        f"{rec.meta_tag}.{rec.meta_name}": rec.value for rec in artifact.metadata.all() if not rec.restricted
    }
    return {
        "id": str(artifact.id),
        "kind": artifact.artifact_kind,
        "name": name,
        "path": path,
        "metadata": metadata,
    }


@v2(oauth_permission="majora2.view_majoraartifact_info", get=True)
def artifact_info(request, api_o, json_data, user=None, partial=False):
    """``api.artifact.info`` (v0): OAuth only, query in the ``q`` GET parameter."""
    query = request.GET.get("q", "")
    if not query:
        api_o["messages"].append("'q' GET param missing or empty")
        api_o["errors"] += 1
        return
    api_o["info"] = {}
    artifact = _find(query)
    if artifact is None:
        api_o["errors"] += 1
        api_o["messages"].append("No artifact for query.")
        return
    api_o["info"] = artifact_info_struct(artifact)
