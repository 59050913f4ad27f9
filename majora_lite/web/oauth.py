"""OAuth2 as Majora runs it: permission scopes, user-bounded scope grants, a serialised token endpoint."""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import threading
from urllib.parse import urlsplit

from django.contrib.auth.models import Permission
from django.db.models import F
from oauth2_provider.models import AccessToken, RefreshToken
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import BaseScopes
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views import TokenView
from oauthlib.oauth2 import AccessDeniedError

from majora_lite.api.state import COUNTERS

#: SQLite serialises writers and ``select_for_update`` is a no-op there, so DOT's row locks do not
#: stop two refreshes of one refresh token from both validating. One process-wide lock does.
TOKEN_LOCK = threading.Lock()
#: Test-only switch for the negative control of the concurrent-refresh test; never set it otherwise.
UNSAFE_NO_TOKEN_LOCK_ENV = "MAJORA_LITE_UNSAFE_NO_TOKEN_LOCK"
#: Majora's ``error_description`` for a code exchanged by a user without two-factor authentication.
NO_2FA = "The requesting user has not enabled 2FA"


def _token_lock():
    if os.environ.get(UNSAFE_NO_TOKEN_LOCK_ENV) == "1":
        return contextlib.nullcontext()
    return TOKEN_LOCK


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redirect_uri_acceptable(uri: str) -> bool:
    """https anywhere, http only on loopback (127.0.0.1, ::1, localhost)."""
    parts = urlsplit(uri)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and is_loopback_host(parts.hostname)


class PermissionScopes(BaseScopes):
    """Majora's ``tatl.oauth2.PermissionScopes``: every ``majora2`` permission is a scope."""

    _cache: dict[str, str] | None = None

    def get_all_scopes(self):
        # DOT asks for every scope on every bearer check (AccessToken.scopes); the majora2 permissions
        # are fixed once migrations ran, so one query per server process is enough.
        cached = PermissionScopes._cache
        if cached is None:
            cached = {
                f"majora2.{p.codename}": p.name
                for p in Permission.objects.filter(content_type__app_label="majora2")
            }
            if cached:
                PermissionScopes._cache = cached
        return dict(cached)

    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        return list(self.get_all_scopes())

    def get_default_scopes(self, application=None, request=None, *args, **kwargs):
        return []


class LiteOAuth2Validator(OAuth2Validator):
    """Majora's ``ApplicationSpecificOAuth2Validator`` plus loopback-only http redirects."""

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        if not super().validate_scopes(client_id, scopes, client, request, *args, **kwargs):
            return False
        user = getattr(request, "user", None)
        if user is None:
            # Showing the consent page (GET): oauthlib has no user yet; the POST re-validates with one.
            return True
        if not getattr(user, "is_authenticated", False):
            return False
        return set(scopes).issubset(user.get_all_permissions())

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        if not super().validate_code(client_id, code, client, request, *args, **kwargs):
            return False
        # Majora's validator refuses the exchange when the code's user has no TOTP device at all (it
        # counts devices, confirmed or not), after the code itself was found valid.
        from django_otp.plugins.otp_totp.models import TOTPDevice

        if not TOTPDevice.objects.filter(user=request.user).exists():
            raise AccessDeniedError(description=NO_2FA, request=request)
        return True

    def _load_access_token(self, token):
        # DOT's lookup plus the user's Majora profile, which every v2 view checks (is_revoked): one
        # query per API call fewer. Same token, same checksum lookup, same validity checks after it.
        checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
        return (
            AccessToken.objects.select_related("application", "user__profile")
            .filter(token_checksum=checksum)
            .first()
        )

    def validate_redirect_uri(self, client_id, redirect_uri, request, *args, **kwargs):
        return redirect_uri_acceptable(redirect_uri) and super().validate_redirect_uri(
            client_id, redirect_uri, request, *args, **kwargs
        )

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        if not oauth2_settings.REFRESH_TOKEN_REUSE_PROTECTION:
            return super().validate_refresh_token(refresh_token, client, request, *args, **kwargs)
        # Count family revocations that kill live tokens: DOT revokes the family when a revoked
        # member is replayed outside the grace period.
        checksum = hashlib.sha256(refresh_token.encode("utf-8")).hexdigest()
        rt = (
            RefreshToken.objects.filter(token_checksum=checksum)
            .order_by(F("revoked").desc(nulls_first=True))
            .first()
        )
        live_before = bool(
            rt is not None
            and rt.token_family
            and RefreshToken.objects.filter(token_family=rt.token_family, revoked__isnull=True).exists()
        )
        ok = super().validate_refresh_token(refresh_token, client, request, *args, **kwargs)
        if not ok and live_before and rt.revoked is not None:
            if not RefreshToken.objects.filter(token_family=rt.token_family, revoked__isnull=True).exists():
                COUNTERS.inc("family_revocations")
        return ok


class LiteTokenView(TokenView):
    """DOT's token endpoint, one request at a time, with exact counters."""

    def post(self, request, *args, **kwargs):
        COUNTERS.inc("token_endpoint_calls")
        grant_type = request.POST.get("grant_type")
        with _token_lock():
            response = super().post(request, *args, **kwargs)
        if response.status_code == 200:
            if grant_type == "refresh_token":
                COUNTERS.inc("refreshes")
            elif grant_type == "authorization_code":
                COUNTERS.inc("code_exchanges")
        else:
            try:
                error = json.loads(response.content).get("error")
            except (ValueError, AttributeError):
                error = None
            if error == "invalid_grant":
                COUNTERS.inc("invalid_grant")
        return response
