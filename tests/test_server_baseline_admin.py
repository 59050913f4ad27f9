"""majora-lite's baseline admin: organisations from Majora's orgs file, users with a TOTP device."""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import sys

from majora_lite.server.settings import DB_NAME


def cli(data_dir, *args, stdin=None):
    cmd = [sys.executable, "-m", "majora_lite", args[0], "--data-dir", str(data_dir), *args[1:]]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, input=stdin)


def db_rows(data_dir, sql, *params):
    with sqlite3.connect(f"file:{data_dir / DB_NAME}?mode=ro", uri=True) as con:
        return con.execute(sql, params).fetchall()


def test_load_orgs_file_and_shipped_list(tmp_path):
    orgs = tmp_path / "orgs.txt"
    orgs.write_text("Some Lab of Testing\tSLOT\n\nAnother Place\tANOT\n")
    r = cli(tmp_path / "d", "load-orgs", str(orgs))
    assert r.returncode == 0, r.stderr
    assert [(o["code"], o["name"], o["created"]) for o in json.loads(r.stdout)] == [
        ("SLOT", "Some Lab of Testing", True),
        ("ANOT", "Another Place", True),
    ]
    # the setup spec loads the shipped list (Majora's, with HOOT) and a file; a known code is renamed
    orgs.write_text("Renamed Lab\tSLOT\n")
    spec = {"orgs": True}
    r = cli(tmp_path / "d", "setup", "--spec", json.dumps(spec))
    assert r.returncode == 0, r.stderr
    assert {"code": "HOOT", "name": "Hypothetical University of Hooting", "created": True} in json.loads(
        r.stdout
    )["orgs"]
    r = cli(tmp_path / "d", "setup", "--spec", json.dumps({"orgs_file": str(orgs)}))
    assert json.loads(r.stdout)["orgs"] == [{"code": "SLOT", "name": "Renamed Lab", "created": False}]
    names = dict(db_rows(tmp_path / "d", "SELECT code, name FROM majora2_institute"))
    assert names["HOOT"] == "Hypothetical University of Hooting" and names["SLOT"] == "Renamed Lab"
    assert names["ANOT"] == "Another Place"


def test_load_orgs_bad_input_one_line(tmp_path):
    r = cli(tmp_path / "d", "load-orgs", str(tmp_path / "missing.txt"))
    assert r.returncode == 66 and r.stderr.count("\n") == 1 and "does not exist" in r.stderr
    bad = tmp_path / "bad.txt"
    bad.write_text("HOOT only, no tab\n")
    r = cli(tmp_path / "d", "load-orgs", str(bad))
    assert r.returncode == 65 and "line 1: expected 'name<TAB>code'" in r.stderr
    assert "Traceback" not in r.stderr


def test_totp_device_created_and_secret_only_on_stdout(tmp_path):
    d = tmp_path / "d"
    r = cli(d, "adduser", "--username", "tina", "--password", "-", "--totp", stdin="tina-pw\n")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    secret = out["totp_secret"]
    assert out["totp"] is True and secret not in r.stderr
    # the secret printed is the device's key, base32 as authenticator apps take it
    (key,) = db_rows(
        d,
        "SELECT d.key FROM otp_totp_totpdevice d JOIN auth_user u ON u.id = d.user_id WHERE u.username = ?",
        "tina",
    )[0]
    assert base64.b32decode(secret) == bytes.fromhex(key)
    # a user without --totp has no device; asking again for tina keeps her one device and secret
    users = [{"username": "nora", "password": "p"}, {"username": "tina", "password": "p", "totp": True}]
    spec = {"users": users}
    r = cli(d, "setup", "--spec", json.dumps(spec))
    users = json.loads(r.stdout)["users"]
    assert users[0]["totp"] is False and "totp_secret" not in users[0]
    assert users[1]["totp_secret"] == secret
    assert db_rows(d, "SELECT COUNT(*) FROM otp_totp_totpdevice")[0][0] == 1
