"""majora-lite answers as the real Majora does: every recorded exchange of the conformance corpus.

The corpus (``../shared/majora-conformance/``, or ``MAJORA_CONFORMANCE_DIR``) was recorded from
Majora; ``tests/conformance/replay.py`` implements its README. One majora-lite with the README's
baseline serves the whole module; each scenario is one test failing with a compact per-exchange diff.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest
from conformance.replay import (
    Replayer,
    build_baseline,
    compare,
    corpus_dirs,
    load_scenarios,
    normalise,
)

from majora_lite.ops.harness import LiteServer

CORPUS_PRESENT = all(d.is_dir() for d in corpus_dirs())
SCENARIOS = load_scenarios() if CORPUS_PRESENT else []


@pytest.fixture(scope="module")
def replayer(tmp_path_factory):
    if not CORPUS_PRESENT:
        message = f"conformance corpus not found at {', '.join(map(str, corpus_dirs()))}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    server = LiteServer(tmp_path_factory.mktemp("conformance"))
    try:
        yield Replayer(build_baseline(server))
    finally:
        server.stop()


def test_corpus_is_present_and_counted():
    if not CORPUS_PRESENT and not os.environ.get("CI"):
        pytest.skip("conformance corpus not present outside CI")
    assert SCENARIOS, f"no scenarios in {corpus_dirs()}"
    assert all(s.steps for s in SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.path.stem for s in SCENARIOS])
def test_scenario_matches_majora(replayer, scenario):
    failing = [e for e in replayer.run(scenario) if not e.ok]
    assert not failing, "majora-lite differs from Majora:\n" + "\n".join(e.report() for e in failing)


# The replayer's own rules: a comparison that could not fail would make the scenarios above vacuous.

TODAY = dt.date(2026, 11, 28)


def test_normalise_uuids_timestamps_near_dates_and_tokens():
    raw = {
        "request": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        "when": "2026-11-27T10:01:02.123456+00:00",
        "day": "2026-11-25",
        "old": "2019-06-01",
        "2026-11-30": "in a key",
        "text": "run of 2026-11-28 by x",
        "access_token": "abc",
    }
    assert normalise(raw, TODAY) == {
        "request": "<uuid>",
        "when": "<timestamp>",
        "day": "{today-3}",
        "old": "2019-06-01",
        "{today+2}": "in a key",
        "text": "run of {today} by x",
        "access_token": "<token>",
    }


def test_compare_whole_json_reports_each_difference():
    expect = {"status": 200, "json": {"a": 1, "b": [1, 2], "c": {"d": None}}}
    assert compare(expect, 200, '{"a": 1, "b": [1, 2], "c": {"d": null}}', TODAY) == []
    problems = compare(expect, 400, '{"a": 2, "b": [2, 1], "c": {"d": ""}, "e": 0}', TODAY)
    assert problems[0] == "status: expected 200, got 400"
    assert any("$.a" in p for p in problems) and any("$.b[0]" in p for p in problems)
    assert any("$.c.d" in p for p in problems) and any("$.e: unexpected key" in p for p in problems)


def test_compare_empty_subset_ignore_and_absent():
    assert compare({"status": 400, "empty": True}, 400, "", TODAY) == []
    assert compare({"status": 400, "empty": True}, 400, "{}", TODAY)
    subset = {"status": 200, "match": "subset", "json": {"get": {"result": [{"n": "B"}]}}}
    assert compare(subset, 200, '{"x": 1, "get": {"result": [{"n": "A"}, {"n": "B", "m": 2}]}}', TODAY) == []
    assert compare(subset, 200, '{"get": {"result": [{"n": "A"}]}}', TODAY)
    ignore = {"status": 200, "ignore": ["test_results"], "json": {"test_results": "x", "ok": True}}
    assert compare(ignore, 200, '{"test_results": "other", "ok": true}', TODAY) == []
    assert compare(ignore, 200, '{"ok": true}', TODAY), "an ignored key must still be present"
    absent = {
        "status": 200,
        "match": "subset",
        "json": {},
        "absent": ["secret", {"in": "get.result", "item": {"n": "A"}}],
    }
    assert compare(absent, 200, '{"get": {"result": [{"n": "B"}]}}', TODAY) == []
    assert compare(absent, 200, '{"get": {"result": [{"n": "A", "z": 1}]}}', TODAY)
    assert compare(absent, 200, '{"secret": 1}', TODAY)
