"""Bearer-token middleware (Majora's ``tatl.middleware.TempOAuth2TokenMiddleware``)."""

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
