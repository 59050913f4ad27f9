"""Large listings are written while parsed: a PAG listing over the spool threshold comes back as its
task file, the local copy is written item by item, and its bytes (so the checksum and the ledger) are
those of the in-memory path; a workflow with such an input reruns as nothing-to-do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures_plugin import existing_samples, jobs_run, login_home, output_of, run_snakemake
from fixtures_server import start_lite

from snakemake_majora import client as client_module
from snakemake_majora.client import SPOOL_SMALL
from snakemake_majora.fetch import RecordFetcher
from snakemake_majora.queries import parse

QC = "cog-uk-elan-minimal-qc"


@pytest.fixture(scope="module")
def big_lite(tmp_path_factory):
    # ~600 PAGs: the default-mode listing is over the 1 MiB spool threshold, pagfiles mode under it.
    handle = start_lite(tmp_path_factory.mktemp("lite-spool"), biosamples=6,
                        bulk_seed={"biosamples": 600, "pags": 600})
    try:
        yield handle
    finally:
        handle.server.stop()


@pytest.mark.parametrize("query", [f"majora://pag/{QC}", f"majora://pag/{QC}.tsv",
                                   f"majora://pag/{QC}?mode=pagfiles"])
def test_spooled_listing_has_the_bytes_of_the_in_memory_path(big_lite, tmp_path: Path, query: str) -> None:
    home = login_home(big_lite, tmp_path / "home")
    q = parse(query)
    streamed = RecordFetcher(home.client, spool_dir=tmp_path / "spool")
    in_memory = RecordFetcher(home.client)
    try:
        got, want = streamed.get(q), in_memory.get(q)
    finally:
        streamed.shutdown()
        in_memory.shutdown()
    assert got is not None and want is not None
    big = "mode=pagfiles" not in query
    # The default-mode listing was spooled (a file, never a body in memory); pagfiles was small.
    assert (got.path is not None) == big
    if big:
        assert want.size > SPOOL_SMALL
        assert Path(got.path).read_bytes() == want.body
        tasks = list((home.home / "tasks").glob("*.json"))
        assert any(t.stat().st_size > SPOOL_SMALL for t in tasks)  # the raw answer kept, as every result
    assert (got.digest, got.size, got.checksum) == (want.digest, want.size, want.checksum)


def test_workflow_with_a_spooled_listing_input_reruns_as_nothing_to_do(big_lite, tmp_path: Path) -> None:
    home = login_home(big_lite, tmp_path / "home")
    snakefile = f"""
        rule all:
            input: "n.txt"

        rule count:
            input: storage.majora("majora://pag/{QC}")
            output: "n.txt"
            run:
                import json
                data = json.load(open(input[0]))
                open(output[0], "w").write(str(len(data["result"])) + "\\n")
        """
    work = tmp_path / "wf"
    proc = run_snakemake(work, home.env, "--cores", "1", snakefile=snakefile)
    assert proc.returncode == 0, output_of(proc)[-3000:]
    assert jobs_run(proc, "count") == 1
    assert int((work / "n.txt").read_text()) >= 600  # the local copy the job read held the listing
    assert not list((work / ".snakemake" / "storage").rglob(".majora-spool/*"))  # spooled copies cleaned
    again = run_snakemake(work, home.env, "--cores", "1", "--dry-run")
    assert again.returncode == 0, output_of(again)[-3000:]
    assert "Nothing to be done" in output_of(again), output_of(again)[-3000:]


@pytest.fixture(scope="module")
def late_run(big_lite, tmp_path_factory) -> str:
    """A run added to the seeded ones, whose name sorts first."""
    home = login_home(big_lite, tmp_path_factory.mktemp("late-run"))
    client = home.client()
    sample = existing_samples(home, 1)[0]
    lib = client.add_library({"library_name": "000-LATE-LIB", "library_layout_config": "SINGLE",
                              "library_seq_kit": "NEB", "library_seq_protocol": "ARTIC",
                              "biosamples": [{"central_sample_id": sample, "library_source": "VIRAL_RNA",
                                              "library_selection": "PCR", "library_strategy": "AMPLICON"}]})
    assert lib["success"], lib["messages"]
    seq = client.add_sequencing({"library_name": "000-LATE-LIB", "runs": [
        {"run_name": "000-LATE-RUN", "instrument_make": "OXFORD_NANOPORE", "instrument_model": "GridION"}]})
    assert seq["success"], seq["messages"]
    return "000-LATE-RUN"


def _every_run_answer(home) -> list[str]:
    """The run names of the task file holding a sequencing '*' answer, in Majora's order."""
    for f in (home.home / "tasks").glob("*.json"):
        result = json.loads(f.read_text()).get("get", {}).get("result")
        if isinstance(result, dict):
            return list(result)
    raise AssertionError("no sequencing '*' task answer kept")


def test_every_run_spooled_has_the_bytes_of_the_in_memory_path(big_lite, late_run, tmp_path: Path,
                                                               monkeypatch) -> None:
    """``majora://sequencing`` (every run): spooled (threshold lowered), its local copy is the in-memory
    render's bytes, sorted by run name although Majora listed the runs in another order."""
    monkeypatch.setattr(client_module, "SPOOL_SMALL", 1000)
    home = login_home(big_lite, tmp_path / "home")
    q = parse("majora://sequencing")
    streamed = RecordFetcher(home.client, spool_dir=tmp_path / "spool")
    in_memory = RecordFetcher(home.client)
    try:
        got = streamed.get(q)
        order = _every_run_answer(home)
        want = in_memory.get(q)
    finally:
        streamed.shutdown()
        in_memory.shutdown()
    assert got is not None and want is not None and got.path is not None and want.path is None
    # Majora's order (the runs' primary keys, UUIDs here) is not by name: the sort had work to do.
    assert late_run in order and len(order) >= 6 and order != sorted(order)
    assert Path(got.path).read_bytes() == want.body
    assert (got.digest, got.size, got.checksum) == (want.digest, want.size, want.checksum)
    assert list(json.loads(want.body)) == sorted(order)


def test_cli_writes_every_run_from_the_spooled_answer(big_lite, late_run, tmp_path: Path, monkeypatch,
                                                      capsysbinary) -> None:
    """``snakemake-majora get sequencing '*'`` writes a spooled answer run by run, with the bytes it
    printed for the answer held in memory (indent 2, sorted keys, ASCII)."""
    from snakemake_majora import cli

    home = login_home(big_lite, tmp_path / "home")
    for name, value in home.env.items():
        monkeypatch.setenv(name, value)
    want = home.cli("get", "sequencing", "*").stdout  # not spooled: the answer is under 1 MiB
    assert late_run in json.loads(want)
    monkeypatch.setattr(client_module, "SPOOL_SMALL", 1000)
    calls: list[Path] = []
    real = cli._emit_runs
    monkeypatch.setattr(cli, "_emit_runs", lambda a, answer: (calls.append(answer), real(a, answer))[1])
    assert cli.main(["get", "sequencing", "*", "-o", str(tmp_path / "runs.json"), "--quiet"]) == 0
    assert cli.main(["get", "sequencing", "*"]) == 0
    assert len(calls) == 2  # both written from the spooled task file
    assert (tmp_path / "runs.json").read_text() == want
    assert capsysbinary.readouterr().out.decode() == want
