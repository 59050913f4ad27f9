"""Secret redaction for logging.

Two layers, because either alone can be bypassed:

* every secret the library handles is registered with :func:`register_secret` and replaced by a
  fingerprint in any log record that passes a :class:`RedactingFilter`;
* well-known token-shaped patterns (``"access_token": "..."``, ``Bearer ...``, ``refresh_token=...``)
  are masked even if the value was never registered.

requests-oauthlib and oauthlib log whole token dicts at DEBUG, so their loggers are clamped to INFO
and filtered whatever level the user asks for.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
_MIN_SECRET_LEN = 6

# Key names; the underscore may arrive URL-encoded (``refresh%5Ftoken``).
_U = r"(?:_|%5F)"
_KEYS = rf"(?:access{_U}token|refresh{_U}token|client{_U}secret|password|api{_U}key|token|code)"
#: An optional quote, escaped or not (``"``, ``'``, ``\\"`` inside a JSON string holding JSON).
_Q = r"""(?:\\*["'])?"""
_PATTERNS = [
    # key: value, key=value, key => value, JSON ("key": "value", {\"key\": \"value\"}, "key": ["value"]).
    # A value never starts with a backtick: "`client_secret:` under profiles..." is a message, not a secret.
    re.compile(
        rf"""(?P<k>(?<![A-Za-z0-9_]){_Q}{_KEYS}{_Q}\s*(?:=>|[:=])\s*(?:\[\s*)?{_Q})"""
        r"""(?P<v>[^"'`\\\s,&}\]][^"'\\\s,&}\]]*)""",
        re.IGNORECASE,
    ),
    # The same pairs URL-encoded (a form body or query string inside a logged URL): key%3Dvalue,
    # "key"%3A"value".
    re.compile(rf"(?P<k>(?:(?<![A-Za-z0-9_])|(?<=%[0-9A-Fa-f]{{2}})){_KEYS}(?:%22)?(?:%3D|%3A)(?:%20|\+)*(?:%22)?)(?P<v>[^%&\s\"']+)",
               re.IGNORECASE),
    re.compile(r"(?P<k>Bearer\s+)(?P<v>[A-Za-z0-9._~+/=-]+)", re.IGNORECASE),
    re.compile(r"(?P<k>Basic\s+)(?P<v>[A-Za-z0-9+/]{4,}=*)", re.IGNORECASE),
    # user:password@ in a URL
    re.compile(r"(?P<k>[a-z][a-z0-9+.-]*://[^/@\s:]*:)(?P<v>[^/@\s]+)(?=@)", re.IGNORECASE),
]
_NOISY_LOGGERS = ("requests_oauthlib", "oauthlib")
_OURS = ("snakemake_majora", "snakemake_storage_plugin_majora", *_NOISY_LOGGERS)
_installed = False


def fingerprint(secret: str | None) -> str:
    """Short non-reversible tag for a secret, safe to log (``sha256[:8]``)."""
    if not secret:
        return "-"
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:8]


def register_secret(value: object) -> None:
    """Remember ``value`` so that it is masked in every filtered log record (text only: a mistyped
    setting is reported by the config checks, not crashed on here)."""
    if isinstance(value, str) and len(value) >= _MIN_SECRET_LEN and value.upper() != "OAUTH":
        with _SECRETS_LOCK:
            _SECRETS.add(value)


def redact(text: str) -> str:
    """Mask registered secrets and token-shaped key/value pairs in ``text``."""
    with _SECRETS_LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for s in secrets:
        if s in text:
            text = text.replace(s, "<redacted>")
    for pat in _PATTERNS:
        text = pat.sub(lambda m: m.group("k") + ("<redacted>" if m.group("v") != "OAUTH" else "OAUTH"), text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with secrets masked; never drops records of our own loggers."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.split(".")[0] in _NOISY_LOGGERS and record.levelno < logging.INFO:
            return False
        try:
            msg = record.getMessage()
        except Exception:  # a broken format string must not break logging
            msg = str(record.msg)
        red = redact(msg)
        if red != msg or record.args:
            record.msg, record.args = red, None
        if record.exc_info and record.exc_info[1] is not None:
            # Formatters render tracebacks from exc_info; pre-render it redacted instead.
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
            record.msg = f"{record.msg}\n{redact(text)}"
        return True


_FILTER = RedactingFilter()


def clamp_noisy_loggers() -> None:
    """Keep requests-oauthlib/oauthlib quiet (they log token dicts at DEBUG) and filter them."""
    for name in _NOISY_LOGGERS:
        lg = logging.getLogger(name)
        if lg.level == logging.NOTSET or lg.level < logging.INFO:
            lg.setLevel(logging.INFO)
        if _FILTER not in lg.filters:
            lg.addFilter(_FILTER)
    for name in ("requests_oauthlib.oauth2_session", "oauthlib.oauth2.rfc6749.parameters"):
        lg = logging.getLogger(name)
        if lg.level == logging.NOTSET or lg.level < logging.INFO:
            lg.setLevel(logging.INFO)
        if _FILTER not in lg.filters:
            lg.addFilter(_FILTER)


def _redacting_factory(base: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        if record.name.split(".")[0] in _OURS:
            _FILTER.filter(record)
        return record

    make._majora_redacting = True  # type: ignore[attr-defined]
    return make


def install_record_factory() -> None:
    """Redact records of our loggers (and of oauthlib's) as they are created, whichever handler gets
    them: logger filters only cover loggers that existed when :func:`install` ran, and modules imported
    lazily (``snakemake_majora.oauth``) create theirs later."""
    with _SECRETS_LOCK:
        base = logging.getLogRecordFactory()
        if not getattr(base, "_majora_redacting", False):
            logging.setLogRecordFactory(_redacting_factory(base))


def install(handler: logging.Handler | None = None) -> None:
    """Clamp noisy loggers and attach the redacting filter to ``handler`` and to every root handler.

    Library code calls it with no handler (idempotent); the CLI passes the handler it creates.
    """
    global _installed
    clamp_noisy_loggers()
    install_record_factory()
    # Logger filters only see records created on that very logger, so attach to each of ours.
    names = ["snakemake_majora"] + [n for n in list(logging.root.manager.loggerDict)
                                    if n.startswith("snakemake_majora.")]
    for name in names:
        lg = logging.getLogger(name)
        if _FILTER not in lg.filters:
            lg.addFilter(_FILTER)
    handlers = list(logging.getLogger().handlers)
    if handler is not None:
        handlers.append(handler)
    for h in handlers:
        if _FILTER not in h.filters:
            h.addFilter(_FILTER)
    _installed = True
