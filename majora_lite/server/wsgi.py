"""WSGI wrapper in front of Django: slash merging (nginx-like), fault injection, loopback admin endpoints."""

from __future__ import annotations

import hmac
import io
import ipaddress
import json
import logging
import re
import threading
import time
from urllib.parse import parse_qs

from majora_lite.api.state import COUNTERS, REQUEST
from majora_lite.server.faults import FAULTS, FaultRuleError
from majora_lite.server.settings import ADMIN_HEADER, ADMIN_SECRET_FILE, DEFAULT_MAX_ACTIVE, MAX_BODY_BYTES

log = logging.getLogger("majora_lite.http")
_SLASHES = re.compile(r"/{2,}")
HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
    b"</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class DropConnection(Exception):
    """Raised to make the server close the socket without sending a response."""


def _status(code: int) -> str:
    return f"{code} {REASONS.get(code, 'Error')}"


def _json_response(start_response, code: int, body: object) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(_status(code), [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _is_loopback(environ) -> bool:
    try:
        return ipaddress.ip_address(environ.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _error_body(rule: dict) -> tuple[bytes, str]:
    status = rule["status"]
    if rule.get("body") == "html" or (status == 502 and rule.get("body") is None):
        if status == 502:
            return HTML_502, "text/html"
        return f"<html><body><h1>{_status(status)}</h1></body></html>".encode(), "text/html"
    if rule.get("body") == "empty":
        return b"", "text/plain"
    return json.dumps({"detail": _status(status), "majora_lite_fault": True}).encode(), "application/json"


class LiteApp:
    """The outer WSGI app; ``inner`` is Django's WSGIHandler.

    At most ``max_active`` requests run inside Django at once. Django runs in one process here, so the
    GIL lets one thread execute at a time anyway, and every SQLite call hands the GIL over: with many
    threads inside Django, those handovers cost more than the queries (a lock convoy). Waitress keeps
    all its threads for accepting connections, injected delays and the admin endpoints, which stay
    outside the limit, so a slow or faulted request never holds a slot while it sleeps.
    """

    def __init__(self, inner, max_active: int = DEFAULT_MAX_ACTIVE, admin_secret: str | None = None) -> None:
        self.inner = inner
        #: Required on ``/_lite/*`` (``X-Majora-Lite-Admin``); None refuses every admin request.
        self.admin_secret = admin_secret
        self._active = threading.BoundedSemaphore(max_active)

    def _django(self, environ, start_response):
        with self._active:
            COUNTERS.enter("active_requests")
            try:
                return self.inner(environ, start_response)
            finally:
                COUNTERS.leave("active_requests")

    def __call__(self, environ, start_response):
        path = _SLASHES.sub("/", environ.get("PATH_INFO", "") or "/")
        environ["PATH_INFO"] = path
        if path.startswith("/_lite/"):
            return self.admin(environ, start_response, path)
        COUNTERS.hit_path(path)
        method = environ.get("REQUEST_METHOD", "GET")
        grant_type = self._grant_type(environ) if path.startswith("/o/token/") else None
        rule = FAULTS.take(path, method, grant_type)
        if rule is None:
            return self._django(environ, start_response)
        COUNTERS.inc("faults_applied")
        if rule.get("delay"):
            time.sleep(float(rule["delay"]))
        action = rule["action"]
        if action == "delay":
            return self._django(environ, start_response)
        if action == "fail_task":
            # The request runs normally; any async task it starts ends in FAILURE (Celery's worker
            # raising), which nothing in majora-lite's data can otherwise cause.
            REQUEST.fail_task = True
            try:
                return self._django(environ, start_response)
            finally:
                REQUEST.fail_task = False
        if action == "drop":
            raise DropConnection
        if action in ("commit_then_drop", "commit_then_error"):
            # Let the request run to completion (and commit), then throw the response away.
            result = self._django(environ, lambda *a, **k: None)
            try:
                for _chunk in result:
                    pass
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            if action == "commit_then_drop":
                raise DropConnection
        body, ctype = _error_body(rule)
        headers = [("Content-Type", ctype), ("Content-Length", str(len(body)))]
        if rule.get("retry_after") is not None:
            headers.append(("Retry-After", str(int(rule["retry_after"]))))
        start_response(_status(rule["status"]), headers)
        return [body]

    @staticmethod
    def _grant_type(environ) -> str | None:
        """Peek at a token request's grant_type; the body is replayed to Django unchanged."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if length <= 0 or length > MAX_BODY_BYTES:
            return None
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            values = parse_qs(body.decode("latin-1")).get("grant_type")
        except ValueError:
            return None
        return values[0] if values else None

    def admin(self, environ, start_response, path):
        if not _is_loopback(environ):
            return _json_response(
                start_response, 403, {"detail": "majora-lite admin endpoints are loopback-only"}
            )
        # Loopback is every local account: the secret in the data directory (0600) tells the server's
        # owner apart from another user on the machine.
        sent = environ.get("HTTP_" + ADMIN_HEADER.upper().replace("-", "_"), "")
        if not self.admin_secret or not hmac.compare_digest(sent.encode(), self.admin_secret.encode()):
            return _json_response(
                start_response, 403,
                {"detail": f"majora-lite admin endpoints need the {ADMIN_HEADER} header holding the "
                           f"contents of {ADMIN_SECRET_FILE} in the server's data directory"},
            )
        from majora_lite.web.middleware import admin_refusal  # needs Django configured

        refusal = admin_refusal(environ)
        if refusal is not None:
            return _json_response(start_response, 403, {"detail": f"majora-lite admin endpoints: {refusal}"})
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/_lite/counters" and method == "GET":
            return _json_response(start_response, 200, COUNTERS.snapshot())
        if path == "/_lite/counters/reset" and method == "POST":
            COUNTERS.reset()
            return _json_response(start_response, 200, COUNTERS.snapshot())
        if path == "/_lite/faults":
            if method == "GET":
                return _json_response(start_response, 200, {"rules": FAULTS.rules()})
            if method == "DELETE":
                FAULTS.clear()
                return _json_response(start_response, 200, {"rules": []})
            if method == "POST":
                try:
                    length = int(environ.get("CONTENT_LENGTH") or 0)
                    if length > 1024 * 1024:
                        raise FaultRuleError("fault rules body too large")
                    raw = environ["wsgi.input"].read(length) if length > 0 else b"[]"
                    rules = FAULTS.replace(json.loads(raw))
                except (ValueError, RecursionError, FaultRuleError) as exc:
                    return _json_response(start_response, 400, {"detail": f"invalid fault rules: {exc}"})
                return _json_response(start_response, 200, {"rules": rules})
        if path.startswith("/_lite/biosample/") and method == "GET":
            return self._biosample_revision(start_response, path[len("/_lite/biosample/") :].strip("/"))
        return _json_response(start_response, 404, {"detail": "unknown admin endpoint"})

    @staticmethod
    def _biosample_revision(start_response, csid: str):
        """Internal change marker of a biosample (not in Majora's output, so not in the API)."""
        from django.db import close_old_connections

        from majora_lite.majora2.models import BiosampleArtifact

        close_old_connections()
        bs = BiosampleArtifact.objects.filter(central_sample_id=csid).first()
        if bs is None:
            return _json_response(start_response, 404, {"detail": f"no biosample {csid!r}"})
        return _json_response(
            start_response,
            200,
            {
                "central_sample_id": bs.central_sample_id,
                "revision": bs.revision,
                "modified": bs.modified.isoformat() if bs.modified else None,
            },
        )
