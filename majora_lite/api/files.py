"""Digital resources: ``api/v2/artifact/file/add/``, ``api/v2/group/mag/get/`` and nodes/directories (admin).

Majora's semantics: a file lives on a node (the ``node_name`` of the request, else the uploader's
institute code, created on first use) in a directory. The directory is looked up by its *hard
path* (only directories made by an administrator, ``add-node --path``, have one); when there is
none the answer says "MAG not found from hard path" and a chain of directory groups without a hard
path is found or made under the node, so the same path names the same file again. Source artifacts
make a bioinformatics process (one per ``pipe_hook``); ``publish_group`` files the file and its
``bridge_artifact`` into a PAG owned by the process's user.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from majora_lite.api import tags
from majora_lite.api.envelope import format_tuple, v2
from majora_lite.api.metrics import INT, clean_number
from majora_lite.majora2 import models

RESOURCE_TYPES = ["file", "reads", "alignment", "consensus"]

#: TestFileForm's text fields: name -> (max_length, required), in the form's field order.
TEXT_FIELDS = {
    "publish_group": (128, False),
    "pipe_hook": (256, True),
    "pipe_kind": (64, False),
    "pipe_name": (96, False),
    "pipe_version": (48, False),
    "path": (1024, True),
    "sep": (2, True),
    "current_name": (512, True),
    "current_fext": (48, True),
    "current_hash": (64, True),
}
EMPTY_VALUES = (None, "", [], (), {})


def _err(message: str, code: str) -> list[dict]:
    return [{"message": message, "code": code}]


def _names(value: Any) -> list[str] | None:
    """A ModelMultipleChoiceField's names; None when the value is not a list (Django's "list" error)."""
    if value in EMPTY_VALUES:
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else None


def _choices(data: dict, key: str, model, errors: dict) -> list:
    """A multiple-choice field of dice names as Django's ModelMultipleChoiceField cleans it: the known
    objects in request order (each once); a non-list or an unknown name is the field's error."""
    names = _names(data.get(key))
    if names is None:
        errors[key] = _err("Enter a list of values.", "list")
        return []
    found = {o.dice_name: o for o in model.objects.filter(dice_name__in=names)}
    missing = [n for n in names if n not in found]
    if missing:
        errors[key] = _err(
            f"Select a valid choice. {missing[0]} is not one of the available choices.", "invalid_choice"
        )
    return [found[n] for n in dict.fromkeys(names) if n in found]


def _clean_file_form(data: dict) -> tuple[dict, dict]:
    """Validate a file/add body as Majora's TestFileForm; returns (cleaned, errors in field order)."""
    cleaned: dict = {}
    errors: dict = {}
    bridge = data.get("bridge_artifact")
    if bridge in EMPTY_VALUES:
        cleaned["bridge_artifact"] = None
    else:
        cleaned["bridge_artifact"] = models.MajoraArtifact.objects.filter(dice_name=str(bridge)).first()
        if cleaned["bridge_artifact"] is None:
            errors["bridge_artifact"] = _err(
                "Select a valid choice. That choice is not one of the available choices.", "invalid_choice"
            )
    cleaned["source_artifact"] = _choices(data, "source_artifact", models.MajoraArtifact, errors)
    cleaned["source_group"] = _choices(data, "source_group", models.DigitalResourceGroup, errors)
    for key, (max_length, required) in TEXT_FIELDS.items():
        if key == "pipe_kind":
            _clean_uuid(data, cleaned, errors)
        if key == "path":
            _clean_node(data, cleaned, errors)
        value = data.get(key)
        if value in EMPTY_VALUES:
            if required:
                errors[key] = _err("This field is required.", "required")
            cleaned[key] = ""
            continue
        value = str(value).strip()
        if len(value) > max_length:
            errors[key] = _err(
                f"Ensure this value has at most {max_length} characters (it has {len(value)}).", "max_length"
            )
        elif not value and required:
            errors[key] = _err("This field is required.", "required")
        cleaned[key] = value
    size = data.get("current_size")
    if size in EMPTY_VALUES:
        errors["current_size"] = _err("This field is required.", "required")
    else:
        cleaned["current_size"], err = clean_number(INT, size)
        if err:
            errors["current_size"] = err
    kind = data.get("resource_type")
    if kind in EMPTY_VALUES:
        errors["resource_type"] = _err("This field is required.", "required")
    elif str(kind) not in RESOURCE_TYPES:
        errors["resource_type"] = _err(
            f"Select a valid choice. {kind} is not one of the available choices.", "invalid_choice"
        )
    cleaned["resource_type"] = str(kind) if kind is not None else ""
    return cleaned, errors


