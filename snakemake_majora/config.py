"""Settings resolution: explicit arguments > environment > our YAML config (profiles) > Ocarina's JSON.

Each resolved key remembers where it came from (``Settings.sources``) so ``doctor`` can explain it.
See docs/credentials.md for the full table.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from .errors import ConfigError
from .logsafe import register_secret
from .trust import check_trusted_dir, check_trusted_file

log = logging.getLogger(__name__)

#: Scopes requested by ``login`` unless configured: the read scopes, dataviews, and the write scopes of
#: our ``put`` commands. Majora refuses a grant that asks for a permission the user lacks, so a user
#: without e.g. dataview access sets ``scopes:`` in the config.
DEFAULT_SCOPES: tuple[str, ...] = (
    "majora2.view_biosampleartifact",
    "majora2.temp_can_read_pags_via_api",
    "majora2.can_read_dataview_via_api",
    "majora2.add_biosampleartifact",
    "majora2.change_biosampleartifact",
    "majora2.add_biosamplesource",
    "majora2.change_biosamplesource",
    "majora2.add_biosourcesamplingprocess",
    "majora2.change_biosourcesamplingprocess",
    "majora2.add_libraryartifact",
    "majora2.change_libraryartifact",
    "majora2.add_librarypoolingprocess",
    "majora2.change_librarypoolingprocess",
    "majora2.add_dnasequencingprocess",
    "majora2.change_dnasequencingprocess",
    "majora2.add_temporarymajoraartifactmetric",
    "majora2.change_temporarymajoraartifactmetric",
)

LOCK_MODES = ("auto", "flock", "lease")
#: Lease lock duration (``lock_lease_seconds``). The minimum keeps the heartbeat (a third of the lease)
#: meaningful; the maximum keeps a crashed holder's lease shorter than the 180 s a waiter waits for the lock.
#: Production should keep the default: a holder frozen longer than the lease (SIGSTOP, swapping, an NFS
#: hang) can overlap the next holder, so the lease must stay well above the refresh budget (~95 s).
LEASE_DEFAULT, LEASE_MIN, LEASE_MAX, LEASE_ADVISED = 120.0, 2.0, 150.0, 95.0
SECRET_KEYS = ("client_secret", "api_key")

# Our key -> (environment variables in order, Ocarina key)
_KEYS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "domain": (("MAJORA_DOMAIN",), "MAJORA_DOMAIN"),
    "user": (("MAJORA_USER",), "MAJORA_USER"),
    "api_key": (("MAJORA_TOKEN",), "MAJORA_TOKEN"),
    "client_id": (("MAJORA_CLIENT_ID", "CLIENT_ID"), "CLIENT_ID"),
    "client_secret": (("MAJORA_CLIENT_SECRET", "CLIENT_SECRET"), "CLIENT_SECRET"),
    "scopes": ((), None),
    "lock": (("SNAKEMAKE_MAJORA_LOCK",), None),
    "lock_lease_seconds": (("SNAKEMAKE_MAJORA_LOCK_LEASE",), None),
    "token_file": (("SNAKEMAKE_MAJORA_TOKEN_FILE",), None),
    "ocarina_tokens_file": ((), "MAJORA_TOKENS_FILE"),
}
_warned_paths: set[str] = set()
_warned_lease: set[float] = set()


@dataclass
class Settings:
    """Resolved configuration. ``repr`` never shows secrets."""

    domain: str
    user: str
    api_key: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    lock: str = "auto"
    lock_lease_seconds: float = LEASE_DEFAULT
    token_file: Path | None = None
    home: Path = field(default_factory=lambda: default_home({}))
    profile: str | None = None
    config_file: Path | None = None
    ocarina_file: Path | None = None
    ocarina_tokens_file: Path | None = None
    sources: dict[str, str] = field(default_factory=dict)
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    task_timeout: float = 1800.0
    #: Whole-request deadline (connect, send, answer): a server trickling bytes cannot hold a call longer.
    request_deadline: float = 120.0

    @property
    def oauth(self) -> bool:
        """True in OAuth mode (no API key, or the Ocarina marker ``OAUTH``)."""
        return not self.api_key or self.api_key.upper() == "OAUTH"

    @property
    def token_url(self) -> str:
        return self.domain + "o/token/"

    @property
    def authorize_url(self) -> str:
        return self.domain + "o/authorize/"

    @property
    def redirect_uri(self) -> str:
        return self.domain + "o/callback/"

    def url(self, path: str) -> str:
        """Clean absolute URL for an API path, whatever slashes either side carries."""
        return self.domain + path.strip("/") + "/"

    def __repr__(self) -> str:
        return (
            f"Settings(domain={self.domain!r}, user={self.user!r}, "
            f"mode={'oauth' if self.oauth else 'api-key'}, client_id={self.client_id!r}, "
            f"profile={self.profile!r}, lock={self.lock!r})"
        )

    def describe(self) -> dict[str, Any]:
        """Non-secret view for ``doctor``/``status``: each key, its value or ``<set>``, and its source."""
        out: dict[str, Any] = {}
        keys = ("domain", "user", "api_key", "client_id", "client_secret", "scopes", "lock",
                "lock_lease_seconds", "token_file")
        for key in keys:
            val = getattr(self, key)
            if key in SECRET_KEYS and val:
                val = "OAUTH" if val.upper() == "OAUTH" else "<set>"
            elif isinstance(val, Path):
                val = str(val)
            elif isinstance(val, tuple):
                val = " ".join(val)
            out[key] = {"value": val, "source": self.sources.get(key, "default")}
        out["mode"] = "oauth" if self.oauth else "api-key"
        out["home"] = str(self.home)
        out["profile"] = self.profile
        return out


def default_home(env: dict[str, str] | os._Environ[str]) -> Path:
    """``$SNAKEMAKE_MAJORA_HOME``, else ``$XDG_CONFIG_HOME/snakemake-majora`` (XDG default ``~/.config``)."""
    if env.get("SNAKEMAKE_MAJORA_HOME"):
        return Path(env["SNAKEMAKE_MAJORA_HOME"]).expanduser()
    xdg = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(xdg).expanduser() / "snakemake-majora"


def clean_domain(raw: str, source: str) -> str:
    """Normalise a Majora base URL to ``scheme://host[:port]/path/``; refuse http:// off loopback."""
    raw = raw.strip()
    parts = urlsplit(raw)
    shown = _mask_userinfo(raw)
    if parts.username is not None or parts.password is not None:
        # A password there would be printed by doctor and in every error naming the server.
        raise ConfigError(f"domain {shown!r} (from {source}) contains a user name or password; remove the "
                          "'user:password@' part (Majora authenticates with OAuth or an API key)")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"domain {shown!r} (from {source}) is not an http(s) URL; set it like "
                          f"https://majora.example.org/")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(
            f"domain {shown!r} (from {source}) uses plain http:// to a non-loopback host; use https:// "
            "(http is allowed only for 127.0.0.1/localhost test servers)"
        )
    path = "/".join(p for p in parts.path.split("/") if p)
    path = "/" + (path + "/" if path else "")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _check_types(values: dict[str, Any], sources: dict[str, str]) -> None:
    """One line naming the key and where it came from when a value has the wrong type (YAML lists,
    numbers...), instead of a crash later. Secret values are never shown."""
    for key, val in values.items():
        if key == "scopes":
            if isinstance(val, str) or (isinstance(val, list | tuple)
                                        and all(isinstance(v, str) for v in val)):
                continue
            want = "a space-separated string or a list of scope names"
        elif key == "lock_lease_seconds":
            continue  # checked with its range by _lease_seconds
        elif key in ("token_file", "ocarina_tokens_file"):
            if isinstance(val, str | os.PathLike):
                continue
            want = "a file path"
        elif isinstance(val, str) or (isinstance(val, int) and not isinstance(val, bool)
                                      and key in ("user", "client_id")):
            continue  # a numeric user name or client id in YAML is still a name
        else:
            want = "text"
        shown = "a value of type " + type(val).__name__ if key in SECRET_KEYS else f"{val!r}"[:60]
        source = sources.get(key, "config")
        oc_key = _KEYS[key][1] if key in _KEYS else None
        name = f"{oc_key} ({key})" if oc_key and source.endswith("(Ocarina)") else key
        raise ConfigError(f"{name} (from {source}) must be {want}, not {shown}; fix it there")


