"""The spool's renderers without a server: the fast indented JSON is the standard library's text, the
envelope reader finds what ``parse`` found, and every run of a spooled ``sequencing/get '*'`` answer is
written in run-name order whatever order Majora listed them in."""

from __future__ import annotations

import hashlib
import io
import json
import math
from pathlib import Path

import pytest

from snakemake_majora.jsonindent import IndentedJSON
from snakemake_majora.records import canonical_json
from snakemake_majora.spool import envelope, write_canonical, write_runs

# What JSON-parsed answers can hold: nesting of every kind, empty containers at every level, unicode
# (escaped or not), control characters, quotes, big and negative numbers, floats json prints in
# exponent form, NaN/Infinity (json.dumps writes them), and containers of scalars next to mixed ones.
VALUES = [
    {},
    [],
    "é\u2028\x00\"\\\t/",
    12345678901234567890,
    -0.0,
    1e-05,
    1.5e300,
    math.inf,
    True,
    None,
    {"b": [], "a": {}, "c": [[], [{}], [1, "x", None]], "d": {"z": {"y": {"x": []}}}},
    {"metrics": {"ct": {"records": [{"ct_value": 21.3, "test_kit": "ALTONA"}]}}, "n": 1, "ok": False},
    [{"k": "v", "é": "ü"}, ["nested", ["deeper", {"a": 1}]], 3, "s", {}],
    {"\u00e9": 1, "E": 2, "e": 3, "": 4, "10": 5, "9": 6},
]


@pytest.mark.parametrize("indent,ascii_", [(1, False), (2, True), (2, False), (4, True)])
@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_indented_json_is_the_standard_librarys_text(value, indent: int, ascii_: bool) -> None:
    render = IndentedJSON(indent, ascii_)
    want = json.dumps(value, sort_keys=True, indent=indent, ensure_ascii=ascii_)
    assert render.dumps(value) == want
    pad = " " * (2 * indent)
    assert render.dumps(value, 2) == want.replace("\n", "\n" + pad)


def _answer(tmp_path: Path, answer: dict) -> Path:
    path = tmp_path / "answer.json"
    path.write_text(json.dumps(answer))
    return path


def test_envelope_reads_the_small_parts_only(tmp_path: Path) -> None:
    answer = {
        "errors": 0, "warnings": 2, "messages": ["one", {"skip": "me"}, 3], "tasks": ["t1"],
        "get": {"result": [{"count": 99, "messages": ["inner"]}], "count": 1, "extra": None},
        "ignored": ["x"], "task": {"id": "abc", "state": "SUCCESS", "cleaned": True, "nested": {"a": "b"}},
    }
    assert envelope(_answer(tmp_path, answer)) == {
        "errors": 0, "warnings": 2, "messages": ["one", 3], "tasks": ["t1"],
        "get": {"count": 1, "extra": None}, "task": {"id": "abc", "state": "SUCCESS", "cleaned": True},
    }


RUNS = {
    # Listed as Majora does, in database order: not by name.
    "260301_ZETA_1": {"run_name": "260301_ZETA_1", "libraries": [{"biosamples": [{"id": "é"}]}],
                      "ct": 1e-05},
    "000_FIRST": {"run_name": "000_FIRST", "libraries": [], "meta": {}},
    "Apple": {"run_name": "Apple", "n": [1, [2, {"b": 1, "a": 2}]]},
    "apple": {"run_name": "apple", "flag": None},
}


@pytest.mark.parametrize("runs", [RUNS, {}], ids=["runs", "none"])
def test_every_run_is_written_in_name_order_as_the_in_memory_path(tmp_path: Path, runs: dict) -> None:
    path = _answer(tmp_path, {"errors": 0, "get": {"result": runs, "count": len(runs)},
                              "task": {"state": "SUCCESS"}})
    plugin, cli = io.BytesIO(), io.BytesIO()
    digest, size = write_canonical(path, "sequencing", False, plugin, envelope(path).get("get"))
    assert plugin.getvalue() == canonical_json(runs)  # the non-spooled render of the same answer
    want = canonical_json(runs)
    assert (digest, size) == (hashlib.sha256(want).hexdigest(), len(want))
    write_runs(path, cli, indent=2, ensure_ascii=True)
    assert cli.getvalue().decode() == json.dumps(runs, indent=2, sort_keys=True) + "\n"  # the CLI's output
