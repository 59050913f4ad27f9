"""``MajoraClient``: pooled HTTP session, timeouts, retries, the v2 envelope, async tasks, operations.

Every call goes through :meth:`MajoraClient._request`, which asks the credential manager for a token
first, so the expiry check can never be skipped. Thread-safe: the storage plugin calls it from many
threads.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    stop_before_delay,
    wait_random_exponential,
)

from . import __version__
from .answers import SCOPE_MESSAGE, answer_error, sent_summary
from .config import Settings, load_settings
from .credentials import Credential, CredentialManager
from .errors import (
    AuthError,
    MajoraError,
    NotFoundError,
    RefusedError,
    ServerError,
    TaskFailed,
    TemporaryError,
    UsageError,
)
from .logsafe import install
from .oauth import _connect_failed, retry_after_seconds
from .store import atomic_write_private
from .transport import new_session, total_deadline

log = logging.getLogger(__name__)

CLIENT_NAME = "snakemake-majora"
POOL_SIZE = 32
WILDCARD_PERMISSION = "majora2.can_wildcard_sequencing_runs"

BIOSAMPLE_GET = "api/v2/artifact/biosample/get/"
BIOSAMPLE_VALIDITY = "api/v2/artifact/biosample/query/validity/"
BIOSAMPLE_ADD = "api/v2/artifact/biosample/add/"
BIOSAMPLE_UPDATE = "api/v2/artifact/biosample/update/"
BIOSAMPLE_ADDEMPTY = "api/v2/artifact/biosample/addempty/"
LIBRARY_ADD = "api/v2/artifact/library/add/"
SEQUENCING_ADD = "api/v2/process/sequencing/add/"
SEQUENCING_GET = "api/v2/process/sequencing/get/"
FILE_ADD = "api/v2/artifact/file/add/"
METRIC_ADD = "api/v2/meta/metric/add/"
QC_ADD = "api/v2/meta/qc/add/"
PAG_QC_GET = "api/v2/pag/qc/get/"
#: Task answers at least this large are spooled to their task file when the caller asks for it.
SPOOL_SMALL = 1 << 20
SUMMARY_GET = "api/v2/majora/summary/get/"
TASK_GET = "api/v2/majora/task/get/"
MDV_GET = "api/v3/mdv/"


def spooled_file(answer: Any) -> str | None:
    """The task file of an answer a ``spool=True`` call left on disk, else None (the answer itself)."""
    if isinstance(answer, dict) and isinstance(answer.get("spooled"), str):
        return answer["spooled"]
    return None


class _Retryable(Exception):
    def __init__(self, what: str, retry_after: float = 0.0, status: int | None = None,
                 response: requests.Response | None = None) -> None:
        super().__init__(what)
        self.retry_after = retry_after
        self.status = status
        self.response = response


class _AnswerLost(Exception):
    """A one-time answer (task/get) may have been sent and lost: repeating the request cannot get it."""


class _TaskPending(Exception):
    """An async task is not finished yet: ``wait_task`` asks again after its backoff."""

    def __init__(self, state: str) -> None:
        super().__init__(state)
        self.state = state


class TaskResultLost(TemporaryError):
    """The reply carrying an async task's result was lost; only starting the query again can help."""


class TaskPending(TemporaryError):
    """An async task had not finished by the deadline (``snakemake-majora ocarina`` exits 65 on it)."""


def _wait(rs: Any) -> float:
    exc = rs.outcome.exception() if rs.outcome else None
    base = wait_random_exponential(multiplier=0.5, max=15)(rs)
    return min(60.0, max(getattr(exc, "retry_after", 0.0) or 0.0, base))


def _poll_wait(rs: RetryCallState) -> float:
    """The pause before asking about a task again: 0.25 s, then a tenth of the time waited so far, at
    most 15 s. A finished task is then seen at most 10% (or 0.25 s) late; the former doubling-style
    backoff (x1.6) saw it up to 60% late, which was most of a large listing's overhead over a raw
    download (a 20 s task seen at 28 s)."""
    return min(15.0, max(0.25, 0.1 * (rs.seconds_since_start or 0.0)))


def _is_auth_failure(r: requests.Response) -> bool:
    # Majora answers a dead/expired bearer on v2 with 400 and an empty body (never 401); v3 says 401/403.
    return r.status_code in (401, 403) or (r.status_code == 400 and not r.content.strip())


