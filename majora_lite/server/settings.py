"""Programmatic Django configuration for majora-lite, built from the data directory and options."""

from __future__ import annotations

import errno
import ipaddress
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

#: Largest request body accepted (bytes). Larger bodies get 413 from waitress, or 400 from Django.
MAX_BODY_BYTES = 10 * 1024 * 1024
DB_NAME = "majora-lite.sqlite3"
#: Requests running inside Django at once (``--max-active``). Measured on 2 cores, 8 keep-alive clients
#: fetching biosamples: 150-170 records/s with no limit (16 threads), 175-185 with 2, 200-210 with 1.
DEFAULT_MAX_ACTIVE = 2


@dataclass(frozen=True)
class ServerOptions:
    """OAuth behaviour switches (only matter for ``start``)."""

    access_token_lifetime: int = 36000
    grace: int = 0
    strict: bool = False
    #: ZANA pool prefix: biosample add/update issue an anonymous_sample_id (None: ZANA disabled, the
    #: warning Majora's recorded deployment gives).
    zana: str | None = None
    #: The address ``start`` binds; requests must name it (or a loopback name) in their Host header.
    host: str = "127.0.0.1"


_LOOPBACK_NAMES = ["127.0.0.1", "localhost", "[::1]"]


def is_wildcard(host: str) -> bool:
    """True for an all-interfaces bind (0.0.0.0, ::, empty)."""
    if not host:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def allowed_hosts(host: str) -> list[str]:
    """Host headers accepted: the bound address and the loopback names (DNS rebinding protection).
    A wildcard bind can be reached under any name, so it accepts any (``start`` warns about it)."""
    if is_wildcard(host):
        return ["*"]
    bound = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return sorted({bound, *_LOOPBACK_NAMES})


def make_private(data: Path) -> None:
    """The data directory 0700 and the database, its journals and the secret key 0600: they hold
    access and refresh tokens, API keys and password hashes. The empty database file is created 0600
    before SQLite would create it with the umask's mode (SQLite gives its -wal/-shm the same mode)."""
    if os.stat(data).st_mode & 0o077:
        os.chmod(data, 0o700)
    db = data / DB_NAME
    try:
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    for path in (db, data / f"{DB_NAME}-wal", data / f"{DB_NAME}-shm", data / "secret_key"):
        try:
            if os.stat(path).st_mode & 0o077:
                os.chmod(path, 0o600)
        except FileNotFoundError:
            pass


#: File in the data directory holding the secret the ``/_lite/*`` admin endpoints require.
ADMIN_SECRET_FILE = "admin_secret"
#: The request header that carries it.
ADMIN_HEADER = "X-Majora-Lite-Admin"


