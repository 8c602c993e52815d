"""Account safety: API tokens end with a password change, and bad tokens are throttled."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.throttling import SimpleRateThrottle


class ApiTokenRevoker:
    """Listed in AUTH_PASSWORD_VALIDATORS for its hook, not as a rule.

    Django calls ``password_changed`` from ``User.save()`` after every ``set_password`` (the
    password change and reset views, the admin, ``manage.py changepassword``), so hooking in
    here covers each way a password changes: a token copied before stops working with it.
    """

    def validate(self, password: str, user=None) -> None:
        return None

    def password_changed(self, password: str, user=None) -> None:
        from rest_framework.authtoken.models import Token

        if user is not None and user.pk is not None:
            Token.objects.filter(user=user).delete()

    def get_help_text(self) -> str:
        return ""


class BadTokenThrottle(SimpleRateThrottle):
    """Counts requests whose token matched no user, per client IP address."""

    scope = "bad_token"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class ThrottledTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, answering 429 once an address sends too many bad tokens.

    DRF authenticates before it throttles, so a wrong token is a 401 that no throttle ever
    counts: guessing tokens would run at full speed. Here each bad token is counted, and past
    the ``bad_token`` rate the answer is 429 with Retry-After, before the token is looked up.
    """

    def authenticate(self, request):
        if not request.META.get("HTTP_AUTHORIZATION", "").lower().startswith("token "):
            return None
        throttle = BadTokenThrottle()
        throttle.key = throttle.get_cache_key(request, None)
        throttle.history = throttle.cache.get(throttle.key, [])
        throttle.now = throttle.timer()
        while throttle.history and throttle.history[-1] <= throttle.now - throttle.duration:
            throttle.history.pop()
        if len(throttle.history) >= throttle.num_requests:
            raise exceptions.Throttled(wait=throttle.wait())
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            throttle.throttle_success()  # records this failure in the address's history
            raise


class LoginLimitBackend(AxesStandaloneBackend):
    """django-axes' check, for logins that come with a request (the web's, which can be
    brute-forced); a login without one (``Client.login`` in tests, a shell) is not checked
    instead of raising ``AxesBackendRequestParameterRequired``."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)