def _mask_userinfo(raw: str) -> str:
    """``raw`` with any ``user:password@`` replaced, for messages."""
    return re.sub(r"(?<=://)[^/@\s]*@", "<credentials>@", raw)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def warn_if_exposed(path: Path, what: str) -> None:
    """Log one warning per path when a file holding secrets is readable by group or others."""
    try:
        st = path.stat()
    except OSError:
        return
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO) and str(path) not in _warned_paths:
        _warned_paths.add(str(path))
        log.warning(
            "%s %s is accessible by group/others (mode %o); run: chmod 600 %s",
            what, path, stat.S_IMODE(st.st_mode), path,
        )


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"malformed YAML in {path}{where}: {problem}; fix the file") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping (default_profile:, profiles:)")
    return data


def _load_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read Ocarina config {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise ConfigError(f"malformed JSON in {path} line {exc.lineno}: {exc.msg}; fix the file") from None
    if not isinstance(data, dict):
        raise ConfigError(f"Ocarina config {path} must hold a JSON object")
    return data


def _did_you_mean(unknown: list[Any], allowed: list[str]) -> str:
    """``; did you mean client_secret? allowed keys: ...`` for an unknown-key message."""
    import difflib

    hints = []
    for key in unknown:
        near = difflib.get_close_matches(str(key).replace("-", "_").lower(), allowed, n=1, cutoff=0.6)
        if near:
            hints.append(f"{near[0]} (for {key})" if len(unknown) > 1 else near[0])
    mean = f"; did you mean {', '.join(hints)}?" if hints else ""
    return f"{mean} allowed keys: {', '.join(sorted(allowed))}"


def _yaml_layer(data: dict[str, Any], path: Path, profile: str | None) -> tuple[dict[str, Any], str | None]:
    """Root-level keys, overlaid by the chosen profile. Returns (values, profile name used)."""
    profiles = data.get("profiles") or {}
    if not isinstance(profiles, dict):
        raise ConfigError(f"'profiles' in {path} must be a mapping of name -> settings")
    name = profile or data.get("default_profile")
    if not profile and name is not None and (not isinstance(name, str | int) or isinstance(name, bool)):
        # A list here used to crash as "unhashable type" when looked up under profiles:.
        raise ConfigError(f"default_profile in {path} must be a profile name, not {name!r:.60}; fix it there")
    values = {k: v for k, v in data.items() if k in _KEYS}
    if name:
        if name not in profiles:
            if profile:  # an explicitly requested profile must exist somewhere; checked by the caller
                return values, None
            raise ConfigError(f"default_profile {name!r} in {path} is not defined under profiles:")
        prof = profiles[name] or {}
        if not isinstance(prof, dict):
            raise ConfigError(f"profile {name!r} in {path} must be a mapping")
        unknown = sorted(set(prof) - set(_KEYS) - {"token"}, key=str)
        if unknown:
            raise ConfigError(f"unknown key(s) {', '.join(map(str, unknown))} in profile {name!r} of {path}"
                              f"{_did_you_mean(unknown, [*_KEYS, 'token'])}")
        values.update(prof)
    if "token" in values and "api_key" not in values:
        values["api_key"] = values.pop("token")
    return values, name


def ocarina_sections(data: dict[str, Any], path: Path, profile: str | None) -> list[dict[str, Any]]:
    """Ocarina's layers in precedence order (ffurf): root keys, ``default``, ``profile.<name>``.

    A section of the wrong type is one ConfigError naming it and the file: skipping it would leave the
    command running against the root keys' server while the user believes a profile applies.
    """
    layers = [data]
    default = data.get("default")
    if default is not None:
        if not isinstance(default, dict):
            raise ConfigError(f"default in {path} must be a JSON object of settings, not "
                              f"{type(default).__name__}; fix the file")
        layers.append(default)
    profiles = data.get("profile")
    if profiles is not None and not isinstance(profiles, dict):
        raise ConfigError(f"profile in {path} must be a JSON object of profile names, not "
                          f"{type(profiles).__name__}; fix the file")
    if profile and profiles and profile in profiles:
        chosen = profiles[profile]
        if not isinstance(chosen, dict):
            raise ConfigError(f"profile.{profile} in {path} must be a JSON object of settings, not "
                              f"{type(chosen).__name__}; fix the file")
        layers.append(chosen)
    return layers


def _ocarina_layer(data: dict[str, Any], path: Path, profile: str | None) -> dict[str, Any]:
    """Ocarina precedence (ffurf): root keys, then ``default``, then ``profile.<name>``."""
    root, *rest = ocarina_sections(data, path, profile)
    merged: dict[str, Any] = {k: v for k, v in root.items() if isinstance(k, str) and k.isupper()}
    for layer in rest:
        merged.update(layer)
    out = {}
    for key, (_env, oc_key) in _KEYS.items():
        if oc_key and merged.get(oc_key) not in (None, ""):
            out[key] = merged[oc_key]
    return out


def load_settings(
    profile: str | None = None,
    config_file: str | os.PathLike[str] | None = None,
    token_file: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    require: bool = True,
    **overrides: Any,
) -> Settings:
    """Resolve settings from every source (see module docstring).

    ``overrides`` are explicit values (``domain``, ``user``, ``api_key``, ``client_id``, ``client_secret``,
    ``scopes``, ``lock``). With ``require=False`` missing keys are left empty (for ``doctor``).
    """
    env = dict(os.environ if env is None else env)
    home = default_home(env)
    profile = profile or env.get("SNAKEMAKE_MAJORA_PROFILE") or None
    explicit_cfg = config_file or env.get("SNAKEMAKE_MAJORA_CONFIG")
    cfg_path = Path(explicit_cfg).expanduser() if explicit_cfg else home / "config.yaml"
    if explicit_cfg and not cfg_path.exists():
        origin = "argument" if config_file else "$SNAKEMAKE_MAJORA_CONFIG"
        raise ConfigError(f"config file {cfg_path} does not exist (from {origin})")

    clean_over = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(clean_over) - set(_KEYS) - {"connect_timeout", "read_timeout", "task_timeout",
                                                      "request_deadline"})
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
    if token_file is not None:
        clean_over["token_file"] = token_file
    env_vals: dict[str, Any] = {}
    env_src: dict[str, str] = {}
    for key, (names, _oc) in _KEYS.items():
        for name in names:
            if env.get(name):
                env_vals[key], env_src[key] = env[name], f"${name}"
                break

    # The home and each configuration file can redirect requests or name the token file: another user
    # who can change them could send the token to a server of theirs (docs/credentials.md, threat model).
    check_trusted_dir(home, "snakemake-majora home")
    used_profile = profile
    yaml_vals: dict[str, Any] = {}
    found = False
    if cfg_path.exists():
        check_trusted_file(cfg_path, "config file")
        data = _load_yaml(cfg_path)
        yaml_vals, yaml_profile = _yaml_layer(data, cfg_path, profile)
        found = yaml_profile is not None and yaml_profile == profile
        used_profile = used_profile or yaml_profile
        if any(yaml_vals.get(k) for k in SECRET_KEYS):
            warn_if_exposed(cfg_path, "config file")
    oc_path = Path(env.get("OCARINA_CONF_FILE") or Path.home() / ".ocarina").expanduser()
    oc_vals: dict[str, Any] = {}
    if oc_path.exists():
        check_trusted_file(oc_path, "Ocarina config")
        oc_data = _load_json(oc_path)
        oc_vals = _ocarina_layer(oc_data, oc_path, used_profile)
        found = found or (profile is not None and profile in (oc_data.get("profile") or {}))
        if any(oc_vals.get(k) for k in SECRET_KEYS):
            warn_if_exposed(oc_path, "Ocarina config")
    if profile and not found and (cfg_path.exists() or oc_path.exists()):
        raise ConfigError(
            f"profile {profile!r} is not defined: add it under profiles: in {cfg_path} "
            f"(or profile.{profile} in {oc_path})"
        )

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key in _KEYS:
        for label, layer in (
            ("argument", clean_over),
            (env_src.get(key, "environment"), env_vals),
            (f"{cfg_path}" + (f" profile {used_profile}" if used_profile else ""), yaml_vals),
            (f"{oc_path} (Ocarina)", oc_vals),
        ):
            if layer.get(key) not in (None, "", []):
                values[key], sources[key] = layer[key], label
                break

    missing = [k for k in ("domain", "user") if not values.get(k)]
    oauth = not values.get("api_key") or str(values["api_key"]).upper() == "OAUTH"
    if oauth:
        missing += [k for k in ("client_id", "client_secret") if not values.get(k)]
    if missing and require:
        k = missing[0]
        envs = " or ".join(f"${n}" for n in _KEYS[k][0])
        oc = _KEYS[k][1]
        prof = f"profiles.{used_profile}" if used_profile else "a profile"
        raise ConfigError(
            f"{k} is not set: set {envs}, or `{k}:` under {prof} in {cfg_path}"
            + (f", or {oc} in {oc_path}" if oc else "")
            + ("" if k in ("domain", "user") else " (OAuth mode; or set an API key as MAJORA_TOKEN)")
        )
    _check_types(values, sources)  # before registering: a secret that is not text cannot be registered
    for key in SECRET_KEYS:
        register_secret(values.get(key))
    domain = clean_domain(str(values["domain"]), sources["domain"]) if values.get("domain") else ""
    scopes_raw = values.get("scopes") or DEFAULT_SCOPES
    scopes = tuple(scopes_raw.split()) if isinstance(scopes_raw, str) else tuple(str(s) for s in scopes_raw)
    lock = str(values.get("lock") or "auto").lower()
    if lock not in LOCK_MODES:
        raise ConfigError(
            f"lock mode {lock!r} (from {sources.get('lock')}) must be one of {', '.join(LOCK_MODES)}"
        )
    lease = _lease_seconds(values.get("lock_lease_seconds"), sources.get("lock_lease_seconds"))
    tf = values.get("token_file")
    otf = values.get("ocarina_tokens_file")
    s = Settings(
        domain=domain,
        user=str(values.get("user") or ""),
        api_key=str(values["api_key"]) if values.get("api_key") else None,
        client_id=str(values["client_id"]) if values.get("client_id") else None,
        client_secret=str(values["client_secret"]) if values.get("client_secret") else None,
        scopes=scopes,
        lock=lock,
        lock_lease_seconds=lease,
        token_file=Path(tf).expanduser() if tf else None,
        home=home,
        profile=used_profile,
        config_file=cfg_path if cfg_path.exists() else None,
        ocarina_file=oc_path if oc_path.exists() else None,
        ocarina_tokens_file=Path(str(otf)).expanduser() if otf else Path.home() / ".ocarina-tokens",
        sources=sources,
    )
    for key in ("connect_timeout", "read_timeout", "task_timeout", "request_deadline"):
        if key in clean_over:
            setattr(s, key, float(clean_over[key]))
    return s


def _lease_seconds(raw: Any, source: str | None) -> float:
    """Validate ``lock_lease_seconds`` (seconds, LEASE_MIN..LEASE_MAX); warn once below LEASE_ADVISED."""
    if raw is None:
        return LEASE_DEFAULT
    try:
        val = float(raw)
    except (TypeError, ValueError):
        val = float("nan")
    if isinstance(raw, bool) or not LEASE_MIN <= val <= LEASE_MAX:  # NaN fails the range check too
        raise ConfigError(
            f"lock_lease_seconds {raw!r} (from {source}) must be a number of seconds from {LEASE_MIN:g} to "
            f"{LEASE_MAX:g}; leave it unset for the default {LEASE_DEFAULT:g}"
        )
    if val < LEASE_ADVISED and val not in _warned_lease:
        _warned_lease.add(val)
        log.warning("lock_lease_seconds %g (from %s) is shorter than a refresh can take (~%gs): a holder "
                    "frozen that long can overlap the next one; keep the default %gs outside tests",
                    val, source, LEASE_ADVISED, LEASE_DEFAULT)
    return val
