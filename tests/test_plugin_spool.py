"""Large listings are written while parsed: a PAG listing over the spool threshold comes back as its
task file, the local copy is written item by item, and its bytes (so the checksum and the ledger) are
those of the in-memory path; a workflow with such an input reruns as nothing-to-do."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures_plugin import jobs_run, login_home, output_of, run_snakemake
from fixtures_server import start_lite

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
