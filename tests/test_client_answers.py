"""Every Majora answer shape has one clear outcome (issue 10, items 2 and 4), against majora-lite.

The shapes are those recorded from Majora (corpus p10, p11, p12, p13, p20): an unknown artifact or PAG
(errors=1 with `ignored`), form errors, accepted calls with warnings and ignored namespaces, the
wildcard run listing without its permission (no task, no error), a 500 on a write, Majora's refusal of
an outdated Ocarina client. Each test fails if the client's or the CLI's handling of its shape is
removed.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from fixtures_client import MajoraHome

from snakemake_majora import client as client_module
from snakemake_majora.client import MajoraClient
from snakemake_majora.config import DEFAULT_SCOPES, load_settings
from snakemake_majora.demo import PUBLISH_SCOPES
from snakemake_majora.errors import AuthError, MajoraAPIError, NotFoundError, ServerError
from snakemake_majora.payloads import file_record

HQ_TEST = "cog-uk-high-quality-public"
SCOPES = [*DEFAULT_SCOPES, *PUBLISH_SCOPES]
SEQUENCE = {"num_seqs": "1", "num_bases": "29903", "pc_acgt": "97.5", "pc_masked": "2.5", "pc_invalid": "0"}


@pytest.fixture(scope="module")
def pub_home(lite, tmp_path_factory):
    """A home with the publishing scopes, and one consensus file registered in a PAG of its own."""
    root = tmp_path_factory.mktemp("answers")
    home = MajoraHome(lite, root, scopes=SCOPES)
    fasta = root / "HOOT-ANS-1.fa"
    fasta.write_text(">HOOT-ANS-1\n" + "ACGT" * 7475 + "ACG\n")
    c = MajoraClient(load_settings(env=home.env))
    sample = lite.seed_summary["example"]["central_sample_id"]
    pag = f"COGUK/{sample}/HOOT:ANSWERS-RUN"
    body = file_record(fasta, resource_type="consensus", pipeline=("answers", "Pipeline", "answers", "1"),
                       bridge_artifact=sample, source_artifacts=[sample], publish_group=pag,
                       metadata={"sequencing": {"platform": "ILLUMINA"}})
    assert c.add_file(body)["success"]
    home.fasta, home.pag, home.client, home.sample = str(fasta.absolute()), pag, c, sample
    yield home
    c.close()


def test_unknown_artifact_is_not_found_naming_it(pub_home):
    # Majora: errors=1, messages=[], ignored=[["HOOT-P11-NOPE", ""]] (no message at all).
    with pytest.raises(NotFoundError) as ei:
        pub_home.client.add_metrics("HOOT-NOPE-1", {"sequence": SEQUENCE})
    assert ei.value.exit_code == 66 and "artifact HOOT-NOPE-1 not found on Majora" in str(ei.value)
    res = pub_home.cli("put", "metric", "--artifact-path", "/nowhere/x.fa", "--metric", "sequence",
                       "num_seqs", "1", check=False)
    assert res.returncode == 66, res.stderr
    assert "no artifact at path /nowhere/x.fa on Majora" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "no message" not in res.stderr


def test_unknown_pag_and_qc_test_are_not_found_naming_them(pub_home):
    with pytest.raises(NotFoundError) as ei:
        pub_home.client.add_qc("COGUK/HOOT-NOPE/HOOT:X", HQ_TEST, 1)
    assert ei.value.exit_code == 66 and "PAG COGUK/HOOT-NOPE/HOOT:X not found on Majora" in str(ei.value)
    with pytest.raises(NotFoundError) as ei:
        pub_home.client.add_qc(pub_home.pag, "hoot-qc", 1)
    assert "QC test hoot-qc not found on Majora" in str(ei.value)


def test_form_errors_are_one_readable_line(pub_home):
    # The first failure: a mapping namespace without num_pos.
    res = pub_home.cli("put", "metric", "--artifact-path", pub_home.fasta, "--metric", "mapping",
                       "num_maps", "150000", check=False)
    assert res.returncode == 65, res.stderr
    assert "Majora refused meta/metric/add: mapping: num_pos: This field is required." in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "{" not in res.stderr


def test_ignored_namespace_warns_and_strict_fails(pub_home):
    args = ["put", "metric", "--artifact-path", pub_home.fasta, "--metric", "ct", "ct_value", "21.3"]
    res = pub_home.cli(*args)
    assert res.returncode == 0  # Majora accepted the call (success: true)
    lines = res.stderr.strip().splitlines()
    assert "snakemake-majora: warning: Majora: 'ct' does not describe a valid metric" in lines
    assert "snakemake-majora: warning: Majora ignored ct" in lines
    assert json.loads(res.stdout)["ignored"] == ["ct"]
    strict = pub_home.cli(*args, "--strict", check=False)
    assert strict.returncode == 65 and "--strict" in strict.stderr
    clean = pub_home.cli("put", "metric", "--artifact-path", pub_home.fasta, "--strict",
                         *[x for k, v in SEQUENCE.items() for x in ("--metric", "sequence", k, v)])
    assert clean.returncode == 0 and "warning" not in clean.stderr


def test_metric_record_namespaces_as_ocarina_builds_them(pub_home):
    """`--metric ct.1 KEY VALUE`: Ocarina 1.0.0 sends {"ct": {"records": {"1": {...}}}}; Majora stores
    the Ct records on the biosample (sent as a namespace "ct.1", Majora would ignore it)."""
    res = pub_home.cli("put", "biosample", "--central-sample-id", "HOOT-ANS-CT", "--adm1", "UK-ENG",
                       "--collection-date", str(dt.date.today() - dt.timedelta(days=5)),
                       "--is-surveillance", "Y",
                       "--metric", "ct.1", "ct_value", "21.3", "--metric", "ct.1", "test_platform", "INHOUSE",
                       "--metric", "ct.1", "test_target", "S", "--metric", "ct.1", "test_kit", "INHOUSE",
                       check=False)
    assert "ct.1" not in res.stderr, res.stderr
    rec = json.loads(pub_home.cli("get", "biosample", "HOOT-ANS-CT").stdout)["HOOT-ANS-CT"]
    records = rec["metrics"]["ct"]["records"]
    assert [float(r["ct_value"]) for r in records] == [21.3], records
    bad = pub_home.cli("put", "metric", "--artifact", "HOOT-ANS-CT", "--metric", "ct.1.x", "k", "v",
                       check=False)
    assert bad.returncode == 64 and "NAMESPACE.RECORD" in bad.stderr


def test_refused_biosample_names_the_cause_before_majoras_zana_warning(pub_home):
    """Majora lists its ZANA warning before the form errors of a refused biosample (corpus p02); the one
    line a user sees leads with the cause."""
    future = str(dt.date.today() + dt.timedelta(days=3))
    res = pub_home.cli("put", "biosample", "--central-sample-id", "HOOT-ANS-FUTURE", "--adm1", "UK-ENG",
                       "--collection-date", future, "--is-surveillance", "Y", check=False)
    assert res.returncode == 65, res.stderr
    line = res.stderr.strip().splitlines()[-1]
    cause, zana = line.find("Sample cannot be collected in the future"), line.find("ZANA has not")
    assert 0 <= cause < zana, line


def test_wildcard_without_permission_names_it(lite, tmp_path):
    """Majora answers `get sequencing '*'` without majora2.can_wildcard_sequencing_runs with no task and
    no error; that must not read as "there are no runs"."""
    lite.server.add_user("nowild", "nowild-pw", perms=["majora2.view_biosampleartifact"], org="HOOT")
    home = MajoraHome(lite, tmp_path, username="nowild", password="nowild-pw",
                      scopes=["majora2.view_biosampleartifact"])
    res = home.cli("get", "sequencing", "*", check=False)
    assert res.returncode == 77, (res.returncode, res.stdout, res.stderr)
    assert "majora2.can_wildcard_sequencing_runs" in res.stderr and res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1
    # The plugin's majora://sequencing (every run) asks the same: the same refusal, not an empty listing.
    from snakemake_majora.errors import AuthError
    from snakemake_majora.fetch import RecordFetcher
    from snakemake_majora.queries import parse

    fetcher = RecordFetcher(lambda: MajoraClient(load_settings(env=home.env)), spool_dir=tmp_path / "spool")
    try:
        with pytest.raises(AuthError, match=r"lacks the permission majora2\.can_wildcard_sequencing_runs"):
            fetcher.get(parse("majora://sequencing"))
    finally:
        fetcher.shutdown()


def test_unknown_run_is_not_found(majora_home):
    res = majora_home.cli("get", "sequencing", "NO_SUCH_RUN", check=False)
    assert res.returncode == 66 and "sequencing run NO_SUCH_RUN not found on Majora" in res.stderr


def test_500_on_a_write_is_one_line_with_what_was_sent_and_no_retry(pub_home):
    lite = pub_home.lite
    lite.set_faults([{"path": "/api/v2/meta/metric/add/", "status": 500, "body": "html"}])
    try:
        lite.reset_counters()
        res = pub_home.cli("put", "metric", "--artifact", "HOOT-ANS-500", "--metric", "sequence", "num_seqs",
                           "7", check=False)
        calls = sum(n for p, n in lite.counters().get("paths", {}).items() if "meta/metric/add" in p)
    finally:
        lite.clear_faults()
    assert res.returncode == 69, res.stderr
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "Majora failed on api/v2/meta/metric/add (HTTP 500" in err and "may be malformed" in err
    assert '"artifact": "HOOT-ANS-500"' in err and '"num_seqs": "7"' in err  # what was sent
    assert "not retried" in err and calls == 1
    for secret in pub_home.secrets():
        assert secret not in err
    assert '"token"' not in err and "OAUTH" not in err


def test_500_from_really_malformed_input(pub_home):
    """Majora's metric/add view indexes into each namespace: a string there ends in a 500 page."""
    lite = pub_home.lite
    lite.reset_counters()
    with pytest.raises(ServerError) as ei:
        pub_home.client.add_metrics(None, {"sequence": "oops"}, artifact_path=pub_home.fasta)
    calls = sum(n for p, n in lite.counters().get("paths", {}).items() if "meta/metric/add" in p)
    assert "the input may be malformed" in str(ei.value) and '"sequence": "oops"' in str(ei.value)
    assert calls == 1


