"""Issue 12 items 2 and 12: queries cannot write outside the storage prefix, and record copies respect the
user's umask."""

import logging
import os
import stat

import pytest

from snakemake_majora import queries
from snakemake_majora.plugin import StorageProvider, StorageProviderSettings

# A concrete query whose value holds the wildcard placeholder used to skip value validation.
TRAVERSALS = [
    "majora://summary?gte_date=W1LDCARD/../../../../x",
    "majora://summary?gte_date=W1LDCARD/../../tokens/alice.json",
    "majora://pag/qc?service_name=W1LDCARD/../../../x",
    "majora://pag/qc?published_after=W1LDCARD/..%2F..%2Fx",
    "majora://pag/qc?mode=W1LDCARD/../../x",
]
# Wildcard queries whose constant part would escape once Snakemake fills the wildcard in.
WILD_TRAVERSALS = [
    "majora://summary?gte_date={d}/../../../x",
    "majora://pag/qc?service_name=../../{s}",
]


def _provider(home, tmp_path):
    settings = StorageProviderSettings(config_file=str(home.config_file), token_file=str(home.token_file))
    return StorageProvider(local_prefix=tmp_path / "local", logger=logging.getLogger("test"),
                           settings=settings)


def _inside(path, prefix):
    real, root = os.path.normpath(os.path.abspath(path)), os.path.normpath(os.path.abspath(prefix))
    return os.path.commonpath([real, root]) == root


@pytest.mark.parametrize("query", TRAVERSALS + WILD_TRAVERSALS)
def test_placeholder_in_a_value_is_validated(query):
    reason = queries.validate(query)
    assert reason is not None and "valid forms" in reason
    if not queries.has_wildcards(query):
        with pytest.raises(queries.QueryError):
            queries.parse(query)


def test_every_local_path_stays_under_the_storage_prefix(plugin_env, tmp_path):
    provider = _provider(plugin_env.home, tmp_path)
    prefix = tmp_path / "local"
    examples = [q.query for q in StorageProvider.example_queries()]
    wild = ["majora://biosample/{s}", "majora://pag/{t}.tsv?published_after={d}", "majora://summary?gte_date={d}"]
    for query in examples + wild + TRAVERSALS + WILD_TRAVERSALS:
        # Snakemake only builds objects for valid queries, but the suffix must be safe regardless.
        try:
            path = provider.object(query).local_path()
        except Exception as exc:  # the plugin's fence refuses instead of naming a path outside
            assert "outside" in str(exc) or "valid forms" in str(exc), exc
            continue
        assert _inside(path, prefix), (query, path)


def test_record_copy_respects_the_umask(plugin_env, tmp_path):
    provider = _provider(plugin_env.home, tmp_path)
    obj = provider.object(f"majora://biosample/{plugin_env.samples[0]}")
    old = os.umask(0o027)
    try:
        obj.retrieve_object()
    finally:
        os.umask(old)
    mode = stat.S_IMODE(os.stat(obj.local_path()).st_mode)
    assert mode == 0o640, oct(mode)
    assert not [p for p in obj.local_path().parent.iterdir() if p.name.startswith(".")]  # no temp left
