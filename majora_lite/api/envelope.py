"""Majora's v2 API envelope (``wrap_api_v2``) and the v2 endpoints majora-lite serves."""

from __future__ import annotations

import functools
import json
import logging
import uuid
from typing import Any

from django.db import transaction
from django.http import HttpResponse, HttpResponseBadRequest
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from majora_lite.api import biosamples as bsmod
from majora_lite.api import tasks
from majora_lite.api.state import COUNTERS
from majora_lite.majora2 import models

log = logging.getLogger("majora_lite.api")
MINIMUM_CLIENT_VERSION = "0.44.0"
TASK_MESSAGE = "Call api.majora.task.get with the appropriate task ID later..."


def _json(api_o: dict) -> HttpResponse:
    return HttpResponse(json.dumps(api_o), content_type="application/json")


def _key_user(json_data: dict, permission: str | None):
    """Legacy API key path; returns the user or None (-> 400)."""
    now = timezone.now()
    token, username = json_data.get("token"), json_data.get("username")
    if not isinstance(token, str) or not isinstance(username, str):
        return None
    key = (
        models.ProfileAPIKey.objects.select_related("profile__user")
        .filter(
            key=token,
            profile__user__username=username,
            was_revoked=False,
            validity_start__lt=now,
            validity_end__gt=now,
        )
        .first()
    )
    if key is None:
        return None
    user = key.profile.user
    if permission and (not user.has_perm(permission) or key.permission != permission):
        return None
    return user


def v2(
    oauth_permission: str | None = None,
    permission: str | None = None,
    oauth_only: bool = False,
    partial: bool = False,
    get: bool = False,
):
    """Decorate ``f(request, api_o, json_data, user, partial)`` with Majora's v2 envelope.

    ``get=True`` is Majora's GET interface (v0): the query string stands for the body and only OAuth
    bearers are accepted. An exception raised by the view is not caught: the answer is a 500, as Majora's.
    """

    def deco(f):
        @csrf_exempt
        @functools.wraps(f)
        def view(request, *args, **kwargs):
            COUNTERS.inc("api_calls")
            api_o: dict[str, Any] = {
                "errors": 0,
                "warnings": 0,
                "messages": [],
                "tasks": [],
                "new": [],
                "updated": [],
                "ignored": [],
                "request": str(uuid.uuid4()),
            }
            if get:
                if request.method != "GET":
                    return HttpResponseBadRequest()
                json_data = request.GET
            else:
                if request.method != "POST":
                    return HttpResponseBadRequest()
                try:
                    json_data = json.loads(request.body)
                except (ValueError, RecursionError):
                    return HttpResponseBadRequest()
                if not isinstance(json_data, dict):
                    # Majora calls json_data.get() on whatever JSON was sent: a list, string or number
                    # raises there, so its answer is a 500.
                    raise AttributeError(f"'{type(json_data).__name__}' object has no attribute 'get'")
                if not json_data.get("token") or not json_data.get("username"):
                    return HttpResponseBadRequest()

            oauth = bool(getattr(request, "lite_oauth", False))
            if oauth:
                scopes = oauth_permission.split(" ") if oauth_permission else []
                # Majora verifies the bearer a second time with the view's scopes. The middleware already
                # verified it with none, so only the scope check is left; it is made on the same token
                # (one database read per request fewer). The one observable difference: a token deleted
                # by a refresh in the microseconds between Majora's two checks is not reported here.
                token = request.lite_access_token
                if scopes and not token.allow_scopes(scopes):
                    api_o["messages"].append(
                        "Your token is valid but does not have all of the scopes to perform this action. "
                        f"Required scopes: {oauth_permission}"
                    )
                    api_o["errors"] += 1
                    return _json(api_o)
                user = request.user
            elif oauth_only or get:
                return HttpResponseBadRequest()
            else:
                user = _key_user(json_data, permission)
                if user is None:
                    return HttpResponseBadRequest()
            profile = getattr(user, "profile", None) if user is not None else None
            if profile is None or not user.is_active or profile.is_revoked:
                return HttpResponseBadRequest()

            sudo_as = json_data.get("sudo_as")
            if sudo_as:
                if not user.has_perm("majora2.can_sudo_as_other_user") or not isinstance(sudo_as, str):
                    return HttpResponseBadRequest()
                other = models.Profile.objects.select_related("user").filter(user__username=sudo_as).first()
                if other is None:
                    return HttpResponseBadRequest()
                user = other.user

            bad = False
            if json_data.get("client_name") == "ocarina":
                try:
                    server_version = tuple(int(x) for x in MINIMUM_CLIENT_VERSION.split("."))
                    # Majora calls .split on the value: a number is as nonsensical as a bad string.
                    client_version = tuple(int(x) for x in json_data["client_version"].split("."))
                    if client_version < server_version:
                        api_o["messages"].append(
                            f"Update your 'ocarina' client to version v{MINIMUM_CLIENT_VERSION}"
                        )
                        api_o["errors"] += 1
                        bad = True
                except (KeyError, ValueError, AttributeError):
                    api_o["messages"].append(
                        "It appears you are using 'ocarina', but your version number doesn't "
                        "make sense... This shouldn't happen..."
                    )
                    api_o["errors"] += 1
                    bad = True
            if not bad:
                f(request, api_o, json_data, user=user, partial=partial)
            api_o["success"] = api_o["errors"] == 0
            return _json(api_o)

        return view

    return deco