def _clean_uuid(data: dict, cleaned: dict, errors: dict) -> None:
    raw = data.get("artifact_uuid")
    cleaned["artifact_uuid"] = None
    if raw not in EMPTY_VALUES:
        try:
            cleaned["artifact_uuid"] = uuid.UUID(str(raw).strip())
        except ValueError:
            errors["artifact_uuid"] = _err("Enter a valid UUID.", "invalid")


def _clean_node(data: dict, cleaned: dict, errors: dict) -> None:
    node = data.get("node_name")
    cleaned["node_name"] = None
    if node not in EMPTY_VALUES:
        cleaned["node_name"] = models.DigitalResourceNode.objects.filter(node_name=str(node)).first()
        if cleaned["node_name"] is None:
            errors["node_name"] = _err(
                "Select a valid choice. That choice is not one of the available choices.", "invalid_choice"
            )


def _split(path: str, sep: str) -> list[str]:
    parts = path.split(sep)
    if path.startswith(sep):
        parts = parts[1:]
    if path.endswith(sep):
        parts = parts[:-1]
    return parts


def find_mag(node_name: str, path: str, sep: str = "/", artifact: bool = False):
    """The directory with this hard path on the node, or None (Majora's get_mag by hard path)."""
    node = models.DigitalResourceNode.objects.filter(node_name=node_name).first()
    if node is None:
        return None
    if not path:
        # Majora's util.get_mag reads path[0] once the node is found: a bare NODE:// fails there (500).
        raise IndexError("string index out of range")
    parts = _split(path, sep)
    if artifact:
        parts = parts[:-1]
    return models.DigitalResourceGroup.objects.filter(root_node=node, group_path=sep.join(parts)).first()


def make_node(node_name: str) -> tuple[models.DigitalResourceNode, bool]:
    """Find or make a digital resource node."""
    return models.DigitalResourceNode.objects.get_or_create(node_name=node_name)


def make_mag(
    node: models.DigitalResourceNode, path: str, sep: str = "/"
) -> list[models.DigitalResourceGroup]:
    """Make the hard-path directories of ``path`` on the node (Majora's mkmag); returns them root first."""
    parts = [p for p in _split(path, sep) if p]
    parent = None
    made = []
    for i, name in enumerate(parts):
        group_path = sep.join(parts[: i + 1])
        group = models.DigitalResourceGroup.objects.filter(root_node=node, group_path=group_path).first()
        if group is None:
            group = models.DigitalResourceGroup.objects.create(
                group_path=group_path, current_name=name, root_node=node, parent_group=parent, physical=True
            )
        parent = group
        made.append(group)
    return made


def add_node(node_name: str, paths: list[str] | None = None, sep: str = "/") -> dict:
    """Admin: a node and, optionally, hard-path directories on it (what a lab's pipeline writes into)."""
    if not node_name or "://" in node_name:
        raise ValueError("a node name must be non-empty and must not contain '://'")
    with transaction.atomic():
        node, created = make_node(node_name)
        dirs = [make_mag(node, p, sep)[-1] for p in paths or [] if _split(p, sep)]
    return {
        "node_name": node.node_name,
        "id": str(node.id),
        "created": created,
        "directories": [f"{node.node_name}://{sep}{d.group_path}" for d in dirs],
    }