def _refusal(path: str, r: requests.Response) -> str:
    """``api/v3/mdv (HTTP 403: You do not have permission ...)``: the call, the status and Majora's own
    ``detail`` (DRF's one-line reason; v2 refusals have an empty body)."""
    try:
        detail = r.json().get("detail") if r.content.strip() else None
    except (ValueError, AttributeError):
        detail = None
    said = f": {' '.join(detail.split())[:200]}" if isinstance(detail, str) and detail.strip() else ""
    return f"{path.strip('/')} (HTTP {r.status_code}{said})"


class MajoraClient:
    """Talks to Majora for the plugin, the CLI and users' jobs. See module docstring."""

    def __init__(self, settings: Settings, credentials: CredentialManager | None = None, *,
                 min_ttl: float = 0.0, session: requests.Session | None = None,
                 progress: Callable[[str], None] | None = None) -> None:
        install()
        self.settings = settings
        if session is None:
            # Requests on it can be cut at settings.request_deadline (transport.total_deadline).
            session = new_session(pool_maxsize=POOL_SIZE, user_agent=f"{CLIENT_NAME}/{__version__}")
        self.session = session
        self.credentials = credentials or CredentialManager(settings, session=session)
        self.min_ttl = min_ttl
        self.progress = progress
        self.timeout = (settings.connect_timeout, settings.read_timeout)

    @classmethod
    def from_config(cls, profile: str | None = None, config_file: str | Path | None = None,
                    token_file: str | Path | None = None, min_ttl: float = 0,
                    **overrides: Any) -> MajoraClient:
        """Build a client from the resolved configuration (see docs/credentials.md)."""
        settings = load_settings(profile=profile, config_file=config_file, token_file=token_file, **overrides)
        return cls(settings, min_ttl=min_ttl)

    def __repr__(self) -> str:
        return f"MajoraClient({self.settings!r})"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> MajoraClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the one request path ------------------------------------------------------------------------
    def _request(self, path: str, body: dict[str, Any] | None = None, *, method: str = "POST",
                 params: dict[str, str] | None = None, read: bool = True,
                 once: bool = False) -> dict[str, Any]:
        r = self.raw_request(path, body, method=method, params=params, read=read, once=once)
        return self._envelope(r, path, body, read)

    def raw_request(self, path: str, body: dict[str, Any] | None = None, *, method: str = "POST",
                    params: dict[str, str] | None = None, read: bool = True,
                    once: bool = False, stream: bool = False) -> requests.Response:
        """The response itself, after the token gate, retries and stale-token recovery, for callers that
        print Majora's answer as it is (``snakemake-majora ocarina``); :meth:`_request` reads the envelope.
        A credential Majora keeps refusing still raises :class:`AuthError`."""
        cred = self.credentials.ensure_token(self.min_ttl)
        if method == "GET" and not cred.oauth:
            raise AuthError(f"{path} is available with OAuth only; configure client_id/client_secret and run "
                            "`snakemake-majora login`")
        refreshed = False
        for _ in range(4):
            r = self._send(method, path, body, params, cred, read, once, stream)
            # A token deleted by a peer's refresh between Majora's two token checks reads as a scope error.
            # (A streamed body is a task answer, which needs no scope: it is left unread here.)
            scope_error = r.status_code == 200 and not stream and SCOPE_MESSAGE.encode() in r.content
            if not (_is_auth_failure(r) or scope_error):
                return r
            if not cred.oauth:
                if self._token_works(cred):
                    raise RefusedError(
                        f"Majora refused {_refusal(path, r)} although the API key works: the account "
                        f"{self.settings.user} lacks a permission this call needs (or the right to "
                        "--sudo-as); ask a Majora administrator", response=r)
                raise AuthError(
                    f"Majora refused the API key for user {self.settings.user} (HTTP {r.status_code}): the "
                    "key may have expired (keys last a few days) or not match the user; renew it in Majora's "
                    "web interface", response=r)
            rec = self.credentials.store.read(force=True)
            if rec is not None and not rec.invalid and rec.access_token != cred.secret:
                log.debug("request rejected with a stale token; the store has generation %d", rec.generation)
                cred = self.credentials._cred(rec)
                continue
            if refreshed or self._token_works(cred):
                if scope_error:
                    return r  # a real scope problem: the envelope raises with Majora's message
                # The token works (the probe, or a fresh refresh, says so): a new login would not help.
                v3 = " or the token the call's scope (see the scopes: setting)" if "/v3/" in path else ""
                raise RefusedError(
                    f"Majora refused {_refusal(path, r)} although the token is valid: the account "
                    f"{self.settings.user} lacks a permission or grant this call needs (a dataview grant, "
                    f"the right to --sudo-as){v3}; ask a Majora administrator", response=r)
            new = self.credentials.on_unauthorized(cred)
            refreshed = True
            if new is None:  # pragma: no cover - API-key mode handled above
                break
            cred = new
        raise AuthError(f"Majora kept refusing {path.strip('/')}; run `snakemake-majora login`", response=r)

    def _token_works(self, cred: Credential) -> bool:
        """Probe a token with a scopeless call, so that a real permission error does not trigger a refresh
        (each refresh deletes every peer's access token)."""
        try:
            r = self._send("POST", TASK_GET, {"task_id": str(uuid.uuid4())}, None, cred, True)
        except MajoraError:
            return False
        return r.status_code == 200

    def _send(self, method: str, path: str, body: dict[str, Any] | None, params: dict[str, str] | None,
              cred: Credential, read: bool, once: bool = False, stream: bool = False) -> requests.Response:
        url = self.settings.url(path)
        headers = {"Accept": "application/json"}
        payload = None
        if cred.oauth:
            headers["Authorization"] = f"Bearer {cred.secret}"
        if method == "POST":
            payload = dict(body or {})
            payload.update(username=self.settings.user, token=cred.secret if not cred.oauth else "OAUTH",
                           client_name=CLIENT_NAME, client_version=__version__)
        try:
            for attempt in Retrying(
                retry=retry_if_exception_type(_Retryable), wait=_wait,
                stop=stop_after_attempt(5) | stop_after_delay(120), reraise=True,
                before_sleep=lambda rs: log.warning("%s: %s; "
                                                    "retrying", path.strip("/"), rs.outcome.exception()),
            ):
                with attempt:
                    return self._send_once(method, url, payload, params, headers, read, once, stream)
        except _Retryable as exc:
            if exc.status and exc.status >= 500 and exc.status != 503:
                raise ServerError(f"Majora failed on {path.strip('/')} (HTTP {exc.status}) after retries",
                                  status=exc.status, response=exc.response) from None
            raise TemporaryError(f"{path.strip('/')}: {exc}; try again later",
                                 response=exc.response) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_once(self, method: str, url: str, payload: dict | None, params: dict | None,
                   headers: dict[str, str], read: bool, once: bool = False,
                   stream: bool = False) -> requests.Response:
        try:
            with total_deadline(self.settings.request_deadline):
                r = self.session.request(method, url, json=payload, params=params, headers=headers,
                                         timeout=self.timeout, allow_redirects=False, stream=stream)
        except requests.RequestException as exc:
            if _connect_failed(exc):
                raise _Retryable(f"network error ({type(exc).__name__})") from None
            if once and isinstance(exc, requests.ConnectionError | requests.Timeout):
                # The server may have answered, and this answer can only be had once (task/get).
                raise _AnswerLost(f"network error ({type(exc).__name__}) while reading {url}") from None
            if read and isinstance(exc, requests.ConnectionError | requests.Timeout):
                raise _Retryable(f"network error ({type(exc).__name__})") from None
            raise TemporaryError(
                f"network error ({type(exc).__name__}) after sending a write to {url}; it may or may not "
                f"have "
                "been applied: check before retrying") from None
        if r.status_code in (429, 503):
            raise _Retryable(f"Majora is busy (HTTP {r.status_code})",
                             retry_after_seconds(r.headers.get("Retry-After")), r.status_code, r)
        if r.status_code >= 500 and once:
            raise _AnswerLost(f"HTTP {r.status_code} from {url}")
        if r.status_code >= 500 and read:
            raise _Retryable(f"HTTP {r.status_code}", status=r.status_code, response=r)
        return r

    def _envelope(self, r: requests.Response, path: str, body: dict[str, Any] | None = None,
                  read: bool = True) -> dict[str, Any]:
        name = path.strip("/")
        ctype = r.headers.get("Content-Type", "?").split(";")[0]
        if r.status_code == 500 and not read:
            # Majora's views do not check every value they index into: a malformed write ends in a 500
            # page, and sending it again would fail the same way (or apply twice), so say what was sent.
            raise ServerError(f"Majora failed on {name} (HTTP 500 ({ctype})); the input may be malformed "
                              f"(Majora fails this way on values its forms do not check); not retried; "
                              f"sent: {sent_summary(body)}", status=500)
        if r.status_code != 200:
            hint = " (check the domain setting)" if r.status_code == 404 else ""
            raise ServerError(f"Majora answered HTTP {r.status_code} ({ctype}) for "
                              f"{name}{hint}", status=r.status_code)
        try:
            data = r.json()
        except ValueError:
            raise ServerError(f"Majora answered HTTP 200 with a non-JSON body ({ctype}) for {name}",
                              status=200) from None
        if not isinstance(data, dict):
            raise ServerError(f"Majora answered HTTP 200 with unexpected JSON for {name}", status=200)
        if data.get("errors"):
            raise answer_error(data, name, body or {})
        return data

    # -- async tasks ------------------------------------------------------------------------------------
    def _task_file(self, task_id: str) -> Path:
        return self.settings.home / "tasks" / f"{uuid.UUID(task_id)}.json"

    def wait_task(self, task_id: str, timeout: float | None = None, *, spool: bool = False) -> dict[str, Any]:
        """Poll ``majora/task/get`` until SUCCESS/FAILURE or the deadline; the result (which Majora serves
        only once) is saved to ``<home>/tasks/<task_id>.json`` (0600) before it is returned.

        ``spool``: a large answer is written to that file as it arrives and not parsed; the returned
        envelope then carries ``spooled`` (the file) and no listing (:mod:`snakemake_majora.spool`)."""
        try:
            f = self._task_file(task_id)
        except ValueError:
            raise UsageError(f"{task_id!r} is not a task id") from None
        if f.exists():
            if spool and f.stat().st_size >= SPOOL_SMALL:
                from .spool import envelope

                return {**envelope(f), "spooled": str(f)}
            return json.loads(f.read_text())
        limit = timeout if timeout is not None else self.settings.task_timeout
        t0 = time.monotonic()

        def progress(rs: RetryCallState) -> None:
            if self.progress and rs.outcome is not None:
                state = getattr(rs.outcome.exception(), "state", "PENDING")
                self.progress(f"waiting for task {task_id[:8]}: {state} ({time.monotonic() - t0:.0f}s)")

        try:
            # Give up rather than sleep past the deadline.
            for attempt in Retrying(
                retry=retry_if_exception_type(_TaskPending), before_sleep=progress, reraise=True,
                wait=_poll_wait, stop=stop_before_delay(limit),
            ):
                with attempt:
                    data = self._task_get_once(task_id, f if spool else None)
        except _TaskPending as exc:
            raise TaskPending(f"Majora task {task_id} still {exc.state} after "
                              f"{time.monotonic() - t0:.0f}s; "
                              f"fetch it later with `snakemake-majora get task {task_id}`") from None
        if data.get("spooled"):
            # Already on disk, next to the task file, as it arrived: the rename is the atomic write.
            os.replace(data["spooled"], f)
            return {**data, "spooled": str(f)}
        atomic_write_private(f, json.dumps(data).encode())
        return data

    def _task_get_once(self, task_id: str, spool_to: Path | None = None) -> dict[str, Any]:
        """One ``task/get``: the answer if the task succeeded, else raises (:class:`_TaskPending` while it
        runs). With ``spool_to`` (the task file), a large answer is written beside it as it arrives."""
        try:
            if spool_to is not None:
                data = self._poll_spooled(task_id, spool_to)
            else:
                data = self._request(TASK_GET, {"task_id": task_id}, once=True)
        except _AnswerLost as exc:
            # Asking again would only ever see PENDING: Majora forgets a result once it served it.
            raise TaskResultLost(
                f"the answer to task/get for Majora task {task_id} was lost ({exc}); Majora hands a "
                "task result out only once, so run the query again") from None
        state = (data.get("task") or {}).get("state", "PENDING")
        if state == "SUCCESS":
            return data
        if data.get("spooled"):  # a large answer that is not a result: nothing to keep
            Path(data["spooled"]).unlink(missing_ok=True)
        if state == "FAILURE":
            raise TaskFailed(f"Majora task {task_id} failed", messages=data.get("messages"))
        if state == "PERMISSION_DENIED":
            raise AuthError(f"Majora task {task_id} belongs to another user")
        raise _TaskPending(state)

    def _poll_spooled(self, task_id: str, f: Path) -> dict[str, Any]:
        """One ``task/get`` whose body goes to a file next to ``f`` as it arrives; a small body is read as
        usual, a large one gives its envelope with ``spooled`` (the file)."""
        from .spool import envelope, spool_answer

        body = {"task_id": task_id}
        r = self.raw_request(TASK_GET, body, once=True, stream=True)
        if r.status_code != 200:
            return self._envelope(r, TASK_GET, body)
        f.parent.mkdir(parents=True, exist_ok=True)
        part = f.with_name(f".{f.name}.{os.getpid()}.{time.monotonic_ns()}.part")
        try:
            size = spool_answer(r, part)
        except (requests.RequestException, OSError) as exc:
            part.unlink(missing_ok=True)
            # The server answered, and this answer can only be had once.
            raise _AnswerLost(f"{type(exc).__name__} while reading the answer to task/get") from None
        if size < SPOOL_SMALL:
            r._content = part.read_bytes()  # small: read as every other answer is
            part.unlink()
            return self._envelope(r, TASK_GET, body)
        try:
            data = envelope(part)
        except Exception:  # ijson's errors: the body is not the JSON Majora sends
            part.unlink(missing_ok=True)
            raise ServerError("Majora answered HTTP 200 with a body that is not JSON for majora/task/get",
                              status=200) from None
        if data.get("errors"):
            part.unlink(missing_ok=True)
            raise answer_error(data, TASK_GET.strip("/"), body)
        return {**data, "spooled": str(part)}

    def _task_of(self, data: dict[str, Any], what: str,
                 restart: Callable[[], dict[str, Any]] | None = None,
                 timeout: float | None = None, spool: bool = False) -> dict[str, Any]:
        """The result of the task ``data`` started (within ``timeout``, see :meth:`wait_task`; ``spool``
        as there). If its one-time answer is lost on the way, the query (always a read here) is started
        again with ``restart``, at most twice."""
        for tries_left in (2, 1, 0):
            tasks = data.get("tasks") or []
            if not tasks:
                raise ServerError(f"Majora did not start a task for {what}")
            try:
                return self.wait_task(str(tasks[0]), timeout, spool=spool)
            except TaskResultLost as exc:
                if restart is None or not tries_left:
                    raise
                log.warning("%s; starting %s again (it is a read)", exc, what)
                data = restart()
        raise AssertionError("unreachable")  # pragma: no cover

    # -- operations -------------------------------------------------------------------------------------
    def get_biosample(self, central_sample_id: str) -> dict[str, Any]:
        """The biosample record (``as_struct``); :class:`NotFoundError` if Majora does not know it."""
        try:
            data = self._request(BIOSAMPLE_GET, {"central_sample_id": central_sample_id})
        except NotFoundError as exc:
            raise NotFoundError(f"biosample {central_sample_id} not found on Majora",
                                messages=exc.messages) from None
        rec = (data.get("get") or {}).get(central_sample_id)
        if rec is None:
            raise NotFoundError(f"biosample {central_sample_id} not found on Majora")
        return rec

    def biosample_validity(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """``{id: {central_sample_id, exists, has_sender_id, has_metadata}}`` for many ids in one call."""
        ids = list(ids)
        if not ids:
            return {}
        return self._request(BIOSAMPLE_VALIDITY, {"biosamples": ids}).get("result") or {}

    def get_sequencing(self, run_names: list[str], spool: bool = False) -> dict[str, Any]:
        """Runs by name (names Majora does not know are left out); ``["*"]`` fetches all runs through an
        async task, which needs the account's ``majora2.can_wildcard_sequencing_runs`` permission.

        ``spool`` (``["*"]`` only): a large answer stays in its task file and the return value is its
        envelope, ``spooled`` (the file, a str) and no runs; tell it from runs with :func:`spooled_file`
        (a run may be named "spooled", but its value is never a str)."""

        def start() -> dict[str, Any]:
            return self._request(SEQUENCING_GET, {"run_name": list(run_names)})

        data = start()
        if list(run_names) == ["*"] and not data.get("tasks"):
            # Without the permission Majora's view bails out before its answer is filled in: no task, no
            # error, no "get"; an empty result here would read as "there are no runs".
            raise AuthError(
                f"Majora started no task for sequencing/get '*': the account {self.settings.user} lacks "
                f"the permission {WILDCARD_PERMISSION}, which listing every run needs; ask a Majora "
                "administrator for it, or name the runs."
            )
        if data.get("tasks"):
            result = self._task_of(data, "sequencing/get", start, spool=spool)
            if spooled_file(result) is not None:
                return result
            return (result.get("get") or {}).get("result") or {}
        return data.get("get") or {}

    def get_pags(self, test_name: str, *, pass_: bool | None = None, fail: bool | None = None,
                 public: bool | None = None, private: bool | None = None, service_name: str | None = None,
                 published_after: str | None = None, published_before: str | None = None,
                 suppressed_after: str | None = None, mode: str | None = None,
                 spool: bool = False) -> dict[str, Any]:
        """PAGs by QC test (async task); returns Majora's ``get`` payload (``result``, ``count``).

        ``spool``: a large answer stays in its task file; the return value is then its envelope with
        ``spooled`` (the file) instead of the payload (the plugin writes the local copy from it)."""
        body: dict[str, Any] = {"test_name": test_name}
        for key, val in (("pass", pass_), ("fail", fail), ("public", public), ("private", private),
                         ("service_name", service_name), ("published_after", published_after),
                         ("published_before", published_before), ("suppressed_after", suppressed_after),
                         ("mode", mode)):
            if val is not None:
                body[key] = val
        def start() -> dict[str, Any]:
            return self._request(PAG_QC_GET, body)

        try:
            result = self._task_of(start(), "pag/qc/get", start, spool=spool)
        except TaskFailed as exc:
            if str(mode or "").lower() == "pagfiles":
                raise
            # Majora's default-mode listing fails on a PAG without a sequencing run: name it if so.
            from .pag_diagnosis import explain_failure

            raise explain_failure(self, exc, body) from None
        if result.get("spooled"):
            return result
        return result.get("get") or {}

    def get_dataview(self, code: str, spool: bool = False) -> Any:
        """Rows of a Majora dataview (v3 GET, then the async task); ``spool`` as for :meth:`get_pags`."""
        def start() -> dict[str, Any]:
            return self._request(MDV_GET, method="GET", params={"mdv": code})

        result = self._task_of(start(), f"dataview {code}", start, spool=spool)
        if result.get("spooled"):
            return result
        return result.get("data") or []

    def get_summary(self, gte_date: str | None = None) -> dict[str, Any]:
        body = {"gte_date": gte_date} if gte_date else {}
        return self._request(SUMMARY_GET, body).get("get") or {}

    def add_biosamples(self, biosamples: list[dict[str, Any]], partial: bool = False) -> dict[str, Any]:
        """Add (or, with ``partial``, update) biosamples; returns the envelope (``new``/``updated``/...)."""
        return self._request(BIOSAMPLE_UPDATE if partial else BIOSAMPLE_ADD, {"biosamples": list(biosamples)},
                             read=False)

    def update_biosamples(self, biosamples: list[dict[str, Any]]) -> dict[str, Any]:
        return self.add_biosamples(biosamples, partial=True)

    def addempty_biosamples(self, biosamples: list[str | dict[str, Any]]) -> dict[str, Any]:
        return self._request(BIOSAMPLE_ADDEMPTY, {"biosamples": list(biosamples)}, read=False)

    def add_library(self, library: dict[str, Any]) -> dict[str, Any]:
        return self._request(LIBRARY_ADD, dict(library), read=False)

    def add_sequencing(self, sequencing: dict[str, Any]) -> dict[str, Any]:
        return self._request(SEQUENCING_ADD, dict(sequencing), read=False)

    def add_file(self, resource: dict[str, Any]) -> dict[str, Any]:
        """Register a file (``artifact/file/add``): ``path``, ``current_hash``/``size``/``name``/``fext``,
        ``resource_type``, ``pipe_*``, ``bridge_artifact``, ``source_artifact``, ``publish_group``, ...
        A ``publish_group`` makes (or adds to) the PAG of that name. See :func:`file_record`."""
        return self._request(FILE_ADD, dict(resource), read=False)

    def add_metrics(self, artifact: str | None, metrics: dict[str, Any], *,
                    artifact_path: str | None = None) -> dict[str, Any]:
        """Metrics (``{namespace: {key: value}}``) on an artifact named ``artifact`` (its dice name) or on
        the file registered at ``artifact_path``."""
        if bool(artifact) == bool(artifact_path):
            raise UsageError("add_metrics needs exactly one of artifact and artifact_path")
        target = {"artifact": artifact} if artifact else {"artifact_path": artifact_path}
        return self._request(METRIC_ADD, {**target, "metrics": metrics}, read=False)

    def add_qc(self, publish_group: str, test_name: str, test_version: str | int) -> dict[str, Any]:
        """Ask Majora to evaluate QC test ``test_name`` on the PAG ``publish_group`` with the metrics of
        its artifacts; the outcome is in the PAG's ``qc_reports`` (``get_pags``)."""
        return self._request(QC_ADD, {"publish_group": publish_group, "test_name": test_name,
                                      "test_version": test_version}, read=False)
