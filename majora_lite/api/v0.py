"""Majora's v0 API: ``GET api/v0/artifact/info/?q=`` (basic information on any artifact)."""

from __future__ import annotations

import os
import uuid

from majora_lite.api.envelope import v2
from majora_lite.majora2 import models


def _find(query: str) -> models.MajoraArtifact | None:
    """Majora's lookup order: id, dice name, ``node://path`` of a file, then a unique dice-name substring."""
    try:
        found = models.MajoraArtifact.objects.filter(id=uuid.UUID(query)).first()
    except ValueError:
        found = None
    found = found or models.MajoraArtifact.objects.filter(dice_name=query).first()
    if found is None and "://" in query:
        found = _find_file(query)
    if found is None:
        fuzzy = list(models.MajoraArtifact.objects.filter(dice_name__contains=query)[:2])
        if len(fuzzy) == 1:
            found = fuzzy[0]
    return found


def _find_file(query: str) -> models.DigitalResourceArtifact | None:
    """Majora's ``node://path``: walk the node's directory groups by name, then the file by its path.

    Majora prefixes the part after ``://`` with ``/`` (so ``node:///abs`` looks for a directory named
    ``""`` and finds nothing) and finds no file that sits right on the node (its walk needs a directory).
    """
    parts = query.split("://")
    if len(parts) != 2:
        return None
    node = models.DigitalResourceNode.objects.filter(node_name=parts[0]).first()
    path = f"/{parts[1]}"
    names = path.split("/")[1:]
    if path.endswith("/"):
        names = names[:-1]
    names = names[:-1]  # the file name
    if node is None or not names:
        return None
    parent = None
    for name in names:
        groups = models.DigitalResourceGroup.objects.filter(root_node=node, parent_group=parent)
        found = list(groups.filter(current_name=name)[:2])
        if len(found) != 1:  # Majora's .get() fails on none and on several
            return None
        parent = found[0]
    files = list(models.DigitalResourceArtifact.objects.filter(primary_group=parent, current_path=path)[:2])
    return files[0] if len(files) == 1 else None


def file_path(resource: models.DigitalResourceArtifact) -> str:
    """Majora's ``DigitalResourceArtifact.path``: the directory names from the node, then the file name.

    Majora's node is the top group and names itself ``NODE:/`` in a path, so a file in ``/a/b`` on node
    N is ``N://a/b/file`` (what ``info`` looks up again); a file right on the node is ``N/file``.
    """
    group = resource.primary_group
    if group is None:
        if resource.primary_node is not None:
            return f"{resource.primary_node.node_name}/{resource.current_name}"
        return f"?/.../{resource.current_name}"
    names, node = [], None
    while group is not None:
        names.append(group.current_name or "")
        node = group.root_node or node
        group = group.parent_group
    if node is not None:
        names.append(f"{node.node_name}:/")
    return "/".join(reversed(names)) + "/" + resource.current_name


def artifact_info_struct(artifact: models.MajoraArtifact) -> dict:
    """Majora's ``MajoraArtifact.info``: id, kind, name, path and the flat ``tag.name`` metadata."""
    resource = getattr(artifact, "digitalresourceartifact", None)
    name, path = artifact.dice_name, ""
    if resource is not None:
        # A file is named by its file name and located by its directory groups (Majora's ``path``).
        path = file_path(resource)
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
