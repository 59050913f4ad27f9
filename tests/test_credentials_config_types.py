"""Issue 18 item 6: wrongly typed values left over in our YAML config and in Ocarina's JSON config are one
line naming the key and the file, exit 78 (not exit 70 with a TypeError, not "Config is: VALID")."""

from __future__ import annotations

import json
import os

import pytest


def _one_line(res) -> str:
    # Ocarina's own "[CONF] Loading config ..." line comes first, as Ocarina prints it.
    lines = [ln for ln in res.stderr.strip().splitlines() if not ln.startswith("[CONF] ")]
    assert "Traceback" not in res.stderr and len(lines) == 1, res.stderr
    return lines[0]


def _write_ocarina(home, data) -> os.PathLike:
    conf = home.root / ".ocarina"
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    home.env["OCARINA_CONF_FILE"] = str(conf)
    return conf


@pytest.mark.parametrize("value", [["a", "b"], {"x": 1}])
def test_default_profile_of_the_wrong_type(majora_home, value):
    cfg = majora_home.home / "config.yaml"
    conf = json.loads(cfg.read_text())
    conf["default_profile"] = value
    cfg.write_text(json.dumps(conf))
    res = majora_home.cli("status", check=False)
    err = _one_line(res)
    assert res.returncode == 78 and "default_profile" in err and str(cfg) in err


def test_numeric_client_secret_in_the_ocarina_file(majora_home):
    (majora_home.home / "config.yaml").unlink()
    lite = majora_home.lite
    conf = _write_ocarina(majora_home, {"MAJORA_DOMAIN": lite.url, "MAJORA_USER": lite.username,
                                        "MAJORA_TOKEN": "OAUTH", "CLIENT_ID": lite.client_id,
                                        "CLIENT_SECRET": 12345678})
    for args in (("status",), ("ocarina", "--print-config")):
        res = majora_home.cli(*args, check=False)
        err = _one_line(res)
        assert res.returncode == 78, (args, err)
        assert "CLIENT_SECRET" in err and str(conf) in err and "12345678" not in err


@pytest.mark.parametrize("profiles", [{"p": 5}, {"p": ["x"]}, ["p"]])
def test_ocarina_profile_of_the_wrong_type_is_not_valid(majora_home, profiles):
    lite = majora_home.lite
    (majora_home.home / "config.yaml").unlink()  # only Ocarina's file decides, as in the report
    conf = _write_ocarina(majora_home, {"MAJORA_DOMAIN": lite.url, "MAJORA_USER": lite.username,
                                        "CLIENT_ID": lite.client_id, "CLIENT_SECRET": lite.client_secret,
                                        "profile": profiles})
    res = majora_home.cli("ocarina", "--profile", "p", "--print-config", check=False)
    err = _one_line(res)
    assert res.returncode == 78 and "Config is: VALID" not in res.stdout
    assert "profile" in err and str(conf) in err
