"""Settings resolution: precedence, profiles, Ocarina compatibility, validation errors."""

import json
import logging
import os

import pytest

from snakemake_majora.config import DEFAULT_SCOPES, clean_domain, load_settings
from snakemake_majora.errors import ConfigError

BASE_ENV = {"HOME": "/nonexistent"}


@pytest.fixture
def env(tmp_path):
    home = tmp_path / "smh"
    home.mkdir()
    return {"SNAKEMAKE_MAJORA_HOME": str(home), "OCARINA_CONF_FILE": str(tmp_path / "ocarina.json")}


def write_yaml(env, text):
    p = os.path.join(env["SNAKEMAKE_MAJORA_HOME"], "config.yaml")
    with open(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
        fh.write(text)
    return p


def write_ocarina(env, data, mode=0o600):
    p = env["OCARINA_CONF_FILE"]
    with open(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w") as fh:
        json.dump(data, fh)
    os.chmod(p, mode)
    return p


def test_precedence_and_sources(env):
    write_yaml(env, "default_profile: lab\nprofiles:\n  lab:\n    domain: https://yaml.example/\n"
                    "    user: yuser\n    client_id: ycid\n    client_secret: ysecret\n    lock: lease\n")
    write_ocarina(env, {"MAJORA_DOMAIN": "https://oca.example/", "MAJORA_USER": "ouser", "CLIENT_ID": "ocid",
                        "CLIENT_SECRET": "osecret", "MAJORA_TOKEN": "OAUTH"})
    env["MAJORA_USER"] = "euser"
    s = load_settings(env=env, client_id="argcid")
    assert s.client_id == "argcid" and s.sources["client_id"] == "argument"
    assert s.user == "euser" and s.sources["user"] == "$MAJORA_USER"
    assert s.domain == "https://yaml.example/" and "config.yaml profile lab" in s.sources["domain"]
    assert s.client_secret == "ysecret" and s.lock == "lease"
    assert s.oauth and s.profile == "lab"
    assert "ysecret" not in repr(s) and "ysecret" not in json.dumps(s.describe())


def test_ocarina_only_user_needs_no_setup(env):
    write_ocarina(env, {"MAJORA_DOMAIN": "https://majora.example.org//", "MAJORA_USER": "root-user",
                        "default": {"MAJORA_USER": "default-user", "CLIENT_ID": "c1", "CLIENT_SECRET": "s1",
                                    "MAJORA_TOKEN": "OAUTH"},
                        "profile": {"test": {"MAJORA_DOMAIN": "https://majora-test.example.org"}}})
    s = load_settings(env=env)
    assert (s.domain, s.user, s.client_id) == ("https://majora.example.org/", "default-user", "c1")
    assert "(Ocarina)" in s.sources["user"]
    t = load_settings(env=env, profile="test")
    assert t.domain == "https://majora-test.example.org/" and t.user == "default-user"


def test_api_key_mode_and_client_id_fallback(env):
    env.update(MAJORA_DOMAIN="https://m.example/", MAJORA_USER="u", MAJORA_TOKEN="key-123456")
    s = load_settings(env=env)
    assert not s.oauth and s.api_key == "key-123456"
    env.update(MAJORA_TOKEN="OAUTH", CLIENT_ID="legacy-id", CLIENT_SECRET="legacy-secret")
    s = load_settings(env=env)
    assert s.oauth and s.client_id == "legacy-id" and s.sources["client_id"] == "$CLIENT_ID"
    assert s.scopes == DEFAULT_SCOPES


def test_missing_key_names_key_and_where(env):
    env.update(MAJORA_DOMAIN="https://m.example/", MAJORA_USER="u")
    with pytest.raises(ConfigError) as ei:
        load_settings(env=env)
    msg = str(ei.value)
    assert msg.startswith("client_id is not set") and "$MAJORA_CLIENT_ID" in msg and "config.yaml" in msg


@pytest.mark.parametrize(("raw", "clean"), [
    ("https://m.example", "https://m.example/"),
    ("https://m.example///", "https://m.example/"),
    ("https://m.example//sub//", "https://m.example/sub/"),
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000/"),
    ("http://localhost:1/", "http://localhost:1/"),
])
def test_clean_urls(raw, clean):
    assert clean_domain(raw, "test") == clean


@pytest.mark.parametrize("raw", ["http://majora.example.org/", "ftp://x/", "majora.example.org"])
def test_refuses_plain_http_off_loopback(raw):
    with pytest.raises(ConfigError, match="http"):
        clean_domain(raw, "test")


def test_malformed_yaml_names_file_and_line(env):
    p = write_yaml(env, "profiles:\n  a:\n    domain: [unclosed\n")
    with pytest.raises(ConfigError) as ei:
        load_settings(env=env)
    assert p in str(ei.value) and "line" in str(ei.value)


def test_malformed_ocarina_json_names_file_and_line(env):
    with open(env["OCARINA_CONF_FILE"], "w") as fh:
        fh.write('{\n "MAJORA_USER": "x",\n oops\n}')
    with pytest.raises(ConfigError) as ei:
        load_settings(env=env)
    assert env["OCARINA_CONF_FILE"] in str(ei.value) and "line 3" in str(ei.value)


def test_unknown_profile_is_an_error(env):
    write_yaml(env, "profiles:\n  a:\n    user: x\n")
    with pytest.raises(ConfigError, match="profile 'nope' is not defined"):
        load_settings(env=env, profile="nope")


def test_warns_when_secret_file_is_readable_by_others(env, caplog):
    write_ocarina(env, {"MAJORA_DOMAIN": "https://m.example/", "MAJORA_USER": "u", "CLIENT_ID": "c",
                        "CLIENT_SECRET": "very-secret-value"}, mode=0o644)
    with caplog.at_level(logging.WARNING):
        load_settings(env=env)
    assert any("chmod 600" in r.getMessage() for r in caplog.records)
    assert "very-secret-value" not in caplog.text


def test_bad_lock_mode(env):
    env.update(MAJORA_DOMAIN="https://m.example/", MAJORA_USER="u", MAJORA_TOKEN="k" * 10,
               SNAKEMAKE_MAJORA_LOCK="nfs")
    with pytest.raises(ConfigError, match="lock mode 'nfs'"):
        load_settings(env=env)