def test_outdated_ocarina_refusal_is_explained(pub_home, monkeypatch):
    """Majora refuses `client_name: ocarina` below 0.44.0 with errors=1; we send our own client name."""
    assert pub_home.client.get_biosample(pub_home.sample)["central_sample_id"] == pub_home.sample
    monkeypatch.setattr(client_module, "CLIENT_NAME", "ocarina")  # as if a proxy rewrote our name
    with pytest.raises(ServerError) as ei:
        pub_home.client.get_biosample(pub_home.sample)
    assert "outdated Ocarina client" in str(ei.value) and "Update your 'ocarina' client" in str(ei.value)
    assert ei.value.exit_code == 69


def test_scope_error_keeps_its_message(lite, tmp_path):
    home = MajoraHome(lite, tmp_path, scopes=list(DEFAULT_SCOPES))  # no file/add scope
    c = MajoraClient(load_settings(env=home.env))
    fasta = Path(tmp_path) / "s.fa"
    fasta.write_text(">s\nACGT\n")
    with pytest.raises(AuthError) as ei:
        c.add_file(file_record(fasta, resource_type="consensus", pipeline=("h", "Pipeline", "n", "1")))
    assert "majora2.add_digitalresourceartifact" in str(ei.value) and "`scopes:`" in str(ei.value)
    assert not isinstance(ei.value, MajoraAPIError)
    c.close()


def test_plugin_pag_query_of_unknown_qc_test_is_not_found_on_majora(lite, tmp_path):
    """In a workflow, Majora's "Invalid 'test_name'" answer is a record Majora does not have, like an
    unknown biosample, not a failed query: one line naming the query, exit 66 (issue 17)."""
    from fixtures_plugin import PluginHome, output_of, run_snakemake

    home = PluginHome(lite, tmp_path / "home")
    proc = run_snakemake(tmp_path / "work", home.env, "--cores", "1", "-n", snakefile="""
        rule all:
            input: storage.majora("majora://pag/hoot-qc")
        """)
    out = output_of(proc)
    assert proc.returncode == 66, out[-3000:]
    lines = [ln for ln in out.splitlines() if "not found on Majora" in ln]
    assert len(lines) == 1 and "majora://pag/hoot-qc" in lines[0], out[-3000:]
    assert "Traceback" not in out
