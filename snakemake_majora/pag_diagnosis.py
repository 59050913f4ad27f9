"""Why Majora's ``pag/qc/get`` task failed, when the reason can be found: a PAG without a sequencing run.

Majora's default-mode listing (``task_get_pag_v2``) looks every matching PAG's run up by the name after
the colon of its published name; when that run was never registered (a consensus published without
``library/add`` + ``sequencing/add``) the Celery task raises and ``task/get`` answers only FAILURE, for
every user listing that test. ``mode: pagfiles`` is not affected, so it finds the PAGs, and one
``sequencing/get`` of their run names finds the runs Majora does not know.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import MajoraError, TaskFailed

if TYPE_CHECKING:
    from .client import MajoraClient

#: How many PAGs the message names.
SHOWN = 3


def run_of(published_name: str) -> str:
    """The run Majora looks a PAG up by: the text after the first colon (the whole name without one)."""
    parts = published_name.split(":")
    return parts[1] if len(parts) > 1 else published_name


def runless_pags(client: MajoraClient, body: dict[str, Any]) -> list[str]:
    """The PAGs matching ``body`` (the failed query's filters) whose run Majora does not know."""
    filters = {k: v for k, v in body.items() if k not in ("test_name", "mode")}
    kwargs = {("pass_" if k == "pass" else k): v for k, v in filters.items()}
    rows = client.get_pags(body["test_name"], mode="pagfiles", **kwargs).get("result") or []
    names = sorted({row[0] for row in rows if isinstance(row, list) and row})
    runs = sorted({run_of(n) for n in names})
    if not runs:
        return []
    known = set(client.get_sequencing(runs))
    return [n for n in names if run_of(n) not in known]


def explain_failure(client: MajoraClient, exc: TaskFailed, body: dict[str, Any]) -> MajoraError:
    """``exc`` with the cause and what to do when PAGs without a run are found; else ``exc`` itself."""
    try:
        runless = runless_pags(client, body)
    except MajoraError:
        return exc  # the diagnosis is a courtesy: the original failure is what the caller must see
    if not runless:
        return exc
    shown = ", ".join(f"{n} (run {run_of(n)})" for n in runless[:SHOWN])
    more = f" and {len(runless) - SHOWN} more" if len(runless) > SHOWN else ""
    return TaskFailed(
        f"{exc}: {len(runless)} PAG(s) of {body['test_name']} name a sequencing run Majora does not know: "
        f"{shown}{more}. Majora's pag/qc/get listing fails for every user while such a PAG matches; "
        "register the run (library/add, then sequencing/add), narrow the query with "
        "published_after/published_before, or ask for mode=pagfiles, which such PAGs do not break.",
        messages=exc.messages,
    )