def _missing(api_o: dict, key: str) -> None:
    api_o["messages"].append(f"'{key}' key missing or empty")
    api_o["errors"] += 1


def _str_list(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        return [str(v) for v in value]
    return None


# ---------------------------------------------------------------- biosamples


@v2()
def get_biosample(request, api_o, json_data, user=None, partial=False):
    sample_id = json_data.get("central_sample_id")
    if not sample_id:
        return _missing(api_o, "central_sample_id")
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
    api_o["get"] = {sample_id: artifact.as_struct()}


@v2()
def biosample_query_validity(request, api_o, json_data, user=None, partial=False):
    biosamples = json_data.get("biosamples", {})
    if not biosamples:
        _missing(api_o, "biosamples")
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
        _missing(api_o, "biosamples")
        return None
    if not isinstance(biosamples, list):
        api_o["errors"] += 1
        api_o["messages"].append("'biosamples' appears malformed")
        return None
    return biosamples


def _biosample_add(request, api_o, json_data, user=None, partial=False):
    biosamples = json_data.get("biosamples", {})
    if not biosamples:
        _missing(api_o, "biosamples")
    # As Majora: any iterable is walked (each non-dict entry is reported), a number raises (500).
    for biosample in biosamples:
        bsmod.save_biosample(biosample, user=user, partial=partial, api_o=api_o)


add_biosample = v2(
    oauth_permission=(
        "majora2.add_biosampleartifact majora2.change_biosampleartifact majora2.add_biosamplesource "
        "majora2.change_biosamplesource majora2.add_biosourcesamplingprocess "
        "majora2.change_biosourcesamplingprocess"
    )
)(_biosample_add)
update_biosample = v2(
    oauth_permission=(
        "majora2.change_biosampleartifact majora2.add_biosamplesource majora2.change_biosamplesource "
        "majora2.change_biosourcesamplingprocess"
    ),
    partial=True,
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
            _missing(api_o, "central_sample_id")
            continue
        sid = str(sid)
        with transaction.atomic():
            if anon and not bsmod.addempty_anonymous_id_ok(sid, anon, user, api_o):
                continue
            bs, created = bsmod.new_empty_biosample(sid)
            if anon and anon != bs.anonymous_sample_id:
                bs.anonymous_sample_id = anon
                bs.save(update_fields=["anonymous_sample_id"])
            if created:
                api_o["new"].append(bsmod.format_tuple(bs))
                # Majora tags only a sample it has just created; a malformed metadata raises (500).
                bsmod.handle_metadata(meta, "artifact", bs, api_o)
            else:
                api_o["ignored"].append(bsmod.format_tuple(bs))
                api_o["warnings"] += 1
            # Majora sets sender_sample_id only on samples whose sampling was never filled (adm1 empty).
            if sender and not bs.created.collection_location_adm1 and bs.sender_sample_id != str(sender):
                bs.sender_sample_id = str(sender)
                bs.revision += 1
                bs.modified = timezone.now()
                bs.save(update_fields=["sender_sample_id", "revision", "modified"])
                if not created:
                    api_o["updated"].append(bsmod.format_tuple(bs))


# ---------------------------------------------------------------- tags and tasks
# (metrics: metrics.py; QC: qc.py; files: files.py; PAGs and summaries: pags.py)


@v2()
def add_tag(request, api_o, json_data, user=None, partial=False):
    # Majora's meta/tag/add needs no scope; with no artifact, group or process it does nothing.
    for kind in ("artifact", "group", "process"):
        if json_data.get(kind):
            bsmod.handle_metadata(json_data.get("metadata", {}), kind, json_data.get(kind), api_o)
            return


@v2()
def get_task_result(request, api_o, json_data, user=None, partial=False):
    task_id = json_data.get("task_id")
    if not task_id:
        return _missing(api_o, "task_id")
    task_id = str(task_id)
    try:
        uuid.UUID(task_id)
        tatl_task = models.TatlTask.objects.filter(pk=task_id).first()
    except ValueError:
        tatl_task = None
    if tatl_task is None:
        api_o["messages"].append(
            "Task does not exist: it may not have been added to the Task Database yet..."
        )
        api_o["warnings"] += 1
    state = "PENDING" if tatl_task is None or tatl_task.cleaned else tatl_task.state
    cleaned = False
    if state == "SUCCESS":
        if tatl_task.user_id != user.pk:
            api_o["messages"].append(
                "You do not have permission to read this task result as your are not the task owner"
            )
            api_o["errors"] += 1
            api_o["task"] = {"id": task_id, "state": "PERMISSION_DENIED"}
            return
        state, result = tasks.read_once(task_id)
        if result is not None:
            api_o.update(result)
            cleaned = True
        else:
            api_o["warnings"] += 1
            api_o["messages"].append("Task is not (yet) SUCCESS...")
    else:
        api_o["warnings"] += 1
        api_o["messages"].append("Task is not (yet) SUCCESS...")
    api_o["task"] = {"id": task_id, "state": state, "cleaned": cleaned}
