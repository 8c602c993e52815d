"""A database outage answers a 503 "try again" page, and htmx sends the answer once more;
production refuses unsafe settings at start."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django.test import Client

from apps.core import errors
from apps.core.models import Annotation
from tests.e2e.browser import browser_page
from tests.factories import ItemFactory


@contextmanager
def database_down():
    """Point the connection at a database that cannot be reached, as during a restart."""
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent/folder/chorus.sqlite3"
    else:
        connection.settings_dict["PORT"] = "1"
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


@pytest.mark.django_db(transaction=True)
def test_a_database_outage_is_a_503_try_again_page_with_retry_after(project, researcher):
    participant = Client(raise_request_exception=False)
    api = Client(raise_request_exception=False)
    with database_down():
        page = participant.get(f"/p/{project.slug}/?PROLIFIC_PID=p1&STUDY_ID=s&SESSION_ID=x")
        answer = api.get("/api/projects/", HTTP_AUTHORIZATION="Token x")
    assert page.status_code == 503 and page["Retry-After"] == str(errors.RETRY_AFTER_S)
    assert b"Please try again in a moment" in page.content and b"nothing was saved" in page.content
    assert answer.status_code == 503 and answer["Retry-After"]
    assert "try again" in answer.json()["detail"]
    # Back up: the same request works.
    assert participant.get(f"/p/{project.slug}/?PROLIFIC_PID=p1").status_code in (200, 302)


@pytest.mark.django_db
def test_any_other_error_is_still_a_plain_500(client, monkeypatch, project, researcher):
    from apps.dashboard import views

    def boom(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(views, "project_for_user", boom)
    broken = Client(raise_request_exception=False)
    broken.force_login(researcher)
    response = broken.get(f"/projects/{project.slug}/")
    assert response.status_code == 500 and "Retry-After" not in response


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_answer_that_met_a_database_restart_is_sent_again_once_by_htmx(
    live_server, project, monkeypatch
):
    from apps.core import engine

    for i in range(2):
        ItemFactory(project=project, external_id=f"q{i}", payload={"text": f"Question {i}"})
    monkeypatch.setattr(errors, "RETRY_AFTER_S", 1)
    real = engine.annotation_submit
    calls: list[str] = []

    def flaky(**kwargs):
        calls.append(kwargs["client_token"])
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(**kwargs)

    monkeypatch.setattr(engine, "annotation_submit", flaky)
    with browser_page() as page:
        page.goto(f"{live_server.url}/p/{project.slug}/?PROLIFIC_PID=r-1&STUDY_ID=s&SESSION_ID=x")
        page.get_by_role("button", name="I agree, continue").click()
        page.get_by_role("button", name="Start").click()
        page.wait_for_url(f"**/p/{project.slug}/annotate/")
        page.locator(".progress-text").filter(has_text="1 of 2").wait_for()
        page.keyboard.press("1")
        page.locator(".progress-text").filter(has_text="2 of 2").wait_for()

    assert len(calls) == 2 and calls[0] == calls[1]  # the same client token, sent twice
    assert Annotation.objects.filter(participant__external_id="r-1").count() == 1


def _start(**env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CHORUS_ENV": "production",
            "ALLOWED_HOSTS": "chorus.example.org",
            "CHORUS_VAR_DIR": str(settings.VAR_DIR),
            **env,
        },
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
        timeout=60,
    )


def test_production_refuses_the_example_secret_key_and_debug():
    example = _start(SECRET_KEY=settings.EXAMPLE_SECRET_KEY, DEBUG="0")
    assert example.returncode != 0 and "placeholder" in example.stderr
    k8s = _start(SECRET_KEY="replace-with-50-random-characters-replace-with-50-random-chars")
    assert k8s.returncode != 0 and "placeholder" in k8s.stderr
    debug = _start(SECRET_KEY="x" * 50, DEBUG="1")
    assert debug.returncode != 0 and "DEBUG=1 is refused" in debug.stderr
    good = _start(SECRET_KEY="a-real-key-" + "k" * 40, DEBUG="0")
    assert good.returncode == 0, good.stderr
