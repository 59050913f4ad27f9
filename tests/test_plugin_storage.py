"""The storage provider against majora-lite, without Snakemake's scheduler: the interface's own test
suite, fetch-once/fetch-in-parallel, canonical bytes, checksums and mtimes."""

import hashlib
import json
import logging
import os

import pytest
from snakemake_interface_storage_plugins.tests import TestStorageBase

from snakemake_majora.plugin import StorageProvider, StorageProviderSettings


def _settings(home, **extra):
    return StorageProviderSettings(
        config_file=str(home.config_file), token_file=str(home.token_file), **extra
    )


def _provider(home, tmp_path, **extra):
    return StorageProvider(
        local_prefix=tmp_path / "local", logger=logging.getLogger("test"), settings=_settings(home, **extra)
    )


class TestMajoraStorage(TestStorageBase):
    """snakemake-interface-storage-plugins' TestStorageBase, read-only."""

    __test__ = True
    retrieve_only = True

    @pytest.fixture(autouse=True)
    def _env(self, plugin_env):
        type(self).env = plugin_env

    def get_storage_provider_cls(self):
        return StorageProvider

    def get_storage_provider_settings(self):
        return _settings(self.env.home)

    def get_query(self, tmp_path):
        return f"majora://biosample/{self.env.samples[0]}"

    def get_query_not_existing(self, tmp_path):
        return "majora://biosample/NOPE-99999"


def _biosample_gets(lite):
    return lite.counters()["paths"].get("/api/v2/artifact/biosample/get/", 0)


def test_each_record_fetched_once_however_often_asked(plugin_env, tmp_path):
    lite = plugin_env.lite
    provider = _provider(plugin_env.home, tmp_path)
    ids = plugin_env.samples[:40]
    before = _biosample_gets(lite)
    objs = [provider.object(f"majora://biosample/{s}") for s in ids]
    # Snakemake asks many times, and creates several objects for the same query
    objs += [provider.object(f"majora://biosample/{s}") for s in ids]
    for _ in range(3):
        for o in objs:
            assert o.exists() and o.size() > 0 and o.mtime() > 0 and o.checksum().startswith("sha256:")
    assert _biosample_gets(lite) - before == len(ids)
    assert provider.fetcher.requests == len(ids)


class _BarrierClient:
    """The real client, but each biosample fetch first waits until ``parties`` fetches are in flight."""

    def __init__(self, real, parties):
        import threading

        self.real, self.barrier = real, threading.Barrier(parties, timeout=3)
        self.settings = real.settings

    def get_biosample(self, sample):
        self.barrier.wait()  # BrokenBarrierError unless `parties` fetches run at the same time
        return self.real.get_biosample(sample)


@pytest.mark.parametrize("concurrency", [8, 1])
def test_records_are_fetched_concurrently(plugin_env, tmp_path, concurrency):
    """Creating N objects starts N fetches that run at the same time (negative control: concurrency 1)."""
    import threading

    provider = _provider(plugin_env.home, tmp_path, fetch_concurrency=concurrency)
    real = plugin_env.home.client()
    provider.fetcher._client_factory = lambda: _BarrierClient(real, 8)
    objs = [provider.object(f"majora://biosample/{s}") for s in plugin_env.samples[40:48]]
    if concurrency == 8:
        assert all(o.exists() for o in objs)
    else:
        with pytest.raises(threading.BrokenBarrierError):
            objs[0].exists()


def test_local_copy_is_canonical_json_with_storage_mtime(plugin_env, tmp_path):
    provider = _provider(plugin_env.home, tmp_path)
    sample = plugin_env.samples[0]
    obj = provider.object(f"majora://biosample/{sample}")
    obj.retrieve_object()
    path = obj.local_path()
    assert path == tmp_path / "local" / "biosample" / f"{sample}.json"
    body = path.read_bytes()
    record = json.loads(body)
    assert record["central_sample_id"] == sample
    assert body == (json.dumps(record, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()
    assert obj.checksum() == "sha256:" + hashlib.sha256(body).hexdigest()
    assert obj.size() == len(body)
    assert os.stat(path).st_mtime == pytest.approx(obj.mtime(), abs=1e-3)
    # a second provider (another process) sees the same mtime for the same content: from the ledger
    again = _provider(plugin_env.home, tmp_path).object(f"majora://biosample/{sample}")
    assert again.mtime() == obj.mtime()
    assert not list(path.parent.glob(".*.tmp"))  # no temp left


def test_other_record_kinds_and_tables(plugin_env, tmp_path):
    provider = _provider(plugin_env.home, tmp_path)
    example = plugin_env.lite.seed_summary["example"]
    qc = plugin_env.lite.seed_summary["qc_tests"][0]
    cases = {
        f"majora://sequencing/{example['run_name']}": "json",
        "majora://summary": "json",
        f"majora://pag/{qc}?pass=true": "json",
        f"majora://pag/{qc}.tsv?pass=true": "tsv",
        "majora://dataview/PHE1.tsv": "tsv",
    }
    for query, kind in cases.items():
        obj = provider.object(query)
        assert obj.exists(), query
        obj.retrieve_object()
        text = obj.local_path().read_text()
        if kind == "json":
            assert json.loads(text)
        else:
            header, first = text.splitlines()[:2]
            assert len(header.split("\t")) == len(first.split("\t")) > 1
            assert header.split("\t") == sorted(header.split("\t"))
    pags = json.loads(provider.object(f"majora://pag/{qc}?pass=true").local_path().read_text())
    assert pags["count"] == len(pags["result"]) == plugin_env.lite.seed_summary["pags"][qc]["pass"]
    assert not provider.object("majora://sequencing/NO_SUCH_RUN").exists()


def test_server_down_names_the_server(lite_factory, tmp_path):
    from fixtures_plugin import login_home
    from snakemake_interface_common.exceptions import WorkflowError

    lite = lite_factory(biosamples=1)
    home = login_home(lite, tmp_path / "home")
    url = lite.url
    lite.server.stop()
    obj = _provider(home, tmp_path).object("majora://biosample/X-1")
    with pytest.raises(WorkflowError) as exc:
        obj.exists()
    msg = str(exc.value)
    assert url in msg and "majora://biosample/X-1" in msg and "network error" in msg
    assert "\n" not in msg


def test_failed_task_names_the_query_and_is_asked_again(plugin_env, tmp_path):
    """A PAG query whose Majora task fails: a one-line WorkflowError naming the query and the server; the
    failure is not remembered as a record, so a new process asks again and gets it."""
    from snakemake_interface_common.exceptions import WorkflowError

    qc = plugin_env.lite.seed_summary["qc_tests"][0]
    query = f"majora://pag/{qc}?pass=true&published_after=2000-01-01"
    plugin_env.lite.set_faults([{"path": "/api/v2/pag/qc/get/", "action": "fail_task", "count": 1}])
    try:
        with pytest.raises(WorkflowError) as exc:
            _provider(plugin_env.home, tmp_path).object(query).exists()
    finally:
        plugin_env.lite.clear_faults()
    msg = str(exc.value)
    assert query in msg and plugin_env.lite.url in msg and "Majora task" in msg and "failed" in msg
    assert "\n" not in msg
    assert _provider(plugin_env.home, tmp_path / "again").object(query).exists()
