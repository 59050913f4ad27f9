"""Ocarina's request step on the project's single API path: body, stderr dump and exit codes.

Every request goes through :meth:`MajoraClient.raw_request` (token gate, lock, retries); this module only
shapes the body as Ocarina does and prints and exits as Ocarina does.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

from tenacity import Retrying, retry_if_result, stop_after_delay, wait_exponential

from .. import __version__
from ..client import CLIENT_NAME, MajoraClient
from ..errors import EX_NOPERM, EX_SOFTWARE, EX_TEMPFAIL, EX_UNAVAILABLE, EX_USAGE, MajoraError
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

    def emit(self, endpoint: Endpoint, payload: dict[str, Any], quiet: bool = False) -> dict[str, Any]:
        """POST (or GET) ``payload`` as Ocarina does; returns the decoded answer or exits as Ocarina does.

        ``payload`` is changed in place, as Ocarina changes it (callers rely on that for later requests).
        """
        params = payload.pop("params", None) or None
        settings = self.client.settings
        # What the client adds to every body, so the dump shows what was sent.
        payload["client_name"] = CLIENT_NAME
        payload["client_version"] = __version__
        if self.sudo_as:
            payload["sudo_as"] = self.sudo_as
        quiet = quiet or self.quiet
        payload.pop("quiet", None)
        payload.pop("env", None)
        angry = bool(payload.get("angry"))
        if angry:
            del payload["angry"]
        payload["username"] = settings.user
        if endpoint.version in (0, 3) and not self.oauth_flag:
            stop(EX_USAGE, "--oauth is required with experimental or v3 API endpoints")
        payload["token"] = "OAUTH" if settings.oauth else str(settings.api_key)
        try:
            r = self.client.raw_request(endpoint.path, payload, method=endpoint.method, params=params,
                                        read=endpoint.read)
        except MajoraError as exc:
            stop(exc.exit_code, f"snakemake-majora ocarina: error: {redact(str(exc))}")
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

    # -- tasks --------------------------------------------------------------------------------------------
    def get_task(self, task_id: str | None) -> dict[str, Any]:
        """One look at a task (quietly, as Ocarina does)."""
        return self.emit(TASK_GET, {"task_id": task_id}, quiet=True)

    def wait_for_task(self, args: Any, answer: dict[str, Any], task_wait: bool) -> dict[str, Any]:
        """Ocarina's task step after ``get sequencing``/``get pag``/``get dataview``: returns the task's
        answer on SUCCESS; exits 65 while still PENDING, 69 on FAILED, 70 on any other state."""
        if not args.task_id:
            tasks = answer.get("tasks", [None]) if isinstance(answer, dict) else None
            if not isinstance(tasks, list) or not tasks:
                # Ocarina exits 69 when the answer names no task (a plain run name, say).
                stop(EX_UNAVAILABLE)
            args.task_id = tasks[0]
        if task_wait:
            # Ocarina sleeps a whole --task-wait-minutes before each of --task-wait-attempts looks; we poll
            # sooner and back off, within the same total time.
            looks = [0]

            def look() -> dict[str, Any]:
                looks[0] += 1
                sys.stderr.write(f"[WAIT] Asking Majora about task {args.task_id} ({looks[0]})...\n")
                return self.get_task(args.task_id)

            answer = Retrying(retry=retry_if_result(lambda a: _state(a) == "PENDING"),
                              stop=stop_after_delay(60.0 * args.task_wait_minutes * args.task_wait_attempts),
                              wait=wait_exponential(multiplier=0.25, max=15),
                              retry_error_callback=lambda rs: rs.outcome.result())(look)
            state = _state(answer)
            sys.stderr.write(f"[WAIT] Finished waiting with status {state} ({looks[0]})...\n")
        else:
            answer = self.get_task(args.task_id)
            state = _state(answer)
        if state == "SUCCESS":
            return answer
        if state == "FAILED":
            stop(EX_UNAVAILABLE)
        if state == "PENDING":
            stop(65)
        stop(EX_SOFTWARE)


def _state(answer: dict[str, Any]) -> str:
    return (answer.get("task") or {}).get("state", "UNKNOWN") if isinstance(answer, dict) else "UNKNOWN"

