"""Issue 18 item 7: the backup redaction patterns, as a table of the shapes a secret arrives in, and a
config error that must come out of redaction unchanged."""

from __future__ import annotations

import pytest

from snakemake_majora.config import load_settings
from snakemake_majora.errors import ConfigError
from snakemake_majora.logsafe import redact

SECRET = "Zq8xW3vR7tY2uP5s"

SHAPES = [
    '{"access_token": "%s", "expires_in": 36000}',
    '{\\"access_token\\": \\"%s\\", \\"token_type\\": \\"Bearer\\"}',   # JSON inside a JSON string
    '{\\\\\\"refresh_token\\\\\\": \\\\\\"%s\\\\\\"}',                  # escaped twice
    '"refresh_token": ["%s"]',
    "'refresh_token': ['%s', 'x']",
    "refresh_token => '%s'",
    'refresh_token => "%s"',
    "refresh_token=>%s",
    "grant_type=refresh_token&refresh%%5Ftoken=%s&client_id=c",
    "refresh%%5Ftoken%%3D%s",
    "client%%5Fsecret=%s",
    "api_key: %s",
    "client_secret = '%s'",
    "Authorization: Bearer %s",
]


@pytest.mark.parametrize("shape", SHAPES)
def test_token_shapes_are_masked(shape):
    text = shape % SECRET
    out = redact(text)
    assert SECRET not in out, out
    assert "<redacted>" in out


def test_a_config_error_naming_client_secret_is_not_mangled(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("default_profile: p\nprofiles:\n  p:\n    domain: http://127.0.0.1:1/\n    user: u\n"
                   "    client_id: c\n")
    with pytest.raises(ConfigError) as err:
        load_settings(config_file=cfg, env={"SNAKEMAKE_MAJORA_HOME": str(tmp_path)})
    msg = str(err.value)
    assert "`client_secret:` under profiles.p" in msg
    assert redact(msg) == msg
