"""Ocarina's configuration as Ocarina reads it, resolved into the project's :class:`Settings`.

Ocarina reads ``$OCARINA_CONF_FILE`` or ``~/.ocarina`` (JSON: root keys, then ``default``, then
``profile.<name>``), or only the environment with ``--env``. The server URL, user and OAuth client come from
there (or from our own configuration, which the project's resolution also reads); the token always comes
from our token store, never from Ocarina's tokens file.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Settings, load_settings, ocarina_sections
from ..errors import ConfigError

#: Ocarina's own switches, read from its configuration (``OCARINA_NO_BANNER``, ``OCARINA_QUIET``).
_SWITCHES = ("OCARINA_NO_BANNER", "OCARINA_QUIET")
#: What ``ocarina --env`` needs in the environment (each key: the variables Ocarina accepts for it). Ocarina
#: also requires the OAuth client in API-key mode; MAJORA_DOMAIN is required here, where Ocarina falls back
#: to https://example.org/ (and fails there).
ENV_REQUIRED = {"MAJORA_DOMAIN": ("MAJORA_DOMAIN",), "MAJORA_USER": ("MAJORA_USER",),
                "MAJORA_TOKEN": ("MAJORA_TOKEN",), "CLIENT_ID": ("CLIENT_ID", "MAJORA_CLIENT_ID"),
                "CLIENT_SECRET": ("CLIENT_SECRET", "MAJORA_CLIENT_SECRET")}


class EnvIncomplete(ConfigError):
    """``--env`` without every variable Ocarina requires (Ocarina exits 78 before sending anything)."""


@dataclass
class OcarinaConfig:
    """The resolved settings plus Ocarina's own switches."""

    settings: Settings
    path: Path | None
    no_banner: bool
    quiet: bool


def config_path(env: dict[str, str]) -> Path:
    """Where Ocarina looks for its configuration file."""
    return Path(env.get("OCARINA_CONF_FILE") or Path.home() / ".ocarina").expanduser()


def _switches(data: dict[str, Any], path: Path, profile: str | None) -> dict[str, Any]:
    # The ffurf precedence Ocarina uses: root keys, then "default", then "profile.<name>".
    merged: dict[str, Any] = {}
    for layer in ocarina_sections(data, path, profile):
        merged.update({k: layer[k] for k in _SWITCHES if k in layer})
    return merged


def _flag(value: Any, key: str, path: Path | None) -> bool:
    try:
        return int(value or 0) != 0
    except (TypeError, ValueError):
        where = path or "the environment"
        raise ConfigError(f"{key} in {where} must be a whole number (0 or 1), not {value!r:.40}") from None


def load(use_env: bool, profile: str | None, oauth: bool) -> OcarinaConfig:
    """Resolve the configuration for one ``ocarina`` command; messages go to stderr as Ocarina's do."""
    env = dict(os.environ)
    path: Path | None = None
    switches: dict[str, Any] = {}
    if use_env:
        if profile:
            sys.stderr.write("[WARN] Cannot use --profile with --env, profile will be ignored.\n")
            profile = None
        missing = [key for key, names in ENV_REQUIRED.items() if not any(env.get(n) for n in names)]
        if missing:
            raise EnvIncomplete(f"{', '.join(ENV_REQUIRED)} must be set in your environment with --env "
                                f"(missing: {', '.join(missing)})")
        # Ocarina ignores its file with --env; so do we, by pointing the resolution at an empty one.
        env["OCARINA_CONF_FILE"] = os.devnull
        switches = {k: env[k] for k in _SWITCHES if env.get(k)}
    else:
        candidate = config_path(env)
        if candidate.exists():
            path = candidate
            sys.stderr.write(f"[CONF] Loading config {path} with profile {profile}\n")
            try:
                data = json.loads(path.read_text() or "{}")
            except (OSError, ValueError):
                raise ConfigError(f"{path} does not appear to be valid JSON; fix the file") from None
            if not isinstance(data, dict):
                raise ConfigError(f"{path} must hold a JSON object; fix the file")
            switches = _switches(data, path, profile)
    overrides: dict[str, Any] = {}
    if oauth:
        # --oauth means OAuth even when MAJORA_TOKEN holds an API key.
        overrides["api_key"] = "OAUTH"
    settings = load_settings(profile=profile, env=env, **overrides)
    return OcarinaConfig(settings=settings, path=path,
                         no_banner=_flag(switches.get("OCARINA_NO_BANNER"), "OCARINA_NO_BANNER", path),
                         quiet=_flag(switches.get("OCARINA_QUIET"), "OCARINA_QUIET", path))
