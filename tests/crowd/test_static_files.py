"""The annotate page links fingerprinted, compressed static files that browsers keep for good,
and stays small; without collected files the pages still render."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.test import Client

from tests.factories import ItemFactory

pytestmark = pytest.mark.django_db

FINGERPRINTED = "apps.core.staticfiles.FingerprintedStaticFilesStorage"
YEAR_S = 365 * 24 * 60 * 60


def annotate_page(client: Client, project) -> str:
    ItemFactory.create_batch(2, project=project)
    client.get(f"/p/{project.slug}/", {"PROLIFIC_PID": "weight"}, follow=True)
    client.post(f"/p/{project.slug}/consent/", {"agree": "yes"}, follow=True)
    client.post(f"/p/{project.slug}/instructions/")
    page = client.get(f"/p/{project.slug}/annotate/")
    assert page.status_code == 200
    return page.content.decode()


def use_fingerprints(settings, root) -> None:
    settings.STATIC_ROOT = root
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": FINGERPRINTED}}


def test_the_annotate_page_links_fingerprinted_gzipped_files_cached_for_a_year(
    settings, tmp_path, project
):
    use_fingerprints(settings, tmp_path)
    # Only what a participant's page links (the admin's and the API docs' files are big).
    ignore = ["admin", "rest_framework", "drf_spectacular_sidecar", "*.map", "htmax*", "ext"]
    call_command("collectstatic", interactive=False, verbosity=0, ignore_patterns=ignore)
    client = Client()  # its whitenoise starts now, over the files just collected
    page = annotate_page(client, project)
    urls = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
    assert {"css/chorus", "js/chorus", "django_htmx/htmx-2.min", "img/favicon"} <= {
        re.sub(r"\.[0-9a-f]{12}\.(css|js|svg)$", "", u.removeprefix("/static/")) for u in urls
    }
    transferred = len(page.encode())
    for url in urls:
        assert re.search(r"\.[0-9a-f]{12}\.(css|js|svg)$", url), url
        response = client.get(url, HTTP_ACCEPT_ENCODING="gzip")
        assert response.status_code == 200, url
        if not url.endswith(".svg"):  # the icon is smaller than its gzip
            assert response["Content-Encoding"] == "gzip", url
        control = response["Cache-Control"]
        assert "immutable" in control and int(re.search(r"max-age=(\d+)", control)[1]) >= YEAR_S
        transferred += len(b"".join(response.streaming_content))
    assert transferred < 60 * 1024, transferred  # htmx alone is 50 KB before gzip


def test_without_collected_files_the_pages_link_plain_names(settings, tmp_path, project):
    use_fingerprints(settings, tmp_path)  # nothing collected there: no manifest
    page = annotate_page(Client(), project)
    assert 'href="/static/css/chorus.css"' in page
    assert 'src="/static/js/chorus.js"' in page


def test_favicon_ico_leads_to_the_icon_for_pages_that_name_none(settings, tmp_path):
    # Django's admin pages link no icon, so browsers ask for /favicon.ico (a 404 before).
    use_fingerprints(settings, tmp_path)
    call_command("collectstatic", interactive=False, verbosity=0, ignore_patterns=["*.js", "*.css"])
    client = Client()
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and "max-age=86400" in response["Cache-Control"]
    assert re.fullmatch(r"/static/img/favicon\.[0-9a-f]{12}\.svg", response["Location"])
    icon = client.get(response["Location"])
    assert icon.status_code == 200 and icon["Content-Type"] == "image/svg+xml"
    assert b"<svg" in b"".join(icon.streaming_content)
