"""End-to-end: real `snakemake` runs (subprocesses) against majora-lite through the plugin."""

import json

import pytest
from fixtures_plugin import assert_no_secrets, jobs_run, output_of, run_snakemake

SNAKEFILE = """
import json
SAMPLES = json.load(open("samples.json"))

storage:
    provider="majora",
    keep_local={keep_local},

rule all:
    input: expand("qc/{{s}}.json", s=SAMPLES)

rule qc:
    input: storage.majora("majora://biosample/{{s}}")
    output: "qc/{{s}}.json"
    shell: "cp {{input}} {{output}}"
"""


def _gets(lite):
    return lite.counters()["paths"].get("/api/v2/artifact/biosample/get/", 0)


@pytest.mark.parametrize(("keep_local", "n"), [(False, 200), (True, 30)])
def test_inputs_fetched_once_and_rerun_exactly_on_change(plugin_env, tmp_path, keep_local, n):
    lite, home = plugin_env.lite, plugin_env.home
    samples = plugin_env.samples[:n]
    (tmp_path / "samples.json").write_text(json.dumps(samples))
    snakefile = SNAKEFILE.format(keep_local=keep_local)

    before = _gets(lite)
    first = run_snakemake(tmp_path, home.env, "--cores", "4", snakefile=snakefile)
    assert first.returncode == 0, output_of(first)[-3000:]
    assert jobs_run(first, "qc") == n
    assert _gets(lite) - before == n  # one request per record, however often Snakemake asked
    got = json.loads((tmp_path / "qc" / f"{samples[0]}.json").read_text())
    assert got["central_sample_id"] == samples[0]
    local_copies = list((tmp_path / ".snakemake" / "storage" / "majora" / "biosample").glob("*.json"))
    assert len(local_copies) == (n if keep_local else 0)

    second = run_snakemake(tmp_path, home.env, "--cores", "4")
    assert second.returncode == 0, output_of(second)[-3000:]
    assert "Nothing to be done" in output_of(second)

    changed = samples[n // 2]
    town = "KEEPTOWN" if keep_local else "FETCHTOWN"
    result = home.client().update_biosamples([{"central_sample_id": changed, "adm2": town}])
    assert result["updated"]

    third = run_snakemake(tmp_path, home.env, "--cores", "4")
    assert third.returncode == 0, output_of(third)[-3000:]
    assert jobs_run(third, "qc") == 1
    assert f"Updated input files: majora://biosample/{changed}" in output_of(third)
    assert json.loads((tmp_path / "qc" / f"{changed}.json").read_text())["adm2"] == town

    fourth = run_snakemake(tmp_path, home.env, "--cores", "4")
    assert "Nothing to be done" in output_of(fourth)
    assert_no_secrets(home, tmp_path, *(output_of(p) for p in (first, second, third, fourth)))


def test_run_jobs_provider_inference_and_preflight(plugin_env, tmp_path):
    """`run:` jobs (spawned Snakemake subprocesses) get the input and call Majora themselves."""
    home = plugin_env.home
    samples = plugin_env.samples[200:204]
    example = plugin_env.lite.seed_summary["example"]
    qc = plugin_env.lite.seed_summary["qc_tests"][0]
    (tmp_path / "samples.json").write_text(json.dumps(samples))
    snakefile = f"""
        import json
        from snakemake_majora.jobs import client, preflight
        SAMPLES = json.load(open("samples.json"))

        onstart:
            preflight()

        rule all:
            input: expand("self/{{s}}.json", s=SAMPLES), "run.json", "pags.tsv"

        rule fetch_self:
            input: storage("majora://biosample/{{s}}")
            output: "self/{{s}}.json"
            run:
                rec = client().get_biosample(wildcards.s)
                assert json.load(open(input[0])) == rec
                json.dump(rec, open(output[0], "w"))

        rule run:
            input: storage("majora://sequencing/{example['run_name']}")
            output: "run.json"
            run:
                import shutil
                shutil.copy(input[0], output[0])

        rule pags:
            input: storage.majora("majora://pag/{qc}.tsv?published_after=2020-01-01&pass=TRUE")
            output: "pags.tsv"
            shell: "cp {{input}} {{output}}"
        """
    before = _gets(plugin_env.lite)
    proc = run_snakemake(tmp_path, home.env, "--cores", "2", snakefile=snakefile)
    out = output_of(proc)
    assert proc.returncode == 0, out[-3000:]
    assert jobs_run(proc, "fetch_self") == len(samples)
    # the main process fetches each input once; each `run:` job (a Snakemake subprocess) reuses the
    # verified local copy and only makes its own call
    assert _gets(plugin_env.lite) - before == 2 * len(samples)
    assert json.loads((tmp_path / "run.json").read_text())["run_name"] == example["run_name"]
    assert (tmp_path / "pags.tsv").read_text().startswith("pag.")
    # the canonical (sorted, lower-case) query is what Snakemake shows
    assert f"majora://pag/{qc}.tsv?pass=true&published_after=2020-01-01" in out
    assert_no_secrets(home, tmp_path, out)


def test_invalid_query_lists_the_valid_forms(plugin_env, tmp_path):
    proc = run_snakemake(
        tmp_path, plugin_env.home.env, "--cores", "1", "-n",
        snakefile="""
        rule all:
            input: storage.majora("majora://pag/cog-uk-elan-minimal-qc?colour=red")
        """,
    )
    out = output_of(proc)
    assert proc.returncode != 0
    assert "unknown pag filter 'colour'" in out
    assert "valid forms: majora://biosample/<central_sample_id>" in out


def test_not_logged_in_says_run_login(plugin_env, tmp_path):
    """No credential: the input check fails with the login hint, and so does the onstart preflight."""
    home = plugin_env.home
    fresh = tmp_path / "fresh-home"
    fresh.mkdir(mode=0o700)
    (fresh / "config.yaml").write_text(home.config_file.read_text())
    (fresh / "config.yaml").chmod(0o600)
    env = {**home.env, "SNAKEMAKE_MAJORA_HOME": str(fresh)}
    proc = run_snakemake(
        tmp_path / "a", env, "--cores", "1",
        snakefile=f"""
        rule all:
            input: storage.majora("majora://biosample/{plugin_env.samples[0]}")
        """,
    )
    out = output_of(proc)
    assert proc.returncode != 0
    assert "run `snakemake-majora login`" in out and "Traceback" not in out

    proc = run_snakemake(
        tmp_path / "b", env, "--cores", "1",
        snakefile="""
        from snakemake_majora.jobs import preflight
        onstart:
            preflight()
        rule all:
            output: "done.txt"
            shell: "touch {output}"
        """,
    )
    out = output_of(proc)
    assert proc.returncode != 0
    assert proc.returncode == 77  # EX_NOPERM, from the one line of the onstart preflight()
    assert "majora: preflight failed" in out and "run `snakemake-majora login`" in out
    assert not (tmp_path / "b" / "done.txt").exists()
