"""The CLI's conventions: ``--json`` errors as one JSON object on stderr, ``status`` with ISO 8601 times and
the invalid marker in words, shell completion generated from the parser, and ``py.typed``."""

from __future__ import annotations

import json
import os
import re
import subprocess
from importlib.resources import files

import pytest
from fixtures_client import CLI, MajoraHome

ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def test_json_errors_are_one_object_on_stderr(majora_home):
    res = majora_home.cli("get", "biosample", "NOPE-00001", "--json", check=False)
    assert res.returncode == 66 and res.stdout == ""
    err = json.loads(res.stderr)  # the whole of stderr is one object
    assert err == {"error": "biosample NOPE-00001 not found on Majora", "exit_code": 66}
    usage = majora_home.cli("--json", "get", "biosample", check=False)
    assert usage.returncode == 64 and json.loads(usage.stderr)["exit_code"] == 64
    assert "required" in json.loads(usage.stderr)["error"]
    plain = majora_home.cli("get", "biosample", "NOPE-00001", check=False)
    assert plain.stderr == "snakemake-majora: error: biosample NOPE-00001 not found on Majora\n"


def test_status_shows_iso_times_and_the_invalid_marker_in_words(majora_home):
    out = majora_home.cli("status").stdout
    assert re.search(rf"^expires_at: {ISO}$", out, re.M) and re.search(r"^invalid: None$", out, re.M)
    data = majora_home.read_store()
    data["invalid"] = {"since": 1796229546.25, "reason": "invalid_grant", "generation": 1, "by": "node7:42"}
    fd = os.open(majora_home.token_file, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    res = majora_home.cli("status", check=False)
    assert res.returncode == 77
    line = next(x for x in res.stdout.splitlines() if x.startswith("invalid: "))
    assert line == ("invalid: Majora rejected the refresh token (invalid_grant) at 2026-12-02T16:39:06Z, "
                    "generation 1, seen by node7:42; run `snakemake-majora login`")
    st = json.loads(majora_home.cli("status", "--json", check=False).stdout)
    assert st["invalid"] == line.removeprefix("invalid: ") and re.fullmatch(ISO, st["expires_at"])


@pytest.mark.parametrize("shell,marker", [("bash", "complete "), ("zsh", "#compdef snakemake-majora"),
                                          ("fish", "complete --command snakemake-majora")])
def test_completion_scripts_for_each_shell(shell, marker, tmp_path):
    res = subprocess.run([*CLI, "completion", shell], capture_output=True, text=True, check=True)
    assert marker in res.stdout and "_ARGCOMPLETE" in res.stdout


def test_completion_answers_from_the_parser(tmp_path):
    """What the shell scripts ask: the candidates for a partly typed command line, from build_parser()."""

    def complete(line: str) -> list[str]:
        out = tmp_path / "candidates"
        env = {**os.environ, "_ARGCOMPLETE": "1", "_ARGCOMPLETE_IFS": "\n", "COMP_LINE": line,
               "COMP_POINT": str(len(line)), "_ARGCOMPLETE_STDOUT_FILENAME": str(out)}
        subprocess.run(CLI, env=env, capture_output=True, check=True, timeout=60)
        return [c.strip() for c in out.read_text().split("\n") if c.strip()]

    assert complete("snakemake-majora sta") == ["status"]
    assert {"biosample", "pag", "dataview"} <= set(complete("snakemake-majora get "))
    assert "--test-name" in complete("snakemake-majora get pag --te")


def test_packages_are_marked_typed():
    assert files("snakemake_majora").joinpath("py.typed").is_file()
    assert files("snakemake_storage_plugin_majora").joinpath("py.typed").is_file()


def test_wrong_shell_is_a_usage_error(tmp_path, lite):
    home = MajoraHome(lite, tmp_path, login=False)
    res = home.cli("completion", "tcsh", "--json", check=False)
    assert res.returncode == 64 and "invalid choice" in json.loads(res.stderr)["error"]
