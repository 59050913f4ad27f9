"""HTML pages: two-factor login (password, then TOTP code) and Majora's out-of-band OAuth callback page."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render

#: Session key holding the user who gave the right password and still owes a TOTP code.
PENDING_2FA = "majoralite_pending_2fa"
BAD_TOKEN = "Invalid token. Please make sure you have entered it correctly."


def index(request):
    return HttpResponse("majora-lite\n", content_type="text/plain")


def _totp_device(user):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()


class LoginView(auth_views.LoginView):
    """Majora's two-factor login, first step: the password; a user with a TOTP device then owes a code.

    A user without a device is logged in by the password alone, as on Majora (whose token endpoint
    then refuses the code exchange, see ``oauth.LiteOAuth2Validator.validate_code``).
    """

    template_name = "registration/login.html"

    def form_valid(self, form):
        user = form.get_user()
        if _totp_device(user) is None:
            return super().form_valid(form)
        self.request.session[PENDING_2FA] = {
            "user": user.pk,
            "backend": user.backend,
            "next": self.get_success_url(),
        }
        return redirect("login-totp")


class TokenForm(forms.Form):
    otp_token = forms.CharField(label="Token", max_length=8, strip=True)


def verify_totp(device, token: str) -> bool:
    """Check ``token`` with django-otp (its time window, drift and failure throttling).

    Unlike Majora, a code may be used again within its 30-second step: the test suite and the demo
    log one user in many times a minute, and each login would otherwise wait for the next step.
    """
    device.last_t = -1
    return bool(device.verify_token(token))


def login_totp(request):
    """Second step of the login: the TOTP code of the user who gave the right password."""
    pending = request.session.get(PENDING_2FA)
    if not pending:
        return redirect("login")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = get_user_model().objects.filter(pk=pending["user"], is_active=True).first()
        device = _totp_device(user) if user is not None else None
        if device is not None and verify_totp(device, form.cleaned_data["otp_token"]):
            del request.session[PENDING_2FA]
            user.backend = pending["backend"]
            auth_login(request, user)
            return redirect(pending["next"])
        form.add_error(None, BAD_TOKEN)
    return render(request, "registration/login_totp.html", {"form": form})


@login_required
def oauth2_callback(request):
    """Majora's ``tatl.views.oauth2_callback``: show the full callback URL to paste into a CLI."""
    return render(
        request,
        "majora2/authorized-oob.html",
        {
            "full_uri": request.build_absolute_uri(),
            "code": request.GET.get("code", ""),
            "state": request.GET.get("state", ""),
            "error": request.GET.get("error", ""),
        },
    )


