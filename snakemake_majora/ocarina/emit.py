"""Ocarina's request step on the project's single API path: body, stderr dump and exit codes.

Every request goes through :meth:`MajoraClient.raw_request` (token gate, lock, retries); this module only
shapes the body as Ocarina does and prints and exits as Ocarina does.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

from .. import __version__
from ..client import CLIENT_NAME, MajoraClient, TaskFailed, TaskPending
from ..errors import (
    EX_DATAERR,
    EX_NOPERM,
    EX_SOFTWARE,
    EX_TEMPFAIL,
    EX_UNAVAILABLE,
    EX_USAGE,
    MajoraError,
    RefusedError,
)
from ..logsafe import redact


@dataclass(frozen=True)
class Endpoint:
    """A Majora endpoint as Ocarina calls it (``version`` 0 and 3 need ``--oauth``)."""

    path: str
    method: str = "POST"
    version: int = 2
    read: bool = False


BIOSAMPLE_ADD = Endpoint("api/v2/artifact/biosample/add/")
BIOSAMPLE_UPDATE = Endpoint("api/v2/artifact/biosample/update/")
BIOSAMPLE_ADDEMPTY = Endpoint("api/v2/artifact/biosample/addempty/")
LIBRARY_ADD = Endpoint("api/v2/artifact/library/add/")
SEQUENCING_ADD = Endpoint("api/v2/process/sequencing/add/")
FILE_ADD = Endpoint("api/v2/artifact/file/add/")
TAG_ADD = Endpoint("api/v2/meta/tag/add/")
METRIC_ADD = Endpoint("api/v2/meta/metric/add/")
QC_ADD = Endpoint("api/v2/meta/qc/add/")
ACCESSION_ADD = Endpoint("api/v2/pag/accession/add/")
PAG_SUPPRESS = Endpoint("api/v2/group/pag/suppress/")
TASK_DELETE = Endpoint("api/v2/majora/task/delete/")
BIOSAMPLE_GET = Endpoint("api/v2/artifact/biosample/get/", read=True)
VALIDITY_GET = Endpoint("api/v2/artifact/biosample/query/validity/", read=True)
SEQUENCING_GET = Endpoint("api/v2/process/sequencing/get/", read=True)
SEQUENCING_GET2 = Endpoint("api/v2/process/sequencing/get2/", read=True)
PAG_QC_GET = Endpoint("api/v2/pag/qc/get/", read=True)
SUMMARY_GET = Endpoint("api/v2/majora/summary/get/", read=True)
OUTBOUND_SUMMARY_GET = Endpoint("api/v2/outbound/summary/get/", read=True)
TASK_GET = Endpoint("api/v2/majora/task/get/", read=True)
MAG_GET = Endpoint("api/v2/group/mag/get/", read=True)
MDV_GET = Endpoint("api/v3/mdv/", method="GET", version=3, read=True)
ARTIFACT_INFO = Endpoint("api/v0/artifact/info/", method="GET", version=0, read=True)

RULE = "=" * (80 - len("Request "))
PREFIX = "snakemake-majora ocarina: error: "


def stop(code: int, message: str | None = None) -> NoReturn:
    """Leave with ``code`` (after one line on stderr, if given)."""
    if message:
        sys.stderr.write(message.rstrip("\n") + "\n")
    raise SystemExit(code)


def _exit_for_status(status: int) -> int:
    # Ocarina's mapping of a non-200 answer to an exit code.
    if status in (400, 403):
        return EX_NOPERM
    if status == 500:
        return EX_UNAVAILABLE
    if status in (429, 503):
        return EX_TEMPFAIL
    return EX_SOFTWARE


class Emitter:
    """Sends Ocarina-shaped requests for one command through one :class:`MajoraClient`."""

    def __init__(self, client: MajoraClient, *, quiet: bool, oauth_flag: bool, sudo_as: str | None) -> None:
        self.client = client
        self.quiet = quiet
        self.oauth_flag = oauth_flag
        self.sudo_as = sudo_as

    def _dump(self, payload: dict[str, Any], text: str, status: int | None) -> None:
        shown = dict(payload)
        shown["token"] = "*" * len(str(shown.get("token") or ""))
        sys.stderr.write("Request" + RULE + "\n")
        sys.stderr.write(json.dumps(shown, indent=4, sort_keys=True))
        sys.stderr.write("\nResponse" + RULE + "\n")
        if status is not None:
            sys.stderr.write(f"STATUS CODE {status}\n")
        sys.stderr.write(text + "\n")

    def fail(self, exc: MajoraError, payload: dict[str, Any]) -> NoReturn:
        """Leave as Ocarina does on a call the client gave up on. Where Majora answered (a refusal, a 5xx
        after retries), its answer is dumped with the request and the exit code follows its status, as
        Ocarina's; one line of advice follows, unless the token works (then Majora's answer is all there is
        to say: a new login would not help)."""
        r = exc.response
        if r is None:
            stop(exc.exit_code, PREFIX + redact(str(exc)))
        self._dump(payload, r.text, r.status_code)
        advice = None if isinstance(exc, RefusedError) else PREFIX + redact(str(exc))
        stop(_exit_for_status(r.status_code), advice)

    def _envelope(self, payload: dict[str, Any]) -> dict[str, Any]:
        """What the client adds to every body, so that a dump shows what was sent."""
        settings = self.client.settings
        payload["client_name"] = CLIENT_NAME
        payload["client_version"] = __version__
        if self.sudo_as:
            payload["sudo_as"] = self.sudo_as
        payload["username"] = settings.user
        payload["token"] = "OAUTH" if settings.oauth else str(settings.api_key)
        return payload

    def emit(self, endpoint: Endpoint, payload: dict[str, Any], quiet: bool = False) -> dict[str, Any]:
        """POST (or GET) ``payload`` as Ocarina does; returns the decoded answer or exits as Ocarina does.

        ``payload`` is changed in place, as Ocarina changes it (callers rely on that for later requests).
        """
        params = payload.pop("params", None) or None
        quiet = quiet or self.quiet
        payload.pop("quiet", None)
        payload.pop("env", None)
        angry = bool(payload.get("angry"))
        if angry:
            del payload["angry"]
        if endpoint.version in (0, 3) and not self.oauth_flag:
            stop(EX_USAGE, "--oauth is required with experimental or v3 API endpoints")
        self.require_oauth_flag()
        self._envelope(payload)
        try:
            r = self.client.raw_request(endpoint.path, payload, method=endpoint.method, params=params,
                                        read=endpoint.read)
        except MajoraError as exc:
            self.fail(exc, payload)
        if r.status_code != 200:
            self._dump(payload, r.text, r.status_code)
            stop(_exit_for_status(r.status_code))
        try:
            answer = r.json()
        except ValueError:
            stop(EX_UNAVAILABLE, f"snakemake-majora ocarina: error: Majora answered HTTP 200 with a non-JSON "
                                 f"body for {endpoint.path.strip('/')}")
        if not quiet:
            self._dump(payload, json.dumps(answer, indent=4, sort_keys=True), None)
        if not isinstance(answer, dict):
            stop(EX_UNAVAILABLE, f"snakemake-majora ocarina: error: Majora answered HTTP 200 with unexpected "
                                 f"JSON for {endpoint.path.strip('/')}")
        if angry and (answer.get("errors") or 0) > 0:
            raise SystemExit(1)
        return answer

    def require_oauth_flag(self) -> None:
        """Without ``--oauth`` Ocarina sends ``MAJORA_TOKEN`` as the key and no bearer; under ``OAUTH`` (or
        no key at all) Majora answers 400 and nothing is written. Refuse the same call here, before sending
        anything, rather than quietly use the shared token for it."""
        if not self.oauth_flag and self.client.settings.oauth:
            stop(EX_NOPERM, PREFIX + "MAJORA_TOKEN is OAUTH (no API key is configured), and without "
                 "--oauth Majora refuses the call, as it does Ocarina's; add --oauth after `ocarina` "
                 "(nothing was sent)")

    # -- tasks --------------------------------------------------------------------------------------------
    def wait_for_task(self, args: Any, start: Endpoint, body: dict[str, Any]) -> dict[str, Any]:
        """Ocarina's task step for ``get sequencing``/``get pag``/``get dataview``: start the query with
        ``body`` (unless ``--task-id`` names a task), then take the result through the client's task path,
        the one every caller uses: a result is saved under ``<home>/tasks/`` once Majora hands it out (it does
        so only once), and a query whose result was lost on the way is started again. Returns the task's
        answer on SUCCESS; exits 69 when the answer names no task, 65 while still PENDING, and 70 on FAILURE
        (Ocarina looks for a state "FAILED", which Majora never reports)."""
        # Ocarina sleeps a whole --task-wait-minutes before each of --task-wait-attempts looks; the client
        # polls sooner and backs off, within the same total time. Without --task-wait: one look.
        self.require_oauth_flag()
        timeout = 60.0 * args.task_wait_minutes * args.task_wait_attempts if args.task_wait else 0.0
        client = self.client
        first: dict[str, Any] = {}  # the body as the first request sent it, for a restart
        looks = [0]

        def progress(line: str) -> None:
            looks[0] += 1
            if args.task_wait:
                sys.stderr.write(f"[WAIT] {line} ({looks[0]})...\n")

        def begin() -> dict[str, Any]:
            if first:
                answer = self.emit(start, dict(first))
            else:
                first.update(body)
                answer = self.emit(start, body)  # changed in place, as Ocarina changes it
            tasks = answer.get("tasks", [None])
            if not isinstance(tasks, list) or not tasks or not tasks[0]:
                # Ocarina exits 69 when the answer names no task (a plain run name, say).
                stop(EX_UNAVAILABLE)
            args.task_id = str(tasks[0])
            return answer

        saved, client.progress = client.progress, progress
        state = "SUCCESS"
        try:
            if args.task_id:
                answer = client.wait_task(str(args.task_id), timeout)
            else:
                answer = client._task_of(begin(), start.path.strip("/"), begin, timeout)
        except TaskPending:
            state = "PENDING"
        except TaskFailed:
            state = "FAILURE"
        except MajoraError as exc:
            self.fail(exc, self._envelope({"task_id": args.task_id}))
        finally:
            client.progress = saved
        if args.task_wait:
            sys.stderr.write(f"[WAIT] Finished waiting with status {state} ({looks[0] + 1})...\n")
        if state == "PENDING":
            stop(EX_DATAERR)
        if state != "SUCCESS":
            stop(EX_SOFTWARE)
        return answer

