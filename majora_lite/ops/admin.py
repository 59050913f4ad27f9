"""Admin operations behind the CLI (users, apps, API keys, dataview grants). Django must be configured."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from importlib import resources
from pathlib import Path

from django.contrib.auth.models import Permission, User
from django.db import transaction
from django.utils import timezone

from majora_lite.majora2 import models

DEFAULT_REDIRECT_URIS = ["http://127.0.0.1/o/callback/", "http://localhost/o/callback/"]
ORG_NAMES = {
    "HOOT": "Hypothetical University of Hooting",
    "BIRM": "University of Birmingham",
    "CAMB": "University of Cambridge",
    "EDIN": "University of Edinburgh",
    "LOND": "London Sequencing Hub",
    "NORW": "Quadram Institute Bioscience",
    "CWAR": "Cardiff Wales Sequencing Centre",
}


class AdminError(Exception):
    """An admin command failed for a reason the user can fix; carries a sysexits code."""

    def __init__(self, message: str, code: int = 65) -> None:
        super().__init__(message)
        self.code = code


def get_org(code: str) -> models.Institute:
    code = code.upper()
    org, _ = models.Institute.objects.get_or_create(code=code, defaults={"name": ORG_NAMES.get(code, code)})
    return org


def majora_permissions(codenames: list[str] | None = None) -> list[Permission]:
    """Resolve ``majora2.<codename>`` strings (or all majora2 permissions when None)."""
    qs = Permission.objects.filter(content_type__app_label="majora2")
    if codenames is None:
        return list(qs)
    wanted = {}
    for name in codenames:
        app, _, code = name.partition(".")
        if app != "majora2" or not code:
            raise AdminError(f"permission {name!r} is not of the form majora2.<codename>", 64)
        wanted[code] = name
    found = {p.codename: p for p in qs.filter(codename__in=list(wanted))}
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise AdminError(f"unknown permission(s): {', '.join('majora2.' + m for m in missing)}", 64)
    return list(found.values())


def shipped_data(name: str) -> Path:
    """Path of a data file shipped with majora-lite (``orgs.txt``, ``mdv/DA1``, ``qc/...``)."""
    return Path(str(resources.files("majora_lite").joinpath("data", name)))


def load_orgs(path: str | Path) -> list[dict]:
    """Load organisations from Majora's orgs file format: one ``name<TAB>code`` line per institute.

    As Majora's ``load_orgs``, the name is the first field and the code the second; an existing code
    gets the file's name.
    """
    lines = read_lines(path, "organisations file")
    out = []
    with transaction.atomic():
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) < 2 or not fields[0].strip() or not fields[1].strip():
                raise AdminError(
                    f"{path}, line {number}: expected 'name<TAB>code' (Majora's orgs file format)", 65
                )
            name, code = fields[0].strip(), fields[1].strip()
            if len(code) > 10:
                raise AdminError(f"{path}, line {number}: organisation code {code!r} is longer than 10", 65)
            org, created = models.Institute.objects.update_or_create(code=code, defaults={"name": name})
            out.append({"code": org.code, "name": org.name, "created": created})
    return out


def read_lines(path: str | Path, what: str) -> list[str]:
    """The lines of a text file an admin command loads; a missing or unreadable file is AdminError 66."""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.readlines()
    except FileNotFoundError:
        raise AdminError(f"{what} {path} does not exist", 66) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AdminError(f"cannot read {what} {path}: {exc}", 66) from None


def _totp_secret(user: User) -> str:
    """The user's TOTP device secret (base32, as authenticator apps take it); creates the device."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user).order_by("id").first()
    if device is None:
        # Majora's two-factor setup confirms the device once a first code is entered; majora-lite
        # creates it confirmed, as if the user had just done that.
        device = TOTPDevice.objects.create(user=user, name="default", confirmed=True)
    return base64.b32encode(device.bin_key).decode("ascii")


def add_user(
    username: str,
    password: str,
    *,
    org: str = "HOOT",
    perms: list[str] | None = None,
    all_perms: bool = False,
    totp: bool = False,
) -> dict:
    """Create or update a user with a Profile in ``org`` and the given permissions.

    ``totp`` gives the user a TOTP device (Majora refuses tokens to users without one); the result
    then carries its base32 ``totp_secret``, for the caller to show once and never log.
    """
    if not username or not password:
        raise AdminError("username and password must be non-empty", 64)
    with transaction.atomic():
        user, created = User.objects.get_or_create(username=username)
        user.set_password(password)
        user.is_active = True
        user.save()
        institute = get_org(org)
        models.Profile.objects.update_or_create(
            user=user, defaults={"institute": institute, "is_revoked": False}
        )
        granted = majora_permissions(None if all_perms else (perms or []))
        if all_perms or perms:
            user.user_permissions.add(*granted)
        secret = _totp_secret(user) if totp else None
    out = {
        "username": username,
        "created": created,
        "org": institute.code,
        "permissions": sorted(f"majora2.{p.codename}" for p in user.user_permissions.all()),
        "totp": secret is not None or user.totpdevice_set.exists(),
    }
    if secret is not None:
        out["totp_secret"] = secret
    return out


