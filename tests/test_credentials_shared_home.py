"""Issue 18 items 1-4: another local user against a shared home and the rescue files.

1. a config file (or home) another user can change is refused, and a token record is only sent to the
   domain and client id it was issued for;
2. the rescue directory outside the token dir cannot be squatted by pre-creating it;
3. two stores of one user never share (or delete) each other's rescue;
4. a reservation ``.tmp`` left holding the live pair is adopted by recovery, never cleaned away.

The attacker's steps run as a second local uid (``multiuser.other_user``).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import stat
import tempfile
import threading
from pathlib import Path

import pytest
from fixtures_client import MajoraHome
from multiuser import other_user  # noqa: F401  (fixture)

from snakemake_majora import store
from snakemake_majora.config import load_settings
from snakemake_majora.credentials import CredentialManager
from snakemake_majora.errors import TokenSaveError


class Trap:
    """A server of the attacker's on 127.0.0.1: counts every connection (nothing must reach it)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def open_root():
    """A directory the other user can reach (pytest's tmp_path sits below a 0700 directory)."""
    root = Path(tempfile.mkdtemp(prefix="smj-shared-", dir="/tmp"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def shared_home(lite, open_root):
    """A logged-in home in a directory the other user can reach."""
    return MajoraHome(lite, open_root / "victim")


@pytest.fixture
def trap():
    t = Trap()
    yield t
    t.close()


def _one_line(res) -> str:
    err = res.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def _swap_in(path: str, text: str, mode: int) -> None:
    """As the attacker: put a file of ours in place of ``path`` (rename over it, as a 777 dir allows)."""
    tmp = path + ".new"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _evil_config(home: MajoraHome, domain: str) -> str:
    lite = home.lite
    prof = {"domain": domain, "user": lite.username, "client_id": lite.client_id,
            "client_secret": lite.client_secret, "token_file": str(home.token_file)}
    return json.dumps({"default_profile": "test", "profiles": {"test": prof}})


# -- item 1 ----------------------------------------------------------------------------------------------
def test_a_home_and_config_another_user_can_change_are_refused(shared_home, other_user, trap):  # noqa: F811
    majora_home = shared_home
    home = majora_home.home
    cfg = home / "config.yaml"
    home.chmod(0o777)  # a group-shared project directory gives this; tokens/ stays 700
    try:
        other_user.run(_swap_in, str(cfg), _evil_config(majora_home, trap.url), 0o644)
        assert cfg.stat().st_uid == other_user.uid
        res = majora_home.cli("get", "biosample", "BIRM-00001", check=False)
        err = _one_line(res)
        assert res.returncode == 78 and str(home) in err and "writable by group/others" in err
        home.chmod(0o755)  # the home is safe again, but the file in it is still the other user's
        res = majora_home.cli("get", "biosample", "BIRM-00001", check=False)
        err = _one_line(res)
        assert res.returncode == 78 and str(cfg) in err and f"belongs to uid {other_user.uid}" in err
        # Our own file, but writable by others: same refusal.
        os.chown(cfg, os.getuid(), os.getgid())
        cfg.chmod(0o666)
        res = majora_home.cli("token", check=False)
        assert res.returncode == 78 and "writable by group/others" in _one_line(res)
    finally:
        home.chmod(0o755)
    # Ocarina's file redirects too (MAJORA_DOMAIN): the same rules.
    cfg.unlink()
    majora_home.root.chmod(0o755)
    oc = majora_home.root / "ocarina-shared"
    oc.mkdir(mode=0o755)
    oc_text = json.dumps({"MAJORA_DOMAIN": trap.url, "MAJORA_USER": "x", "MAJORA_TOKEN": "OAUTH",
                          "CLIENT_ID": "c", "CLIENT_SECRET": "s" * 10})
    oc.chmod(0o777)
    other_user.run(_swap_in, str(oc / ".ocarina"), oc_text, 0o644)
    majora_home.env["OCARINA_CONF_FILE"] = str(oc / ".ocarina")
    res = majora_home.cli("token", check=False)
    assert res.returncode == 78 and "Ocarina config" in _one_line(res) and "belongs to uid" in res.stderr
    assert trap.connections == 0


def test_group_write_is_refused_unless_the_group_is_the_owners_own(shared_home, other_user):  # noqa: F811
    home = shared_home.home
    cfg = home / "config.yaml"
    me = os.stat(home)
    try:
        # umask 002 systems: group-writable, but the group is the user's private one (no other member).
        home.chmod(0o775)
        cfg.chmod(0o664)
        assert shared_home.cli("token").returncode == 0
        # A project group the other user is in: they could replace the config.
        os.chown(home, -1, other_user.shared_group())
        res = shared_home.cli("token", check=False)
        assert res.returncode == 78 and "writable by group/others" in _one_line(res)
    finally:
        os.chown(home, -1, me.st_gid)
        home.chmod(0o755)
        cfg.chmod(0o600)


def test_a_token_record_is_only_sent_to_the_domain_it_was_issued_for(majora_home, trap):
    before = majora_home.read_store()
    # Our own, well-protected config, but it sends our store's token elsewhere (a mistake or a tamper).
    cfg = majora_home.home / "config.yaml"
    cfg.write_text(_evil_config(majora_home, trap.url))
    for args in (("get", "biosample", "BIRM-00001"), ("refresh",), ("token",)):
        res = majora_home.cli(*args, check=False)
        err = _one_line(res)
        assert res.returncode == 78, (args, err)
        assert "was issued for " + majora_home.lite.url in err and "it was not sent" in err
        for secret in (before["access_token"], before["refresh_token"]):
            assert secret not in res.stdout + res.stderr
    # The same check binds the client id.
    lite = majora_home.lite
    prof = {"domain": lite.url, "user": lite.username, "client_id": "another-client",
            "client_secret": lite.client_secret, "token_file": str(majora_home.token_file)}
    cfg.write_text(json.dumps({"default_profile": "test", "profiles": {"test": prof}}))
    res = majora_home.cli("get", "biosample", "BIRM-00001", check=False)
    assert res.returncode == 78 and "client id" in _one_line(res)
    assert trap.connections == 0
    assert majora_home.read_store() == before


# -- items 2 and 3: rescue files ------------------------------------------------------------------------
@pytest.fixture
def private_tmp(open_root, monkeypatch):
    """A /tmp of our own (root-owned, 1777): other tests on this machine keep using the real one."""
    tmp = open_root / "systmp"
    tmp.mkdir()
    tmp.chmod(0o1777)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    return tmp


def _failing_store_writes(monkeypatch, tokens: Path, err: int = errno.EDQUOT):
    """Renames into the token directory fail with ``err`` (a quota hit, a read-only remount: faults this
    machine cannot produce while the lock file is open). Returns the function that undoes it."""
    real = store._replace

    def refuse(tmp, dest):
        if Path(dest).parent == tokens:
            raise OSError(err, os.strerror(err), str(dest))
        return real(tmp, dest)

    monkeypatch.setattr(store, "_replace", refuse)
    return lambda: monkeypatch.setattr(store, "_replace", real)


def _home_env(home: MajoraHome, tmp: Path) -> None:
    home.env["TMPDIR"] = str(tmp)
    home.env.pop("XDG_RUNTIME_DIR", None)


def test_a_squatted_rescue_directory_cannot_lose_the_pair(strict_home, other_user, private_tmp,  # noqa: F811
                                                           monkeypatch):
    home = strict_home
    _home_env(home, private_tmp)
    uid = os.getuid()

    def squat(tmp: str, uid: int) -> list[str]:
        made = []
        for name in (f"snakemake-majora-{uid}", f"snakemake-majora-{uid}-squat"):
            os.mkdir(os.path.join(tmp, name))
            os.chmod(os.path.join(tmp, name), 0o777)  # noqa: S103  (the squatter opens it to all)
            made.append(name)
        return made

    other_user.run(squat, str(private_tmp), uid)
    mgr = CredentialManager(load_settings(config_file=home.home / "config.yaml", env=home.env))
    before = home.read_store()
    restore = _failing_store_writes(monkeypatch, home.token_file.parent)
    with pytest.raises(TokenSaveError) as err:
        mgr.force_refresh()
    msg = str(err.value)
    assert "no rescue file" not in msg
    rescue = next(p for p in mgr.store.rescue_paths()[1:] if p.exists())
    assert str(rescue) in msg
    st = os.lstat(rescue.parent)
    assert st.st_uid == uid and stat.S_IMODE(st.st_mode) == 0o700 and "squat" not in str(rescue)
    restore()
    res = home.cli("refresh")
    assert "recovered" in res.stderr
    assert home.read_store()["generation"] == before["generation"] + 1  # the rescued pair, put back
    c = home.lite.counters()
    assert c["invalid_grant"] == 0 and c["family_revocations"] == 0
    assert not rescue.exists()


def test_two_stores_of_one_user_never_share_a_rescue(strict_lite, tmp_path, private_tmp, monkeypatch):
    strict_lite.reset_counters()
    a = MajoraHome(strict_lite, tmp_path / "a")
    b = MajoraHome(strict_lite, tmp_path / "b")  # same domain, client and user: same store file name
    assert a.token_file.name == b.token_file.name
    for h in (a, b):
        _home_env(h, private_tmp)
    mgr = CredentialManager(load_settings(config_file=a.home / "config.yaml", env=a.env))
    restore = _failing_store_writes(monkeypatch, a.token_file.parent)
    with pytest.raises(TokenSaveError):
        mgr.force_refresh()
    restore()
    rescue = next(p for p in mgr.store.rescue_paths()[1:] if p.exists())
    b_before = b.read_store()
    res = b.cli("refresh")  # B refreshes its own family and leaves A's rescue alone
    assert "recovered" not in res.stderr
    assert b.read_store()["generation"] == b_before["generation"] + 1
    assert rescue.exists()
    b.expire_in(-10)
    b.cli("get", "biosample", "BIRM-00001")  # B's store holds a stale pair: an older generation than A's
    assert rescue.exists()
    res = a.cli("refresh")
    assert "recovered" in res.stderr and not rescue.exists()
    a.cli("get", "biosample", "BIRM-00001")
    c = strict_lite.counters()
    assert c["invalid_grant"] == 0 and c["family_revocations"] == 0


# -- item 4: the reservation left holding the live pair --------------------------------------------------
def test_a_reservation_left_holding_the_live_pair_is_adopted(strict_home, tmp_path, monkeypatch):
    home = strict_home
    nowhere = tmp_path / "no-such-tmp"  # no rescue outside the token dir either
    home.env["TMPDIR"] = str(nowhere)
    home.env.pop("XDG_RUNTIME_DIR", None)
    monkeypatch.setattr(tempfile, "tempdir", str(nowhere))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    tokens = home.token_file.parent
    before = home.read_store()
    # The token directory became read-only after the reservation: the rename fails, and so does the
    # removal of the reserved temp file, which now holds the live pair.
    restore = _failing_store_writes(monkeypatch, tokens, errno.EROFS)
    real_unlink = Path.unlink

    def read_only_unlink(self, missing_ok=False):
        if self.parent == tokens:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", read_only_unlink)
    mgr = CredentialManager(load_settings(config_file=home.home / "config.yaml", env=home.env))
    with pytest.raises(TokenSaveError) as err:
        mgr.force_refresh()
    assert "no rescue file could be written, but it is in " in str(err.value)
    restore()
    monkeypatch.setattr(Path, "unlink", real_unlink)
    left = [p for p in tokens.iterdir() if p.name.endswith(".tmp")]
    live = [p for p in left if json.loads(p.read_text())["generation"] == before["generation"] + 1]
    assert live, left
    for p in left:
        os.utime(p, (0, 0))  # "an hour old": the stale-temp cleanup must still keep the live pair
    mgr.store.clean_stale_tmp()
    assert all(p.exists() for p in live)
    res = home.cli("refresh")
    assert "recovered" in res.stderr
    assert not [p for p in tokens.iterdir() if p.name.endswith(".tmp")]
    assert home.read_store()["generation"] == before["generation"] + 1  # the pair the .tmp held
    home.expire_in(60)
    home.cli("get", "biosample", "BIRM-00001")
    c = home.lite.counters()
    assert c["invalid_grant"] == 0 and c["family_revocations"] == 0
