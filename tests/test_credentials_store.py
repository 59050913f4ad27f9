"""Token store: atomic 0600 writes, generation, cheap re-reads, corrupt/empty/exposed files."""

import json
import logging
import os
import stat
import time

import pytest

from snakemake_majora.errors import TokenStoreError
from snakemake_majora.store import TokenRecord, TokenStore


def record(gen=1, at="access-token-aaaa", rt="refresh-token-bbbb"):
    now = time.time()
    return TokenRecord(domain="https://m.example/", client_id="cid", user="u", access_token=at,
                       refresh_token=rt, expires_at=now + 36000, obtained_at=now, generation=gen)


def test_write_is_private_and_parses(tmp_path):
    st = TokenStore(tmp_path / "tokens" / "u.json")
    st.write(record())
    assert stat.S_IMODE(os.stat(st.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(st.dir).st_mode) == 0o700
    assert st.read().generation == 1
    assert "access-token-aaaa" not in repr(st.read())
    assert [p.name for p in st.dir.iterdir()] == ["u.json"]  # no temp files left behind


def test_reread_uses_cache_until_file_changes(tmp_path):
    st = TokenStore(tmp_path / "t" / "u.json")
    st.write(record(1))
    first = st.read()
    assert st.read() is first  # unchanged (mtime_ns, size, inode): no parse
    other = TokenStore(st.path)
    other.write(record(2, at="access-token-cccc"))
    again = st.read()
    assert again is not first and again.generation == 2


@pytest.mark.parametrize("content", [b"", b"   \n", b"{not json", b'{"domain": 1}'])
def test_corrupt_or_empty_file_is_reported_and_kept(tmp_path, content):
    st = TokenStore(tmp_path / "t" / "u.json")
    st.dir.mkdir(mode=0o700)
    fd = os.open(st.path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, content)
    os.close(fd)
    with pytest.raises(TokenStoreError) as ei:
        st.read()
    assert str(st.path) in str(ei.value) and "snakemake-majora login" in str(ei.value)
    assert st.path.read_bytes() == content


def test_world_readable_file_warns(tmp_path, caplog):
    st = TokenStore(tmp_path / "t" / "u.json")
    st.write(record())
    os.chmod(st.path, 0o644)
    with caplog.at_level(logging.WARNING):
        assert st.read(force=True) is not None
    assert "chmod 600" in caplog.text and "access-token-aaaa" not in caplog.text


def test_stale_temp_files_are_cleaned(tmp_path):
    st = TokenStore(tmp_path / "t" / "u.json")
    st.write(record())
    stale = st.dir / f".{st.path.name}.123.456.tmp"
    stale.write_text("x")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    fresh = st.dir / f".{st.path.name}.123.789.tmp"
    fresh.write_text("x")
    assert st.clean_stale_tmp() == 1
    assert not stale.exists() and fresh.exists()


def test_json_layout(tmp_path):
    st = TokenStore(tmp_path / "t" / "u.json")
    st.write(record(7))
    data = json.loads(st.path.read_text())
    assert {"generation", "expires_at", "obtained_at", "invalid", "refresh_token", "version"} <= set(data)
    assert data["generation"] == 7 and data["invalid"] is None
