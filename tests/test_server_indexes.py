"""The lookups majora-lite's API makes by a name or a path are index searches, not table scans.

A scan costs nothing on a test-sized database and grows with the server: ``meta/metric/add`` by
``artifact_path`` scanned every file, 0.3 s a request on a 100,000-PAG server, 27 of the 31 s of SQL
the example workflow's 96-sample batch cost that server (docs/benchmarks.md, "Production scale").
The plans are read from SQLite (``EXPLAIN QUERY PLAN``) on a migrated database: no data, no timing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from majora_lite.ops.harness import LiteServer
from majora_lite.server.settings import DB_NAME

# table, column, the API path that looks a row up by it.
LOOKUPS = [
    ("majora2_digitalresourceartifact", "current_path", "meta/metric/add by artifact_path"),
    ("majora2_digitalresourceartifact", "current_name", "artifact/file/get by name"),
    ("majora2_biosampleartifact", "anonymous_sample_id", "biosample add: is the anonymous id taken"),
    ("majora2_biosampleartifact", "central_sample_id", "biosample get/add"),
    ("majora2_majoraartifact", "dice_name", "file/add source artifacts, metric/add by artifact"),
    ("majora2_publishedartifactgroup", "published_name", "pag/qc/add, pag/accession/add"),
    ("majora2_dnasequencingprocess", "run_name", "sequencing get/add"),
]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("indexes")
    LiteServer(data).setup({})  # migrated, empty
    return data / DB_NAME


@pytest.mark.parametrize(("table", "column", "used_by"), LOOKUPS, ids=[f"{t}.{c}" for t, c, _ in LOOKUPS])
def test_a_lookup_by_name_is_an_index_search(db: Path, table: str, column: str, used_by: str) -> None:
    # The names come from LOOKUPS above, not from input.
    sql = f'EXPLAIN QUERY PLAN SELECT * FROM "{table}" WHERE "{column}" = ?'  # noqa: S608
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        plan = [row[3] for row in con.execute(sql, ["x"])]
    assert any(step.startswith("SEARCH") and "INDEX" in step for step in plan), (
        f"{used_by} scans {table} by {column}: {plan}"
    )
