"""Bearer-token middleware (Majora's ``tatl.middleware.TempOAuth2TokenMiddleware``), and the request
checks of majora-lite's own admin endpoints (``/_lite/*``)."""

from __future__ import annotations

from oauth2_provider.oauth2_backends import get_oauthlib_core


class BearerTokenMiddleware:
    """Authenticate ``Authorization: Bearer`` on v2 paths; invalid tokens fall through to API keys."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if (
            header.startswith("Bearer")  # case-sensitive, as Majora's middleware
            and not ("api" in path and "v3" in path)
            and not request.user.is_authenticated
            and not path.startswith("/o/")
        ):
            valid, r = get_oauthlib_core().verify_request(request, scopes=[])
            if valid:
                request.user = r.user
                request.lite_oauth = True
                # Kept so the view checks scopes on this token instead of loading it a second time.
                request.lite_access_token = r.access_token
        return self.get_response(request)


# Content types a browser may send cross-origin without a CORS preflight ("simple" requests).
_SIMPLE_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")


def admin_refusal(environ) -> str | None:
    """Why an ``/_lite/*`` request must be refused, or None.

    The admin endpoints are loopback-only, but a browser on this machine is on the loopback too: a page
    from another site could post fault rules or reset counters. So: the Host header must be one the
    server answers to (DNS rebinding), a request with an Origin or Sec-Fetch-Site must come from this
    server's own origin, and a body must be JSON (a cross-origin JSON POST needs a preflight, which the
    admin endpoints never grant).
    """
    from django.conf import settings
    from django.http.request import split_domain_port, validate_host

    host = environ.get("HTTP_HOST", "")
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return "Host header not served here"
    origin = environ.get("HTTP_ORIGIN")
    scheme = environ.get("wsgi.url_scheme", "http")
    if origin is not None and origin != f"{scheme}://{host}":
        return "cross-origin requests are refused"
    if environ.get("HTTP_SEC_FETCH_SITE", "same-origin") not in ("same-origin", "none"):
        return "cross-site requests are refused"
    ctype = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if ctype in _SIMPLE_TYPES:
        return "send the body as application/json"
    return None
