"""Majora's v3 API (Django REST framework in Majora): ``GET api/v3/mdv/?mdv=CODE``, a dataview's rows as a
task."""

from __future__ import annotations

import json
import uuid

from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.oauth2_backends import get_oauthlib_core

from majora_lite.api import dataviews, tasks
from majora_lite.api.state import COUNTERS
from majora_lite.majora2 import models

DENIED = "You do not have permission to perform this action."


def _forbidden(detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=403)


@csrf_exempt
def mdv_v3(request):
    """``GET api/v3/mdv/?mdv=CODE`` (DRF in Majora): bearer only, scope + dataview grant, 403 otherwise."""
    COUNTERS.inc("api_calls")
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header.lower().startswith("bearer "):
        return _forbidden("Authentication credentials were not provided.")
    core = get_oauthlib_core()
    valid, r = core.verify_request(request, scopes=[])
    if not valid:
        return _forbidden("Authentication credentials were not provided.")
    user = r.user
    profile = getattr(user, "profile", None)
    code = request.GET.get("mdv", "")
    now = timezone.now()
    granted = (
        profile is not None
        and code
        and models.MajoraDataviewUserPermission.objects.filter(
            profile=profile,
            dataview__code_name=code,
            is_revoked=False,
            validity_start__lt=now,
            validity_end__gt=now,
        ).exists()
    )
    if not granted:
        return _forbidden(DENIED)
    valid, _r = core.verify_request(request, scopes=["majora2.can_read_dataview_via_api"])
    if not valid:
        return _forbidden(DENIED)
    # DRF checks authentication and permissions before it looks for the method's handler.
    if request.method != "GET":
        return JsonResponse({"detail": f'Method "{request.method}" not allowed.'}, status=405)
    # As Majora, the objects are selected now and the task renders them (``expected_n`` counts them).
    mdv = models.MajoraDataviewDefinition.objects.get(code_name=code)
    ids = dataviews.selected_ids(mdv)
    task_id = tasks.submit("mdv", {"mdv": code, "ids": ids}, user)
    expected = len(ids)
    body = {
        "response_uuid": str(uuid.uuid4()),
        "errors": 0,
        "params": {key: request.GET[key] for key in request.GET},  # DRF's query_params, last values
        "expected_n": expected,
        "tasks": [task_id],
        "messages": [
            "This is an experimental API and can change at any time.",
            "Call api.majora.task.get with the appropriate task ID later...",
            "`expected_n` value will be incorrect for FAST views",
        ],
    }
    return HttpResponse(json.dumps(body), content_type="application/json")

