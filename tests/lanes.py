"""The long lanes: tests behind a lane marker (pyproject.toml) that `make test` deselects.

`make test` must fit CI's 20-minute budget on 2 cores, so the lanes that install system packages or
simulate a cluster for minutes run with `make test-lanes` (only them) or `make test-all` (everything).
So that nobody takes a deselected lane for a passed one, every run that deselected lane tests says at
its end which lanes did not run, how many tests each, and the command that runs them.
"""

from __future__ import annotations

from collections import Counter

import pytest

#: The lane markers, in the order they are reported (each is registered in pyproject.toml).
LANES = ("slurm", "browser", "cluster")

_deselected: Counter[str] = Counter()


def pytest_deselected(items: list[pytest.Item]) -> None:
    for item in items:
        for lane in LANES:
            if item.get_closest_marker(lane) is not None:
                _deselected[lane] += 1


def pytest_terminal_summary(terminalreporter) -> None:
    if not _deselected:
        return
    parts = ", ".join(f"{lane} ({_deselected[lane]} tests)" for lane in LANES if _deselected[lane])
    terminalreporter.write_line(
        f"NOT RUN: the lanes {parts} were deselected; `make test-lanes` runs them, `make test-all` runs "
        "everything.", yellow=True, bold=True)