def _private_secret(path: Path) -> str:
    """The secret in ``path``, created once (0600, first writer wins) if missing."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(48)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    try:
        os.link(tmp, path)  # first writer wins; others read its key
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def _secret_key(data_dir: Path) -> str:
    """A per-data-dir secret key, created once (0600) so sessions survive restarts."""
    return _private_secret(data_dir / "secret_key")


def admin_secret(data_dir: Path) -> str:
    """The per-server secret of the ``/_lite/*`` admin endpoints (``<data dir>/admin_secret``, 0600).

    Loopback alone admits every local user; the file's mode admits only the server's owner (and root).
    A file another user could have planted or can read is refused (PermissionError): it would hand them
    the fault switches and the counters.
    """
    path = data_dir / ADMIN_SECRET_FILE
    value = _private_secret(path)
    st = os.lstat(path)
    if st.st_uid != os.getuid() or st.st_mode & 0o077 or not stat.S_ISREG(st.st_mode):
        raise PermissionError(errno.EPERM, f"{path} must be a regular file of yours with mode 600 "
                              f"(it is {stat.S_IMODE(st.st_mode):o}, uid {st.st_uid}); remove it and start "
                              "again to make a new one")
    return value


def oauth2_provider_settings(opts: ServerOptions) -> dict:
    """DOT settings reproducing Majora's deployment (DOT 1.4.1 defaults + Majora's overrides)."""
    return {
        "OAUTH2_VALIDATOR_CLASS": "majora_lite.web.oauth.LiteOAuth2Validator",
        "SCOPES_BACKEND_CLASS": "majora_lite.web.oauth.PermissionScopes",
        "ACCESS_TOKEN_EXPIRE_SECONDS": int(opts.access_token_lifetime),
        "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
        "REFRESH_TOKEN_EXPIRE_SECONDS": None,
        "ROTATE_REFRESH_TOKEN": True,
        "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": int(opts.grace),
        "REFRESH_TOKEN_REUSE_PROTECTION": bool(opts.strict),
        "REQUEST_APPROVAL_PROMPT": "auto",
        # Majora ran DOT 1.4.1 where PKCE was optional; DOT 3 defaults to required.
        "PKCE_REQUIRED": False,
        # http is only accepted for loopback hosts; enforced in the validator and in addapp.
        "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],
        # RFC 8252: loopback redirect URIs match on any port, for localhost too.
        "ALLOW_LOCALHOST_LOOPBACK": True,
        "ERROR_RESPONSE_WITH_SCOPES": False,
    }


def configure(data_dir: str | os.PathLike, opts: ServerOptions | None = None) -> Path:
    """Configure and set up Django for ``data_dir``; returns the resolved data dir."""
    import django
    from django.conf import settings

    opts = opts or ServerOptions()
    data = Path(data_dir).resolve()
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    make_private(data)
    if settings.configured:
        return data
    settings.configure(
        DEBUG=False,
        SECRET_KEY=_secret_key(data),
        ALLOWED_HOSTS=allowed_hosts(opts.host),
        # The login and approval pages must not be framed by another site (clickjacking).
        X_FRAME_OPTIONS="DENY",
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "oauth2_provider",
            # Majora's two-factor login stores TOTP devices with django-otp's model (totpdevice_set).
            "django_otp",
            "django_otp.plugins.otp_totp",
            "majora_lite.majora2",
        ],
        MIDDLEWARE=[
            "django.middleware.common.CommonMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "majora_lite.web.middleware.BearerTokenMiddleware",
            "django.middleware.clickjacking.XFrameOptionsMiddleware",
        ],
        # As deployed Majora (Django's default): a request without the trailing slash to a path that
        # exists with one answers 301 to it, with an empty body (a POST too: DEBUG is off).
        APPEND_SLASH=True,
        ROOT_URLCONF="majora_lite.server.urls",
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(data / DB_NAME),
                # Waitress threads are long-lived: keep one connection per thread.
                "CONN_MAX_AGE": 300,
                "CONN_HEALTH_CHECKS": True,
                "OPTIONS": {
                    "timeout": 30,
                    # BEGIN IMMEDIATE: writers queue on busy_timeout instead of failing with
                    # "database is locked" when a read transaction tries to upgrade.
                    "transaction_mode": "IMMEDIATE",
                    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                },
            }
        },
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                    ]
                },
            }
        ],
        # A fast PBKDF2 first: DOT hashes client secrets with the default hasher and checks it on
        # every token request; majora-lite is a test server, not a password vault.
        PASSWORD_HASHERS=[
            "majora_lite.web.hashers.LitePBKDF2PasswordHasher",
            "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        ],
        USE_TZ=True,
        TIME_ZONE="UTC",
        LOGIN_URL="/accounts/login/",
        OTP_TOTP_ISSUER="majora-lite",
        STATIC_URL="/static/",
        LOGIN_REDIRECT_URL="/",
        SESSION_COOKIE_NAME="majoralite_sessionid",
        CSRF_COOKIE_NAME="majoralite_csrftoken",
        DATA_UPLOAD_MAX_MEMORY_SIZE=MAX_BODY_BYTES,
        OAUTH2_PROVIDER=oauth2_provider_settings(opts),
        LOGGING_CONFIG=None,
        MAJORA_LITE={"data_dir": str(data), "strict": opts.strict, "zana": opts.zana},
    )
    django.setup()
    return data


def migrate(data_dir: Path) -> None:
    """Apply migrations (idempotent). A file lock keeps concurrent admin commands from racing."""
    import fcntl

    from django.core.management import call_command

    with open(data_dir / ".migrate.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        call_command("migrate", verbosity=0, interactive=False)
