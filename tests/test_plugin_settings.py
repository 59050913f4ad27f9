"""Settings of the majora storage provider: CLI parsing under interface-common, coercion, clear errors."""

import dataclasses

import configargparse
import pytest
from snakemake_interface_common.exceptions import WorkflowError
from snakemake_interface_storage_plugins.registry import StoragePluginRegistry

from snakemake_majora.plugin import StorageProviderSettings, is_job_process, resolve_settings


def _settings(argv):
    plugin = StoragePluginRegistry().get_plugin("majora")
    parser = configargparse.ArgumentParser()
    try:
        plugin.register_cli_args(parser, "storage")
    except TypeError:  # snakemake-interface-common before 1.23 (the lowest supported) takes no kind
        plugin.register_cli_args(parser)
    args = parser.parse_args(argv)
    return plugin.get_settings(args).get_settings(None)


def test_every_field_has_default_and_help_and_no_secret_field():
    for f in dataclasses.fields(StorageProviderSettings):
        assert f.default is not dataclasses.MISSING, f.name
        assert f.metadata["help"].endswith((".", ")")), f.name
        for word in ("secret", "password", "api_key", "access_token"):
            assert word not in f.name


def test_defaults_resolve():
    conf = resolve_settings(_settings([]))
    assert conf.fetch_concurrency == 8 and conf.min_ttl == 0 and conf.task_deadline == 1800
    assert conf.domain is None and conf.max_requests_per_second is None


def test_cli_values_are_converted():
    conf = resolve_settings(
        _settings(
            [
                "--storage-majora-fetch-concurrency", "16",
                "--storage-majora-min-ttl", "300",
                "--storage-majora-max-requests-per-second", "2.5",
                "--storage-majora-token-file", "/tmp/t.json",
                "--storage-majora-profile", "staging",
            ]
        )
    )
    assert conf.fetch_concurrency == 16 and conf.min_ttl == 300
    assert conf.max_requests_per_second == 2.5
    assert conf.token_file == "/tmp/t.json" and conf.profile == "staging"


def test_env_vars_for_paths(monkeypatch):
    monkeypatch.setenv("SNAKEMAKE_STORAGE_MAJORA_TOKEN_FILE", "/srv/majora/token.json")
    monkeypatch.setenv("SNAKEMAKE_STORAGE_MAJORA_DOMAIN", "https://majora.example.org/")
    conf = resolve_settings(_settings([]))
    assert conf.token_file == "/srv/majora/token.json"
    assert conf.domain == "https://majora.example.org/"


def test_bad_cli_value_is_a_clear_error():
    with pytest.raises(WorkflowError, match=r"fetch_concurrency|fetch-concurrency"):
        resolve_settings(_settings(["--storage-majora-fetch-concurrency", "lots"]))


@pytest.mark.parametrize(
    ("name", "value", "expect"),
    [
        ("fetch_concurrency", "many", "is not an integer"),
        ("fetch_concurrency", 0, "must be >= 1"),
        ("min_ttl", -5, "must be >= 0"),
        ("task_deadline", True, "is not an integer"),
        ("max_requests_per_second", "fast", "is not a number"),
    ],
)
def test_bad_directive_values_are_clear_errors(name, value, expect):
    """Values from the Snakefile's storage directive bypass the CLI parser; the provider checks them."""
    s = StorageProviderSettings()
    s.__dict__[name] = value
    with pytest.raises(WorkflowError, match=expect) as exc:
        resolve_settings(s)
    assert name in str(exc.value) and "\n" not in str(exc.value)


def test_directive_strings_are_coerced():
    s = StorageProviderSettings()
    s.__dict__.update(fetch_concurrency="4", max_requests_per_second="10")
    conf = resolve_settings(s)
    assert conf.fetch_concurrency == 4 and conf.max_requests_per_second == 10.0


def test_job_processes_are_recognised_from_snakemakes_command_line():
    assert is_job_process(["-m", "snakemake", "--target-jobs", "a:s=1", "--mode", "subprocess"])
    assert is_job_process(["snakemake", "--mode", "remote", "--jobs", "1"])
    assert is_job_process(["snakemake", "--mode=remote"])
    assert not is_job_process(["snakemake", "--mode", "default", "--cores", "4"])
    assert not is_job_process(["snakemake", "--cores", "4"])
    assert not is_job_process(["snakemake", "--mode"])


def test_unknown_storage_keyword_is_refused_with_did_you_mean():
    """Snakemake copies any keyword of the storage directive into the settings object (issue 17)."""
    settings = StorageProviderSettings()
    settings.__dict__.update(keep_local=True, retrieve=True)  # Snakemake's own keywords are fine
    resolve_settings(settings)
    settings.__dict__.update(recheck_after="12h")
    with pytest.raises(WorkflowError) as err:
        resolve_settings(settings)
    message = str(err.value)
    assert "unknown majora storage setting 'recheck_after' in the storage directive" in message
    assert "did you mean recheck?" in message and "ledger_dir, ledger_lock_timeout" in message
    assert "\n" not in message


def test_unknown_storage_environment_variable_is_refused(monkeypatch):
    monkeypatch.setenv("SNAKEMAKE_STORAGE_MAJORA_RECHEK", "never")
    with pytest.raises(WorkflowError, match=r"'rechek' \(environment variable "
                       r"SNAKEMAKE_STORAGE_MAJORA_RECHEK\); did you mean recheck\?"):
        resolve_settings(StorageProviderSettings())
