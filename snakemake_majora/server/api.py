"""Majora's v2 API envelope (``wrap_api_v2``) and the v2 endpoints majora-lite serves."""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import uuid
from typing import Any

from django.db import transaction
from django.http import HttpResponse, HttpResponseBadRequest
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from snakemake_majora.server import biosample as bsmod
from snakemake_majora.server import tasks
from snakemake_majora.server.majora2 import models
from snakemake_majora.server.state import COUNTERS

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


# ---------------------------------------------------------------- libraries and sequencing

LIBRARY_FIELDS = {
    "library_layout_config": ("layout_config", ["SINGLE", "PAIRED"]),
    "library_seq_kit": ("seq_kit", None),
    "library_seq_protocol": ("seq_protocol", None),
}
LIBRARY_RECORD_FIELDS = [
    "library_source",
    "library_selection",
    "library_strategy",
    "library_protocol",
    "library_primers",
]


def _int_or_error(api_o: dict, field: str, value: Any) -> tuple[bool, int | None]:
    if value in (None, ""):
        return True, None
    try:
        if isinstance(value, bool):
            raise ValueError
        return True, int(value)
    except (TypeError, ValueError):
        api_o["errors"] += 1
        api_o["messages"].append({field: [{"message": "Enter a whole number.", "code": "invalid"}]})
        return False, None


@v2(
    oauth_permission=(
        "majora2.add_biosampleartifact majora2.change_biosampleartifact majora2.add_libraryartifact "
        "majora2.change_libraryartifact majora2.add_librarypoolingprocess "
        "majora2.change_librarypoolingprocess"
    )
)
def add_library(request, api_o, json_data, user=None, partial=False):
    library_name = json_data.get("library_name")
    if not library_name:
        return _missing(api_o, "library_name")
    biosamples = json_data.get("biosamples", [])
    if not biosamples:
        return _missing(api_o, "biosamples")
    if (
        not isinstance(biosamples, list)
        or not isinstance(library_name, str)
        or not all(isinstance(b, dict) for b in biosamples)
    ):
        api_o["errors"] += 1
        api_o["messages"].append("'biosamples' appears malformed")
        return
    errors: dict = {}
    values: dict = {}
    for key, (attr, choices) in LIBRARY_FIELDS.items():
        v = json_data.get(key)
        if v in (None, ""):
            errors.setdefault(key, []).append({"message": "This field is required.", "code": "required"})
        elif choices and str(v).upper() not in choices:
            errors.setdefault(key, []).append(
                {
                    "message": f"Select a valid choice. {v} is not one of the available choices.",
                    "code": "invalid_choice",
                }
            )
        else:
            values[attr] = str(v).upper() if choices else str(v)[:48]
    for key in ("library_layout_read_length", "library_layout_insert_length"):
        ok, n = _int_or_error(api_o, key, json_data.get(key))
        if not ok:
            api_o["ignored"].append(library_name)
            return
        values[key.replace("library_", "")] = n
    if errors:
        api_o["errors"] += 1
        api_o["ignored"].append(library_name)
        api_o["messages"].append(errors)
        return
    with transaction.atomic():
        lib = models.LibraryArtifact.objects.filter(dice_name=library_name).first()
        created = lib is None
        if created:
            lib = models.LibraryArtifact(dice_name=library_name, artifact_kind="Library", owner=user)
        for attr, v in values.items():
            setattr(lib, attr, v)
        lib.save()
        (api_o["new"] if created else api_o["updated"]).append(bsmod.format_tuple(lib))
        bsmod._set_metadata(lib, json_data.get("metadata"), api_o)
        samples = {}
        missing = False
        forced = False
        for rec in biosamples:
            sid = rec.get("central_sample_id")
            if not sid or not isinstance(sid, str):
                missing = True
                api_o["ignored"].append(sid)
                api_o["errors"] += 1
                continue
            if json_data.get("force_biosamples"):
                bs, bcreated = bsmod.new_empty_biosample(sid)
                if bcreated:
                    api_o["new"].append(bsmod.format_tuple(bs))
                    api_o["warnings"] += 1
                    forced = True
            else:
                bs = models.BiosampleArtifact.objects.filter(central_sample_id=sid).first()
                if bs is None:
                    missing = True
                    api_o["ignored"].append(sid)
                    api_o["errors"] += 1
                    continue
            samples[sid] = bs
        if missing:
            api_o["messages"].append(
                "At least one Biosample in your Library was not registered. "
                "No samples have been added to this "
                "Library. Register the missing samples, or remove them from your request and try again."
            )
            return
        if forced:
            api_o["messages"].append(
                "You forced the creation of at least one Biosample. This sample will be ignored by CLIMB "
                "pipelines and reports until its metadata has been registered."
            )
        for rec in biosamples:
            defaults = {k: str(rec.get(k) or "")[:48] for k in LIBRARY_RECORD_FIELDS}
            received = rec.get("sequencing_org_received_date")
            if received:
                try:
                    defaults["sequencing_org_received_date"] = bsmod.parse_date(received)
                except ValueError:
                    api_o["errors"] += 1
                    api_o["ignored"].append(rec["central_sample_id"])
                    api_o["messages"].append(
                        {
                            "sequencing_org_received_date": [
                                {"message": "Enter a valid date.", "code": "invalid"}
                            ]
                        }
                    )
                    continue
            models.LibraryPoolingProcess.objects.update_or_create(
                library=lib, biosample=samples[rec["central_sample_id"]], defaults=defaults
            )


