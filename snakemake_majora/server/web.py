"""HTML pages: login, Majora's out-of-band OAuth callback page, v3 dataview endpoint."""

from __future__ import annotations

import json
import uuid

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.oauth2_backends import get_oauthlib_core

from snakemake_majora.server import tasks
from snakemake_majora.server.majora2 import models
from snakemake_majora.server.state import COUNTERS

DENIED = "You do not have permission to perform this action."


def index(request):
    return HttpResponse("majora-lite\n", content_type="text/plain")


@login_required
def oauth2_callback(request):
    """Majora's ``tatl.views.oauth2_callback``: show the full callback URL to paste into a CLI."""
    return render(
        request,
        "majora2/authorized-oob.html",
        {
            "full_uri": request.build_absolute_uri(),
            "code": request.GET.get("code", ""),
            "state": request.GET.get("state", ""),
            "error": request.GET.get("error", ""),
        },
    )


def _forbidden(detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=403)


@csrf_exempt
def mdv_v3(request):
    """``GET api/v3/mdv/?mdv=CODE`` (DRF in Majora): bearer only, scope + dataview grant, 403 otherwise."""
    COUNTERS.inc("api_calls")
    if request.method != "GET":
        return JsonResponse({"detail": f'Method "{request.method}" not allowed.'}, status=405)
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
    task_id = tasks.submit("mdv", {"mdv": code}, user)
    expected = models.BiosampleArtifact.objects.filter(created__submission_user__isnull=False).count()
    body = {
        "response_uuid": str(uuid.uuid4()),
        "errors": 0,
        "params": {"mdv": code},
        "expected_n": expected,
        "tasks": [task_id],
        "messages": [
            "This is an experimental API and can change at any time.",
            "Call api.majora.task.get with the appropriate task ID later...",
            "`expected_n` value will be incorrect for FAST views",
        ],
    }
    return HttpResponse(json.dumps(body), content_type="application/json")
