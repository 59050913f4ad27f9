"""Async tasks (Celery in Majora) run by a worker thread pool; results persisted in ``TatlTask``.

Also ``api/v2/majora/task/get/``, which hands a result out once. The task bodies live with the data they
read (``pag_tasks``, ``sequencing_tasks``, ``dataviews``), below this module; the views that start tasks
live above it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections, connection
from django.utils import timezone

from majora_lite.api import dataviews, pag_tasks, sequencing_tasks
from majora_lite.api.envelope import missing, v2
from majora_lite.api.state import REQUEST
from majora_lite.majora2 import models

log = logging.getLogger("majora_lite.tasks")
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lite-task")
        return _pool


def shutdown() -> None:
    """Stop the worker pool (pending tasks stay PENDING in the DB and are re-queued on next start)."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
            _pool = None


# Key under which a task's params carry the starting view's reply (kept out of the runners' params).
ENVELOPE_KEY = "_envelope"
# Key marking a task that a ``fail_task`` fault rule makes fail.
FAIL_KEY = "_fail"


class InjectedTaskFailure(RuntimeError):
    """Raised by a task that a ``fail_task`` fault rule marked."""


def submit(kind: str, params: dict, user, envelope: dict | None = None) -> str:
    """Record a PENDING task and queue it; returns the task id.

    ``envelope`` is the starting view's reply as it stands (Majora passes its ``api_o`` to the Celery task,
    which returns it with its own additions): the stored result, and so the task get reply that
    copies it, then carries that request's ``request`` uuid, counters and lists.
    """
    stored = dict(params)
    if envelope is not None:
        stored[ENVELOPE_KEY] = json.loads(json.dumps(envelope))  # a copy, as Celery serialises it
    if getattr(REQUEST, "fail_task", False):
        stored[FAIL_KEY] = True
    task = models.TatlTask.objects.create(kind=kind, params=stored, user=user)
    _executor().submit(run, str(task.id))
    return str(task.id)


def _into_envelope(envelope: dict, result: dict) -> dict:
    """The runner's result added to the starting reply as Majora's tasks add to their ``api_o``."""
    out = dict(envelope)
    for key, value in result.items():
        if key in ("errors", "warnings"):
            out[key] = out.get(key, 0) + value
        elif key in ("messages", "ignored", "new", "updated", "tasks"):  # Majora's tasks append to these
            out[key] = [*out.get(key, []), *value]
        else:
            out[key] = value
    return out


def _celery_json(value):
    """Encode what JSON cannot as Celery's JSON serializer (kombu) does for Majora's task results: a
    date becomes midnight of that day (``YYYY-MM-DDT00:00:00``), a UUID its string."""
    if isinstance(value, dt.datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day).isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def requeue_pending() -> int:
    """Re-queue tasks left PENDING by a previous server process."""
    ids = [
        str(t)
        for t in models.TatlTask.objects.filter(
            state="PENDING", result__isnull=True, cleaned=False
        ).values_list("id", flat=True)
    ]
    for tid in ids:
        _executor().submit(run, tid)
    return len(ids)


def run(task_id: str) -> None:
    """Worker body: compute, then store SUCCESS with the result or FAILURE."""
    close_old_connections()
    try:
        task = models.TatlTask.objects.get(pk=task_id)
        params = dict(task.params)
        envelope = params.pop(ENVELOPE_KEY, None)
        try:
            if params.pop(FAIL_KEY, False):
                raise InjectedTaskFailure("fail_task fault rule")
            result = runner(task.kind)(params)
            if envelope is not None:
                result = _into_envelope(envelope, result)
            state = "SUCCESS"
        except Exception as exc:  # a task failure is data, reported as FAILURE
            log.warning("task %s (%s) failed: %s", task_id, task.kind, type(exc).__name__)
            result = {"errors": 1, "messages": [f"Task failed: {type(exc).__name__}"]}
            state = "FAILURE"
        models.TatlTask.objects.filter(pk=task_id).update(
            state=state, result=json.dumps(result, default=_celery_json), finished=timezone.now()
        )
    except Exception:
        log.exception("task %s could not be run", task_id)
    finally:
        connection.close()


def read_once(task_id: str) -> tuple[str, dict | None]:
    """Majora's ``res.get()`` + ``res.forget()``: only one caller can take a SUCCESS result."""
    task = models.TatlTask.objects.filter(pk=task_id).first()
    if task is None or task.cleaned:
        return "PENDING", None
    if task.state != "SUCCESS":
        return task.state, None
    taken = models.TatlTask.objects.filter(pk=task_id, state="SUCCESS", cleaned=False).update(
        cleaned=True, result=None, state="PENDING"
    )
    if taken != 1:
        return "PENDING", None
    return "SUCCESS", json.loads(task.result or "{}")


# ---------------------------------------------------------------- task bodies


def task_mdv(params: dict) -> dict:
    """Majora's ``task_get_mdv_v3``: the rows of the objects the request selected."""
    return {"data": dataviews.rows(params["mdv"], params.get("ids", []))}


# Task kind -> body. Every body is imported with this module, so a task re-queued at start-up runs
# even before any view that starts one was imported.
RUNNERS: dict[str, Callable[[dict], dict]] = {
    "pag_v2": pag_tasks.task_pag_v2,
    "pagfiles": pag_tasks.task_pagfiles,
    "sequencing_all": sequencing_tasks.task_get_sequencing,
    "sequencing_faster": sequencing_tasks.task_get_sequencing_faster,
    "mdv": task_mdv,
}


def runner(kind: str) -> Callable[[dict], dict]:
    """The body of tasks of ``kind`` (KeyError for a kind nobody registered)."""
    return RUNNERS[kind]


# ---------------------------------------------------------------- task/get


@v2()
def get_task_result(request, api_o, json_data, user=None, partial=False):
    task_id = json_data.get("task_id")
    if not task_id:
        return missing(api_o, "task_id")
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
        state, result = read_once(task_id)
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

