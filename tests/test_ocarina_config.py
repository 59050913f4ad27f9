"""`snakemake-majora ocarina` reads Ocarina's configuration as Ocarina does (~/.ocarina, profiles, --env),
takes its token from the shared store, and never prints a secret."""

from __future__ import annotations

import json
import os

DEAD = "http://127.0.0.1:9/"  # nothing listens on the discard port
GET = ["--oauth", "get", "biosample", "--central-sample-id", "BIRM-00001"]


def _ocarina(home, *args, env=None):
    saved = home.env
    home.env = {**saved, **(env or {})}
    try:
        return home.cli("ocarina", *args, check=False)
    finally:
        home.env = saved


def _write_conf(home, data) -> None:
    conf = home.root / ".ocarina"
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    home.env["OCARINA_CONF_FILE"] = str(conf)


def _keys(lite, domain):
    return {"MAJORA_DOMAIN": domain, "MAJORA_USER": lite.username, "MAJORA_TOKEN": "OAUTH",
            "CLIENT_ID": lite.client_id, "CLIENT_SECRET": lite.client_secret, "OCARINA_NO_BANNER": 1}


def test_profile_from_ocarina_file_selects_the_server(majora_home):
    lite = majora_home.lite
    # Our own config would win over ~/.ocarina; leave only Ocarina's file to decide.
    (majora_home.home / "config.yaml").unlink()
    _write_conf(majora_home, {**_keys(lite, DEAD), "profile": {"lite": {"MAJORA_DOMAIN": lite.url}}})
    ok = _ocarina(majora_home, "--profile", "lite", *GET)
    assert ok.returncode == 0, ok.stderr
    assert "[CONF] Loading config" in ok.stderr and "with profile lite" in ok.stderr
    assert '"central_sample_id": "BIRM-00001"' in ok.stderr  # the response, where Ocarina prints it
    other = _ocarina(majora_home, *GET)  # the root keys name another server: its token is not in the store
    assert other.returncode == 77 and "snakemake-majora login" in other.stderr
    assert "Traceback" not in other.stderr


def test_env_ignores_the_file(majora_home):
    lite = majora_home.lite
    (majora_home.home / "config.yaml").unlink()
    _write_conf(majora_home, _keys(lite, DEAD))
    env = {k: str(v) for k, v in _keys(lite, lite.url).items()}
    res = _ocarina(majora_home, "--env", *GET, env=env)
    assert res.returncode == 0, res.stderr
    assert "[CONF]" not in res.stderr


def test_secrets_never_printed(majora_home):
    lite = majora_home.lite
    _write_conf(majora_home, _keys(lite, lite.url))
    shown = _ocarina(majora_home, "--print-config")
    res = _ocarina(majora_home, *GET)
    assert shown.returncode == 0 and "Config is: VALID" in shown.stdout
    assert res.returncode == 0 and '"token": "*****"' in res.stderr
    for out in (shown, res):
        assert not any(s in out.stdout + out.stderr for s in majora_home.secrets())


def test_no_login_fails_with_77_and_one_line(lite, tmp_path):
    from fixtures_client import MajoraHome

    home = MajoraHome(lite, tmp_path, login=False)
    res = _ocarina(home, *GET)
    assert res.returncode == 77
    assert "login" in res.stderr and "Traceback" not in res.stderr
