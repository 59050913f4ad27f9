"""Query parsing, validation and canonical form of majora:// queries (pure, no server)."""

import pytest

from snakemake_majora import queries
from snakemake_majora.plugin import StorageProvider

VALID = [
    "majora://biosample/HOOT-00001",
    "majora://biosample/{sample}",
    "majora://biosample/{sample,[A-Z]+-\\d{3,5}}",
    "majora://sequencing/20200601_RUN",
    "majora://sequencing",
    "majora://dataview/PHE1",
    "majora://dataview/{mdv}.tsv",
    "majora://pag/cog-uk-elan-minimal-qc",
    "majora://pag/cog-uk-elan-minimal-qc.tsv?pass=true&published_after=2021-01-01",
    "majora://pag/{test}?published_before={day}&service_name=ENA&mode=pagfiles",
    "majora://summary",
    "majora://summary?gte_date=2021-03-01",
]

INVALID = {
    "s3://bucket/key": "not a majora:// query",
    "https://example.org/x": "not a majora:// query",
    "majora://": "unknown record kind",
    "majora://sample/X": "unknown record kind 'sample'",
    "majora://biosample/": "missing the biosample identifier",
    "majora://biosample/a/b": "without '/'",
    "majora://biosample/../etc": "without '/'",
    "majora://biosample/.hidden": "must be letters",
    "majora://biosample/X.json": "drop the '.json' suffix",
    "majora://biosample/X.tsv": "only available for dataview and pag",
    "majora://sequencing/R?pass=true": "sequencing queries take no filters",
    "majora://sequencing/": "missing the sequencing identifier (majora://sequencing alone lists every run)",
    "majora://sequencing/*": "must be letters",
    "majora://sequencing?run_name=*": "majora://sequencing (every run) takes no filters",
    "majora://sequencing.tsv": "unknown record kind",
    "majora://pag/t?colour=red": "unknown pag filter 'colour'",
    "majora://pag/t?pass=yes": "must be true or false",
    "majora://pag/t?pass": "has no value",
    "majora://pag/t?pass=true&pass=false": "given twice",
    "majora://pag/t?published_after=2021-02-30": "not a real date",
    "majora://pag/t?published_after=01/02/2021": "YYYY-MM-DD",
    "majora://pag/t?mode=fast": "must be one of pagfiles, ena-assembly",
    "majora://summary/x": "summary takes no path",
    "majora://summary?since=2021-01-01": "unknown summary filter",
}


@pytest.mark.parametrize("query", VALID)
def test_valid_queries(query):
    res = StorageProvider.is_valid_query(query)
    assert res, res.reason
    assert res.query == query


@pytest.mark.parametrize(("query", "reason"), INVALID.items())
def test_invalid_queries_say_why_and_list_forms(query, reason):
    res = StorageProvider.is_valid_query(query)
    assert not res
    assert reason in res.reason
    assert "valid forms: majora://biosample/<central_sample_id>" in res.reason
    assert "\n" not in res.reason


@pytest.mark.parametrize("junk", [None, 42, b"majora://biosample/X", "", "majora://pag/t?%%%=\x00"])
def test_is_valid_query_never_raises(junk):
    assert not StorageProvider.is_valid_query(junk)


def test_canonical_form_sorts_and_normalises_filters():
    a = queries.parse("majora://pag/qc.tsv?published_after=2021-01-01&pass=TRUE")
    b = queries.parse("majora://pag/qc.tsv?pass=true&published_after=2021-01-01")
    assert a == b
    assert a.canonical == "majora://pag/qc.tsv?pass=true&published_after=2021-01-01"
    assert a.local_suffix == "pag/qc/pass=true,published_after=2021-01-01.tsv"
    assert queries.canonicalise("majora://pag/qc?pass=TRUE") == "majora://pag/qc?pass=true"
    # wildcard queries are left for Snakemake to fill in
    assert queries.canonicalise("majora://pag/{t}?pass=TRUE") == "majora://pag/{t}?pass=TRUE"


def test_local_suffixes_are_distinct_and_keep_wildcards():
    suffixes = {queries.parse(q).local_suffix for q in VALID if not queries.has_wildcards(q)}
    assert len(suffixes) == len([q for q in VALID if not queries.has_wildcards(q)])
    assert queries.parse("majora://summary").local_suffix == "summary/all.json"
    every = queries.parse("majora://sequencing")
    assert (every.kind, every.key, every.canonical) == ("sequencing", "", "majora://sequencing")
    # No run's copy can have every run's name: run names start with a letter or digit.
    assert every.local_suffix == "sequencing/_all.json"
    assert queries.validate("majora://sequencing/_all") is not None
    assert queries.pattern_suffix("majora://biosample/{s,[A-Z]+}") == "biosample/{s,[A-Z]+}.json"
    assert queries.pattern_suffix("majora://pag/{t}?published_after={d}&pass=true") == (
        "pag/{t}/pass=true,published_after={d}.json"
    )


def test_parse_refuses_wildcards_and_bad_queries():
    with pytest.raises(queries.QueryError, match="still has wildcards"):
        queries.parse("majora://biosample/{sample}")
    with pytest.raises(queries.QueryError, match="valid forms"):
        queries.parse("majora://nope/X")


def test_only_majora_claims_majora_queries():
    """Provider inference: no other installed plugin may claim majora://, and we claim nothing else."""
    from snakemake_interface_storage_plugins.registry import StoragePluginRegistry

    claimed = [
        name
        for name, plugin in StoragePluginRegistry().plugins.items()
        if plugin.storage_provider.is_valid_query("majora://biosample/X")
    ]
    assert claimed == ["majora"]
    assert not StorageProvider.is_valid_query("https://example.org/file.json")