def _directory(node, path: str, sep: str, api_o: dict):
    """The file's directory: the hard-path MAG, else Majora's name chain under the node (None = node)."""
    parent = find_mag(node.node_name, path, sep=sep, artifact=True)
    if parent is not None:
        return parent
    api_o["messages"].append("MAG not found from hard path")
    parent = None
    for name in path.split(sep)[1:-1]:
        # Majora looks directories up by name, parent and node only: a hard-path directory (add-node)
        # of that name is reused, so a file below it hangs under it.
        parent, _ = models.DigitalResourceGroup.objects.get_or_create(
            current_name=name, root_node=node, parent_group=parent, physical=True
        )
    return parent


def save_file(cleaned: dict, user, api_o: dict) -> models.DigitalResourceArtifact:
    """Majora's handle_testdigitalresource: the file, its process, its PAG; fills ``new``/``updated``."""
    node = cleaned["node_name"]
    path, sep = cleaned["path"], cleaned["sep"]
    group = _directory(node, path, sep, api_o)
    where = {"primary_group": group} if group is not None else {"primary_group": None, "primary_node": node}
    if cleaned["artifact_uuid"]:
        res, created = models.DigitalResourceArtifact.objects.get_or_create(
            id=cleaned["artifact_uuid"], defaults={"artifact_kind": "Digital Resource"}
        )
        res.primary_group = group
        res.primary_node = None if group is not None else node
    else:
        res = models.DigitalResourceArtifact.objects.filter(
            current_name=cleaned["current_name"], current_extension=cleaned["current_fext"], **where
        ).first()
        created = res is None
        if created:
            res = models.DigitalResourceArtifact(artifact_kind="Digital Resource", **where)
    res.current_name = cleaned["current_name"]
    res.current_extension = cleaned["current_fext"]
    changed = res.current_hash != cleaned["current_hash"] or res.current_size != cleaned["current_size"]
    res.dice_name = str(res.id)
    res.current_path = path
    res.current_hash = cleaned["current_hash"]
    res.current_size = cleaned["current_size"]
    res.current_kind = cleaned["resource_type"]
    if created and res.owner_id is None:
        res.owner = user
    res.save()

    if cleaned["source_group"] or cleaned["source_artifact"]:
        bio, b_created = models.AbstractBioinformaticsProcess.objects.get_or_create(
            hook_name=cleaned["pipe_hook"]
        )
        bio.who = user  # the uploading user, not the sequencing submitter (as Majora)
        bio.when = timezone.now()
        if b_created:
            bio.pipe_kind = cleaned["pipe_kind"] or "Pipeline"
            bio.pipe_name = cleaned["pipe_name"]
            bio.pipe_version = cleaned["pipe_version"]
        bio.save()
        for sg in cleaned["source_group"]:
            rec, _ = models.ArtifactProcessRecord.objects.get_or_create(
                process=bio, in_group=sg, out_artifact=res
            )
            rec.bridge_artifact = cleaned["bridge_artifact"]
            rec.save()
        for sa in cleaned["source_artifact"]:
            rec, _ = models.ArtifactProcessRecord.objects.get_or_create(
                process=bio, in_artifact=sa, out_artifact=res
            )
            rec.bridge_artifact = cleaned["bridge_artifact"]
            rec.save()
        if created:
            res.created = bio
            res.save(update_fields=["created"])

    if cleaned["publish_group"]:
        if res.created is None:
            # Majora reads res.created.who here; a file made without sources has no process.
            raise AttributeError("'NoneType' object has no attribute 'who'")
        owner = res.created.who
        pag = models.PublishedArtifactGroup.objects.filter(
            published_name=cleaned["publish_group"], published_version=1, is_latest=True, owner=owner
        ).first()
        pag_created = pag is None
        if pag_created:
            profile = getattr(owner, "profile", None)
            pag = models.PublishedArtifactGroup.objects.create(
                published_name=cleaned["publish_group"],
                published_version=1,
                is_latest=True,
                owner=owner,
                owner_org=profile.institute if profile else None,
            )
        if not pag.published_date:
            pag.published_date = timezone.now().date()
            pag.save(update_fields=["published_date"])
        pag.tagged_artifacts.add(res)
        bridge = cleaned["bridge_artifact"]
        if bridge is not None:
            pag.tagged_artifacts.add(bridge)
        if pag_created:
            api_o["new"].append(format_tuple(pag))
            if bridge is not None:
                api_o["updated"].append(format_tuple(bridge))
        if not created:
            api_o["updated"].append(format_tuple(res))

    if created:
        api_o["new"].append(format_tuple(res))
    elif changed:
        api_o["updated"].append(format_tuple(res))
    return res


