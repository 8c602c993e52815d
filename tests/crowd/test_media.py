"""The participant media view over HTTP: who may fetch a file, range requests, headers, and
the production modes (nginx X-Accel-Redirect, signed object-storage URLs)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client

from apps.core.models import Assignment, Participant
from tests.factories import ItemFactory, attach_media, wav_bytes

pytestmark = pytest.mark.django_db

WAV = wav_bytes(0.5)
SIZE = len(WAV)


@pytest.fixture
def clip(project, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    item = ItemFactory(project=project, external_id="u1")
    return attach_media(item, "main", WAV, "u1_vits.wav")


def start(client: Client, project, pid: str) -> str:
    """Enter as Prolific worker ``pid``, reach the item and return its media URL."""
    client.get(f"/p/{project.slug}/", {"PROLIFIC_PID": pid, "STUDY_ID": "s", "SESSION_ID": "x"})
    client.post(f"/p/{project.slug}/consent/", {"agree": "yes"})
    client.post(f"/p/{project.slug}/instructions/")
    html = client.get(f"/p/{project.slug}/annotate/").content.decode()
    return re.search(r'<audio [^>]*src="([^"]+)"', html).group(1)


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_the_annotate_page_plays_the_item_through_the_media_view(client, project, clip):
    url = start(client, project, "p1")
    assignment = Assignment.objects.get()
    assert url == f"/p/{project.slug}/media/{assignment.pk}/main/"
    page = client.get(f"/p/{project.slug}/annotate/").content.decode()
    assert "vits" not in page and clip.file.name not in page  # neither name reaches the page
    response = client.get(url)
    assert response.status_code == 200 and body(response) == WAV
    assert response["Content-Type"] == "audio/wav"
    assert response["Content-Length"] == str(SIZE) and response["Accept-Ranges"] == "bytes"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    assert "filename" not in response["Content-Disposition"]


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-0", 0, 0),  # the first byte
        ("bytes=100-199", 100, 199),  # the middle
        (f"bytes={SIZE - 1}-{SIZE - 1}", SIZE - 1, SIZE - 1),  # the last byte
        ("bytes=-10", SIZE - 10, SIZE - 1),  # the last ten bytes
        ("bytes=4000-", 4000, SIZE - 1),  # from a seek position to the end
        (f"bytes=10-{SIZE + 5000}", 10, SIZE - 1),  # an end past the file is cut to it
    ],
)
def test_a_range_request_gets_exactly_those_bytes(client, project, clip, header, first, last):
    url = start(client, project, "p1")
    response = client.get(url, HTTP_RANGE=header)
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {first}-{last}/{SIZE}"
    assert response["Content-Length"] == str(last - first + 1)
    assert body(response) == WAV[first : last + 1]
    assert response["Content-Type"] == "audio/wav"


@pytest.mark.parametrize(
    "header",
    [
        f"bytes={SIZE}-",
        f"bytes={SIZE + 10}-{SIZE + 20}",
        "bytes=9-3",
        "bytes=-0",
        "pages=1-2",
        "bytes=x-",
    ],
)
def test_an_invalid_range_is_a_416(client, project, clip, header):
    url = start(client, project, "p1")
    response = client.get(url, HTTP_RANGE=header)
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{SIZE}"


def test_another_participants_media_url_is_a_404_like_a_missing_file(client, project, clip):
    url = start(client, project, "p1")
    other = Client()
    other_url = start(other, project, "p2")  # overlap 3: the same item, their own assignment
    assert other_url != url
    foreign = other.get(url)
    missing = other.get(other_url.replace("/main/", "/nothing/"))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.content == missing.content
    assert Client().get(url).status_code == 404  # no session at all
    assert client.get(url).status_code == 200  # the holder still gets it


def test_media_is_gone_once_the_item_is_answered_or_the_participant_blocked(client, project, clip):
    url = start(client, project, "p1")
    assignment = Assignment.objects.get()
    client.post(
        f"/p/{project.slug}/submit/{assignment.pk}/", {"choice": "a", "client_token": "t" * 32}
    )
    assert client.get(url).status_code == 404
    other = Client()
    url2 = start(other, project, "p2")
    Participant.objects.get(external_id="p2").block("gold")
    assert other.get(url2).status_code == 404


def test_in_x_accel_mode_nginx_sends_the_file(client, project, clip, settings):
    url = start(client, project, "p1")
    settings.CHORUS_MEDIA_SERVE = "x-accel"
    response = client.get(url)
    assert response.status_code == 200 and response.content == b""
    assert response["X-Accel-Redirect"] == f"/_protected_media/{clip.file.name}"
    assert response["Content-Type"] == "audio/wav"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"]
    assert Client().get(url).status_code == 404  # nginx is only told after the check


def test_with_object_storage_the_view_redirects_to_a_short_lived_signed_url(
    client, project, clip, settings
):
    url = start(client, project, "p1")
    settings.STORAGES = {
        **settings.STORAGES,
        "media": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "chorus-media",
                "endpoint_url": "http://127.0.0.1:9000",
                "region_name": "us-east-1",
                "access_key": "test-key",
                "secret_key": "test-secret",
                "querystring_auth": True,
                "signature_version": "s3v4",
                "default_acl": None,
            },
        },
    }
    settings.CHORUS_MEDIA_SERVE = "signed-url"
    settings.CHORUS_MEDIA_URL_SECONDS = 120
    response = client.get(url)
    assert response.status_code == 302
    location = urlparse(response["Location"])
    query = parse_qs(location.query)
    assert location.path == f"/chorus-media/{clip.file.name}"
    assert query["X-Amz-Expires"] == ["120"] and query["X-Amz-Signature"]
    assert query["response-content-type"] == ["audio/wav"]
    assert "no-store" in response["Cache-Control"]
    assert Client().get(url).status_code == 404
