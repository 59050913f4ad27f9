"""Fixtures for the server tests: a shared seeded majora-lite (``lite``) and a factory (``lite_factory``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from majora_lite.ops.harness import LiteServer

LITE_USER = "alice"
LITE_PASSWORD = "alice-pw"
LITE_ORG = "HOOT"
QC_DEFINITIONS = Path(__file__).resolve().parent.parent / "majora_lite" / "data" / "qc"


class LiteHandle(dict):
    """Started server info with attribute and dict access (``url``, ``client_id``, ``client_secret``,
    ``username``, ``password``, ``seed_summary``, ``server``, ``data_dir``); other attributes (``approve``,
    ``set_faults``, ``counters``, ...) come from the underlying ``LiteServer``."""

    def __getattr__(self, name: str) -> Any:
        if name in self:
            return self[name]
        return getattr(self["server"], name)


def start_lite(data_dir, *, biosamples: int = 200, bulk_seed: dict | None = None,
               **options: Any) -> LiteHandle:
    """Set up (seed, alice with all perms in HOOT, one app) and start a majora-lite server; ``bulk_seed``
    adds a bulk seed (``{"biosamples", "pags", "orphan_pags", ...}``) after the seed."""
    server = LiteServer(data_dir, **options)
    out = server.setup(
        {
            "seed": {"biosamples": biosamples},
            **({"bulk_seed": bulk_seed} if bulk_seed is not None else {}),
            "users": [{"username": LITE_USER, "password": LITE_PASSWORD, "org": LITE_ORG, "all_perms": True,
                       "totp": True}],
            "apps": [{"name": "snakemake-majora-tests"}],
            # Majora's QC test definitions, so that meta/qc/add evaluates real rules (as the corpus baseline).
            "qc": [str(QC_DEFINITIONS)],
        }
    )
    server.start()
    app = out["apps"][0]
    return LiteHandle(
        url=server.url,
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        username=LITE_USER,
        password=LITE_PASSWORD,
        seed_summary=out["seed"],
        server=server,
        data_dir=str(data_dir),
    )


@pytest.fixture(scope="session")
def lite(tmp_path_factory):
    """A session-wide seeded majora-lite (200 biosamples), user alice/alice-pw (all perms), one app."""
    handle = start_lite(tmp_path_factory.mktemp("majora-lite"), biosamples=200)
    try:
        yield handle
    finally:
        handle.server.stop()


@pytest.fixture
def lite_factory(tmp_path_factory):
    """``lite_factory(strict=..., access_token_lifetime=..., grace=..., biosamples=..., faults=..., env=...)``
    returns a started, seeded server like ``lite``; all are stopped at teardown."""
    started: list[LiteHandle] = []

    def make(*, biosamples: int = 20, **options: Any) -> LiteHandle:
        handle = start_lite(tmp_path_factory.mktemp("majora-lite-f"), biosamples=biosamples, **options)
        started.append(handle)
        return handle

    try:
        yield make
    finally:
        for handle in started:
            handle.server.stop()