def add_app(name: str, redirect_uris: list[str] | None = None) -> dict:
    """Register a confidential authorization-code client; returns the plaintext secret once."""
    from oauth2_provider.generators import generate_client_secret
    from oauth2_provider.models import Application

    from majora_lite.web.oauth import redirect_uri_acceptable

    uris = redirect_uris or DEFAULT_REDIRECT_URIS
    bad = [u for u in uris if not redirect_uri_acceptable(u)]
    if bad:
        raise AdminError(
            f"redirect URI {bad[0]!r} rejected: use https, or http on 127.0.0.1/localhost only", 64
        )
    secret = generate_client_secret()  # DOT 3 hashes it on save: keep the plaintext now
    app = Application.objects.create(
        name=name,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=" ".join(uris),
        client_secret=secret,
        hash_client_secret=True,
        skip_authorization=False,
        algorithm="",
    )
    return {"client_id": app.client_id, "client_secret": secret, "name": name, "redirect_uris": uris}


def _profile(username: str) -> models.Profile:
    profile = models.Profile.objects.select_related("user").filter(user__username=username).first()
    if profile is None:
        raise AdminError(f"no user {username!r} with a profile; create it with 'adduser' first", 66)
    return profile


def api_key(username: str, days: float = 3, permission: str | None = None) -> dict:
    """Issue a legacy API key valid from now for ``days`` (negative days gives an expired key)."""
    profile = _profile(username)
    if permission:
        majora_permissions([permission])
    now = timezone.now()
    start, end = (now - dt.timedelta(seconds=1), now + dt.timedelta(days=days))
    if days <= 0:
        start, end = now + dt.timedelta(days=days) - dt.timedelta(days=1), now + dt.timedelta(days=days)
    key = models.ProfileAPIKey.objects.create(
        profile=profile,
        key=secrets.token_urlsafe(32),
        permission=permission or "",
        validity_start=start,
        validity_end=end,
    )
    return {"username": username, "key": key.key, "valid_until": end.isoformat(), "permission": permission}


def grant_dataview(username: str, code: str, days: float = 30) -> dict:
    """Grant a user read access to dataview ``code`` for ``days`` (Majora's grant_dataview)."""
    profile = _profile(username)
    mdv = models.MajoraDataviewDefinition.objects.filter(code_name=code).first()
    if mdv is None:
        raise AdminError(
            f"no dataview {code!r}; load it with 'load-dataview' (or 'seed') first, or pick one of: "
            + ", ".join(models.MajoraDataviewDefinition.objects.values_list("code_name", flat=True))
            or "(none)",
            66,
        )
    now = timezone.now()
    start, end = now - dt.timedelta(seconds=1), now + dt.timedelta(days=days)
    if days <= 0:
        start, end = now + dt.timedelta(days=days) - dt.timedelta(days=30), now + dt.timedelta(days=days)
    models.MajoraDataviewUserPermission.objects.create(
        profile=profile, dataview=mdv, validity_start=start, validity_end=end
    )
    return {"username": username, "mdv": code, "valid_until": end.isoformat()}


def issue_token(username: str, scopes: list[str] | str = "all", *, expired: bool = False) -> dict:
    """Issue an access token directly, as if a login had granted ``scopes`` (no refresh token).

    ``scopes`` is ``"all"`` (every ``majora2`` permission the user holds, as Majora's login would
    grant), or a list of ``majora2.<codename>`` (empty: a token without scopes). ``expired`` gives a
    token whose expiry is already past. For test harnesses (the conformance replayer) that need
    bearers of several users without driving the browser flow each time.
    """
    from django.conf import settings
    from oauth2_provider.models import AccessToken, Application

    profile = _profile(username)
    if scopes == "all":
        held = profile.user.get_all_permissions()
        scope_list = sorted(p for p in held if p.startswith("majora2."))
    else:
        scope_list = sorted(f"majora2.{p.codename}" for p in majora_permissions(list(scopes)))
    app = Application.objects.order_by("id").first()
    if app is None:
        app = Application.objects.create(
            name="majora-lite admin tokens",
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris=" ".join(DEFAULT_REDIRECT_URIS),
            algorithm="",
        )
    lifetime = settings.OAUTH2_PROVIDER["ACCESS_TOKEN_EXPIRE_SECONDS"]
    expires = timezone.now() + (dt.timedelta(seconds=-60) if expired else dt.timedelta(seconds=lifetime))
    token = AccessToken.objects.create(
        user=profile.user,
        application=app,
        token=secrets.token_urlsafe(30),
        expires=expires,
        scope=" ".join(scope_list),
    )
    return {"username": username, "access_token": token.token, "scope": token.scope, "expired": expired}
