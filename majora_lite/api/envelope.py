"""Majora's v2 API envelope (``wrap_api_v2``) and the reply helpers every endpoint module shares.

The endpoints live in one module per area, as Majora groups them: biosamples, sequencing, files,
metrics, qc, pags, tags, tasks, v0 and v3 (dataviews).
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from typing import Any

from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseNotAllowed
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

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


#: What Django's View answers in ``Allow`` for a view with only ``post`` (and View's own ``options``).
CLASS_VIEW_METHODS = "POST, OPTIONS"


def v2(
    oauth_permission: str | None = None,
    permission: str | None = None,
    oauth_only: bool = False,
    partial: bool = False,
    get: bool = False,
    class_view: bool = False,
):
    """Decorate ``f(request, api_o, json_data, user, partial)`` with Majora's v2 envelope.

    ``class_view=True``: Majora serves the endpoint with a Django class-based ``View`` that has only
    ``post`` (biosample add and update), so any other method is answered by Django's dispatch before the
    envelope: 405 with an empty body (OPTIONS: 200, empty), not the envelope's 400.

    ``get=True`` is Majora's GET interface (v0): the query string stands for the body and only OAuth
    bearers are accepted. An exception raised by the view is not caught: the answer is a 500, as Majora's.
    """

    def deco(f):
        @csrf_exempt
        @functools.wraps(f)
        def view(request, *args, **kwargs):
            if class_view and request.method != "POST":
                if request.method == "OPTIONS":
                    return HttpResponse(headers={"Allow": CLASS_VIEW_METHODS, "Content-Length": "0"})
                return HttpResponseNotAllowed(CLASS_VIEW_METHODS.split(", "))
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


def missing(api_o: dict, key: str) -> None:
    """Majora's reply to a required key that is absent or empty."""
    api_o["messages"].append(f"'{key}' key missing or empty")
    api_o["errors"] += 1


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
        return ["Biosample Source", str(obj.uuid), obj.dice_name]
    if isinstance(obj, models.AbstractBioinformaticsProcess):
        return [obj.kind, str(obj.id), ""]  # a process: no name, as every Majora process
    if isinstance(obj, models.DigitalResourceNode):
        return [obj.kind, str(obj.id), obj.node_name]
    if isinstance(obj, models.DigitalResourceGroup):
        return [obj.kind, str(obj.id), obj.dice_name]
    return [type(obj).__name__, str(getattr(obj, "pk", "")), ""]

