"""A data directory made before majora-lite moved to its own package (issue 21) still opens and serves.

``tests/data/premove-datadir/majora-lite.sqlite3.gz`` is the database that
``python -m snakemake_majora.server seed --data-dir D --biosamples 5`` made at da2da36, the last commit
before the move, gzipped (760 KB -> 37 KB). It holds synthetic data only: six site bots without
passwords, no OAuth application, token or API key. Its ``secret_key`` was not kept: a data dir without
one gets a new one, which only ends web sessions.

The move kept the app label ``majora2`` and the four migrations, so Django finds the database's
migration history complete: opening it applies only the migrations added since (``0005_indexes``, two
indexes, no change to the data), and the models still match the migrations.
"""

from __future__ import annotations

import gzip
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import requests

from majora_lite.ops.harness import LiteServer
from majora_lite.server.settings import DB_NAME

FIXTURE = Path(__file__).resolve().parent / "data" / "premove-datadir" / f"{DB_NAME}.gz"
MIGRATIONS = ["0001_initial", "0002_pag", "0003_oauth", "0004_seq"]
#: Added after the move; opening an old data dir applies them and nothing else.
LATER = ["0005_indexes"]


def _premove_data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "premove"
    data.mkdir(mode=0o700)
    fd = os.open(data / DB_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with gzip.open(FIXTURE, "rb") as src, os.fdopen(fd, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return data


def _migrations(data: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(f"file:{data / DB_NAME}?mode=ro", uri=True) as con:
        return sorted(con.execute("SELECT app, name FROM django_migrations").fetchall())


def test_a_premove_data_dir_opens_with_the_later_migrations_and_serves_its_biosamples(tmp_path: Path) -> None:
    data = _premove_data_dir(tmp_path)
    before = _migrations(data)
    assert [name for app, name in before if app == "majora2"] == MIGRATIONS
    server = LiteServer(data)
    # Admin commands open the database through Django (and run ``migrate``) before doing anything.
    server.add_user("premove", "premove-pw", perms=["majora2.view_biosampleartifact"], org="BIRM")
    key = server.apikey("premove")
    assert _migrations(data) == sorted([*before, *(("majora2", name) for name in LATER)]), (
        "opening the old database applied a migration other than the later ones"
    )
    server.start()
    try:
        r = requests.post(
            f"{server.url}api/v2/artifact/biosample/get/",
            json={"username": "premove", "token": key, "central_sample_id": "BIRM-00001"},
            timeout=30,
        )
    finally:
        server.stop()
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["errors"] == 0, body
    sample = body["get"]["BIRM-00001"]
    assert sample["central_sample_id"] == "BIRM-00001"
    assert sample["submission_org_code"] == "BIRM" and sample["adm0"]
    assert set(sample["metrics"]) and sample["published_as"], sample


def test_the_models_match_the_migrations(tmp_path: Path) -> None:
    """Serialisation moved out of the models: nothing a migration records changed."""
    code = (
        "import sys\n"
        "from majora_lite.server import settings\n"
        "settings.configure(sys.argv[1])\n"
        "from django.core.management import call_command\n"
        "call_command('makemigrations', 'majora2', check=True, dry_run=True, verbosity=0)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "d")], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stdout + r.stderr