def _parse_dt(value: Any) -> dt.datetime | None:
    if value in (None, ""):
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(str(value), fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    raise ValueError(value)


@v2(
    oauth_permission="majora2.change_libraryartifact majora2.add_dnasequencingprocess "
    "majora2.change_dnasequencingprocess"
)
def add_sequencing(request, api_o, json_data, user=None, partial=False):
    library_name = json_data.get("library_name")
    if not library_name:
        return _missing(api_o, "library_name")
    runs = json_data.get("runs", {})
    if not runs:
        return _missing(api_o, "runs")
    if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
        api_o["errors"] += 1
        api_o["messages"].append("'runs' appears malformed")
        return
    lib = models.LibraryArtifact.objects.filter(dice_name=str(library_name)).first()
    if lib is None:
        api_o["messages"].append(
            {
                "library_name": [
                    {
                        "message": (
                            f"Could not add sequencing to Library {library_name} as it does not exist. "
                            "Check and fix errors in "
                            "your library fields and resubmit."
                        ),
                        "code": "",
                    }
                ]
            }
        )
        api_o["errors"] += 1
        return
    profile = getattr(user, "profile", None)
    for run in runs:
        run_name = run.get("run_name") or run.get("sequencing_id")
        errors: dict = {}
        if not run_name:
            errors["run_name"] = [{"message": "This field is required.", "code": "required"}]
        if not run.get("instrument_make"):
            errors["instrument_make"] = [{"message": "This field is required.", "code": "required"}]
        if not run.get("instrument_model"):
            errors["instrument_model"] = [{"message": "This field is required.", "code": "required"}]
        times = {}
        for key in ("start_time", "end_time"):
            try:
                times[key] = _parse_dt(run.get(key))
            except ValueError:
                errors[key] = [{"message": "Enter a valid date/time.", "code": "invalid"}]
        seq_id = None
        if run.get("sequencing_id"):
            try:
                seq_id = uuid.UUID(str(run["sequencing_id"]))
            except ValueError:
                seq_id = None
        if errors:
            api_o["errors"] += 1
            api_o["messages"].append(errors)
            continue
        fields = {
            k: str(run.get(k) or "")[:96]
            for k in (
                "instrument_make",
                "instrument_model",
                "flowcell_type",
                "flowcell_id",
                "bioinfo_pipe_name",
                "bioinfo_pipe_version",
            )
        }
        with transaction.atomic():
            proc, created = models.DNASequencingProcess.objects.update_or_create(
                run_name=str(run_name)[:128],
                defaults={
                    **fields,
                    **times,
                    "library": lib,
                    "sequencing_id": seq_id,
                    "run_group": str(json_data.get("run_group") or "")[:128],
                    "submission_user": user,
                    "submission_org": profile.institute if profile else None,
                },
            )
        (api_o["new"] if created else api_o["updated"]).append(bsmod.format_tuple(proc))


@v2()
def get_sequencing(request, api_o, json_data, user=None, partial=False):
    run_names = json_data.get("run_name")
    if not run_names:
        return _missing(api_o, "run_name")
    names = _str_list(run_names)
    if names is None:
        api_o["errors"] += 1
        api_o["messages"].append("'run_name' appears malformed")
        return
    if names == ["*"]:
        if not user.has_perm("majora2.can_wildcard_sequencing_runs"):
            # Majora's view returns a 400 object that wrap_api_v2 ignores: 200 with no 'get'.
            return
        api_o["tasks"].append(tasks.submit("sequencing_all", {}, user, envelope=api_o))
        api_o["messages"].append(TASK_MESSAGE)
        # No return here: Majora's view falls through to the per-name loop, so "*" itself is looked up
        # as a run name and the reply also carries warnings=1, ignored=["*"] and an empty get={}.
    runs = {}
    found = {
        r.run_name: r
        for r in models.DNASequencingProcess.objects.filter(run_name__in=names).select_related(
            "library", "submission_org", "submission_user"
        )
    }
    for name in names:
        proc = found.get(name)
        if proc is None:
            api_o["warnings"] += 1
            api_o["ignored"].append(name)
            continue
        runs[name] = proc.as_struct()
    api_o["get"] = runs


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
