"""In-process state shared by the API and the layers above: exact counters and per-request flags."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

COUNTER_NAMES = (
    "token_endpoint_calls",
    "refreshes",
    "code_exchanges",
    "invalid_grant",
    "family_revocations",
    "api_calls",
    "faults_applied",
)
#: Per-request-thread flags set by the WSGI layer for Django code (``fail_task`` -> ``REQUEST.fail_task``).
REQUEST = threading.local()


class Counters:
    """Thread-safe counters; ``snapshot`` gives a consistent copy."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._c: Counter = Counter()
        self._paths: Counter = Counter()

    def inc(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._c[name] += n

    def enter(self, gauge: str) -> None:
        """Count one more request inside ``gauge``; ``peak_<gauge>`` keeps the highest level seen."""
        with self._lock:
            self._c[gauge] += 1
            self._c["peak_" + gauge] = max(self._c["peak_" + gauge], self._c[gauge])

    def leave(self, gauge: str) -> None:
        with self._lock:
            self._c[gauge] -= 1

    def hit_path(self, path: str) -> None:
        with self._lock:
            self._paths[path] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {name: self._c.get(name, 0) for name in COUNTER_NAMES}
            out.update({k: v for k, v in self._c.items() if k not in out})
            out["paths"] = dict(self._paths)
            return out

    def reset(self) -> None:
        with self._lock:
            # Gauges describe requests still running; keep them (and restart their peaks from now).
            gauges = {k: v for k, v in self._c.items() if "peak_" + k in self._c}
            self._c.clear()
            self._paths.clear()
            for name, level in gauges.items():
                self._c[name] = level
                self._c["peak_" + name] = level


COUNTERS = Counters()