@v2(oauth_permission="majora2.add_digitalresourceartifact majora2.change_digitalresourceartifact")
def add_file(request, api_o, json_data, user=None, partial=False):
    """``api/v2/artifact/file/add/``: register a file (and its PAG) as Majora's add_digitalresource."""
    if not json_data.get("node_name") and user is not None and getattr(user, "profile", None) is not None:
        # Majora files an upload without a node under the uploader's institute code, made on first use.
        node, _ = make_node(user.profile.institute.code)
        json_data["node_name"] = node.node_name
    cleaned, errors = _clean_file_form(json_data)
    if errors:
        api_o["errors"] += 1
        api_o["messages"].append(errors)
        return
    try:
        with transaction.atomic():
            res = save_file(cleaned, user, api_o)
            tags.set_metadata(res, json_data.get("metadata", {}), api_o)
    except Exception as exc:  # Majora's view reports any failure of the file handler as an error
        api_o["errors"] += 1
        api_o["messages"].append(str(exc))


def _lite(group) -> dict | None:
    if group is None:
        return None
    if isinstance(group, models.DigitalResourceNode):
        return {"id": str(group.id), "name": group.node_name, "group_kind": group.kind, "group_path": None}
    return {
        "id": str(group.id),
        "name": group.current_name,
        "group_kind": group.kind,
        "group_path": group.group_path,
    }


def mag_struct(mag: models.DigitalResourceGroup) -> dict:
    """A directory as Majora's MAGSerializer: itself, parent, root node, child directories.

    Majora lists each child's *tagged* artifacts (and the directory's tagged groups as ``hlinks``);
    file/add files a file under its directory without tagging it, so these lists are empty here too.
    """
    parent = mag.parent_group or mag.root_node
    return {
        **_lite(mag),
        "parent_group": _lite(parent),
        "root_group": _lite(mag.root_node),
        "children": [
            {**_lite(child), "artifacts": []} for child in mag.children.all().order_by("current_name")
        ],
        "hlinks": [],
        "slinks": [],
    }


@v2()
def get_mag(request, api_o, json_data, user=None, partial=False):
    """``api/v2/group/mag/get/``: a hard-path directory as ``NODE://path``."""
    path = json_data.get("path")
    if not path or "://" not in path:
        api_o["messages"].append("'path' key missing, empty or malformed")
        api_o["errors"] += 1
        return
    node_name, path = path.split("://")  # two '://' raise here, as in Majora
    mag = find_mag(node_name, path)
    if mag is None:
        api_o["messages"].append("Invalid path.")
        api_o["errors"] += 1
        return
    counts = (mag.children.count(), mag.files.count())
    if max(counts) > 100 and not json_data.get("force"):
        api_o["messages"].append("This MAG contains more than 100 groups or artifacts.")
        api_o["error_code"] = f"BIGMAG:{max(counts)}"
        api_o["errors"] += 1
        return
    api_o["mag"] = mag_struct(mag)
