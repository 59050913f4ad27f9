"""Stopping a Snakemake run whose Majora inputs could not be checked, loudly and with a sysexits code.

Snakemake asks a storage object ``exists()``/``mtime()`` while it builds the DAG and swallows any
``Exception`` from them when the job's output already exists (it logs it at debug level only). A re-run
with Majora down, or with a dead credential, would then say "Nothing to be done" and exit 0: the record
that changed on Majora is silently missed. Snakemake catches ``Exception`` there, never ``BaseException``,
so the main process ends the run with :class:`RunStopped` (a ``SystemExit``), after printing one line that
names the cause, how many inputs could not be checked and what to do. Job processes never get here: their
inputs were checked by the main process, and a failing job is loud already.

The offline side lives here too: with ``recheck: never`` or a window, inputs used from verified local copies
without asking Majora are counted, and the main process says once, at exit, how many and how old.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import (
    EX_NOINPUT,
    EX_SOFTWARE,
    AuthError,
    ConfigError,
    MajoraError,
    NotFoundError,
    ServerError,
    TemporaryError,
)

OFFLINE_HINT = "re-run with --storage-majora-recheck never (or a window such as 12h) to use the local copies"


class RunStopped(SystemExit):
    """Ends the run with ``code`` (sysexits); ``message`` has already been printed."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(code)
        self.message = message


@dataclass(frozen=True)
class Failure:
    """One input that could not be confirmed: its query and why (``None``: Majora has no such record)."""

    query: str
    error: MajoraError | None


def what_to_do(err: MajoraError | None) -> tuple[int, str]:
    """``(exit code, advice)`` for a failure; the code is the error's own sysexits code."""
    if err is None or isinstance(err, NotFoundError):
        return EX_NOINPUT, "check the identifiers in the workflow's inputs (e.g. `snakemake-majora get " \
                           "biosample <id>`) and Majora's permissions for them"
    if isinstance(err, AuthError):
        named = "snakemake-majora login" in str(err)
        login = "log in again" + ("" if named else " (`snakemake-majora login`)")
        return err.exit_code, f"{login}, or {OFFLINE_HINT} knowingly"
    if isinstance(err, ConfigError):
        return err.exit_code, "fix the snakemake-majora configuration (`snakemake-majora doctor` checks it)"
    if isinstance(err, TemporaryError | ServerError):
        return err.exit_code, f"retry later, or {OFFLINE_HINT} knowingly"
    return getattr(err, "exit_code", EX_SOFTWARE), f"fix the cause, or {OFFLINE_HINT} knowingly"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def stop_message(failures: list[Failure], unchecked: int, offline: bool = False) -> tuple[str, int]:
    """The one line and the exit code for a run stopped by ``failures`` (``unchecked`` >= len(failures));
    ``offline``: the run already trusts verified local copies (``recheck`` never or a window)."""
    missing = [f for f in failures if f.error is None or isinstance(f.error, NotFoundError)]
    broken = [f for f in failures if f not in missing]
    if broken:
        first = broken[0]
        assert first.error is not None
        code, advice = what_to_do(first.error)
        if offline:
            advice = ("an offline run can only use local copies that the ledger verifies: run again when "
                      "Majora can be reached (it fetches the missing ones)")
        n = max(unchecked, len(failures))
        return (f"majora: {n} Majora input{'s' if n != 1 else ''} of this run could not be checked "
                f"(first: {first.query}: {_one_line(str(first.error))}); {advice}."), code
    code, advice = what_to_do(None)
    names = ", ".join(f.query for f in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3
                                                        else "")
    return (f"majora: not found on Majora: {names} (Majora answered that it has no such record); "
            f"{advice}."), code


def stop_run(failures: list[Failure], unchecked: int, offline: bool = False) -> RunStopped:
    """Print the one line to stderr (Snakemake's log handlers may hide library logging) and return the
    exception that ends the run."""
    message, code = stop_message(failures, unchecked, offline)
    print(message, file=sys.stderr, flush=True)
    return RunStopped(message, code)


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}" if unit != "d" else f"{seconds / size:.1f}d"
    return f"{seconds:.0f}s"


class OfflineUse:
    """Inputs this process used from verified local copies without asking Majora (``recheck``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checked: dict[str, float] = {}  # query -> when Majora last confirmed it

    def add(self, query: str, checked: float) -> None:
        with self._lock:
            self._checked[query] = checked

    def summary(self, recheck: str, now: float | None = None) -> str | None:
        """The one line to print at exit, or None when every input was asked."""
        with self._lock:
            times: Iterable[float] = list(self._checked.values())
        times = list(times)
        if not times:
            return None
        now = time.time() if now is None else now
        n = len(times)
        return (f"majora: {n} input{'s' if n != 1 else ''} used from local copies without asking Majora "
                f"(recheck: {recheck}); last confirmed by Majora {_age(now - max(times))} ago, the oldest "
                f"{_age(now - min(times))} ago; changes made on Majora since then are not seen "
                "(--storage-majora-recheck always checks them).")
