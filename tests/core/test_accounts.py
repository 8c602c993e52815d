"""Logins are rate-limited, sessions can be revoked, and a password change ends the API token."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "pw-chorus-123"  # tests.factories.UserFactory's


def _login(client: Client, username: str, password: str, *, ip: str = "10.0.0.1", url=None):
    return client.post(
        url or reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=ip,
    )


def test_wrong_passwords_lock_the_account_even_for_the_right_one(settings, researcher):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "researcher", "guess").status_code == 200  # the form again
    locked = _login(client, "researcher", "guess")
    assert locked.status_code == 429 and b"Too many sign-in attempts" in locked.content
    # The right password no longer helps, from this address or from another one.
    assert _login(client, "researcher", PASSWORD).status_code == 429
    assert _login(Client(), "researcher", PASSWORD, ip="10.9.9.9").status_code == 429
    assert "_auth_user_id" not in client.session


def test_one_address_guessing_many_accounts_is_locked_out_too(settings, researcher):
    client = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        _login(client, f"someone-{n}", "guess", ip="10.6.6.6")
    assert _login(client, "researcher", PASSWORD, ip="10.6.6.6").status_code == 429
    assert _login(Client(), "researcher", PASSWORD, ip="10.7.7.7").status_code == 302


def test_the_admin_login_is_limited_and_the_lock_out_is_listed_in_the_admin(settings, owner):
    client = Client()
    url = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "researcher", "guess", url=url)
    assert _login(client, "researcher", "guess", url=url).status_code == 429
    assert AccessAttempt.objects.filter(username="researcher").exists()

    admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
    staff = Client()
    staff.force_login(admin)
    page = staff.get(reverse("admin:axes_accessattempt_changelist"))
    assert page.status_code == 200 and b"researcher" in page.content


def test_a_copied_session_cookie_stops_working_after_logout(researcher):
    client = Client()
    assert _login(client, "researcher", PASSWORD).status_code == 302
    cookie = client.cookies["sessionid"].value
    assert client.get(reverse("dashboard:project_list")).status_code == 200
    client.post(reverse("logout"))

    thief = Client()
    thief.cookies["sessionid"] = cookie
    response = thief.get(reverse("dashboard:project_list"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_a_password_change_ends_the_api_token_and_other_sessions(researcher):
    token = Token.objects.create(user=researcher)
    api = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.get("/api/projects/").status_code == 200
    laptop = Client()
    assert _login(laptop, "researcher", PASSWORD).status_code == 302

    client = Client()
    _login(client, "researcher", PASSWORD, ip="10.0.0.2")
    page = client.get(reverse("password_change"))
    assert page.status_code == 200 and b"API token" in page.content
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a-new-long-passphrase-7",
            "new_password2": "a-new-long-passphrase-7",
        },
    )
    assert response.status_code == 302, response.context["form"].errors
    assert not Token.objects.filter(user=researcher).exists()
    assert api.get("/api/projects/").status_code == 401
    assert laptop.get(reverse("dashboard:project_list")).status_code == 302  # signed out
    assert client.get(reverse("dashboard:project_list")).status_code == 200  # this one stays


def test_guessing_api_tokens_is_slowed_to_a_429_with_retry_after(settings):
    rate = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["bad_token"]
    allowed = int(rate.split("/")[0])
    answers = [
        Client(HTTP_AUTHORIZATION=f"Token {n:040x}", REMOTE_ADDR="10.3.3.3")
        .get("/api/projects/")
        .status_code
        for n in range(allowed + 2)
    ]
    assert answers[:allowed] == [401] * allowed
    assert answers[allowed:] == [429, 429]
    last = Client(HTTP_AUTHORIZATION="Token 0", REMOTE_ADDR="10.3.3.3").get("/api/projects/")
    assert last.status_code == 429 and int(last["Retry-After"]) > 0
    # Another address is not affected.
    other = Client(HTTP_AUTHORIZATION="Token 0", REMOTE_ADDR="10.4.4.4").get("/api/projects/")
    assert other.status_code == 401


def test_a_signed_in_api_client_is_throttled_past_its_rate(researcher, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    # The configured rate (2000/min) is too many requests for a test; the mechanism is the same.
    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {"user": "3/min", "anon": "3/min", "bad_token": "3/min"},
    )
    token = Token.objects.create(user=researcher)
    api = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    codes = [api.get("/api/projects/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_the_test_clients_login_still_works(researcher):
    client = Client()
    assert client.login(username="researcher", password=PASSWORD)
    assert client.get(reverse("dashboard:project_list")).status_code == 200
