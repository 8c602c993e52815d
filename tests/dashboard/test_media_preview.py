"""Researchers see and hear item media in the Data tab's preview, through a member-only view."""

from __future__ import annotations

import re

import pytest

from tests.api.helpers import PNG
from tests.factories import ItemFactory, attach_media, wav_bytes

pytestmark = pytest.mark.django_db

WAV = wav_bytes(0.2)


@pytest.fixture
def items(project, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    clip = ItemFactory(project=project, external_id="u1")
    attach_media(clip, "reference", WAV, "ref.wav")
    attach_media(clip, "test", WAV, "sys_vits.wav")
    picture = ItemFactory(project=project, external_id="img")
    attach_media(picture, "image", PNG, "cat.png")
    return clip, picture


def test_the_data_preview_plays_audio_and_shows_images(client, viewer, project, items):
    clip, picture = items
    client.force_login(viewer)  # a read-only member may look and listen
    html = client.get(f"/projects/{project.slug}/data/").content.decode()
    audio = re.findall(r'<audio controls preload="none" src="([^"]+)"', html)
    base = f"/projects/{project.slug}/data/items"
    assert audio == [f"{base}/{clip.pk}/media/reference/", f"{base}/{clip.pk}/media/test/"]
    assert f'<img src="{base}/{picture.pk}/media/image/"' in html
    response = client.get(audio[1], HTTP_RANGE="bytes=0-3")
    assert response.status_code == 206 and b"".join(response.streaming_content) == b"RIFF"
    image = client.get(f"{base}/{picture.pk}/media/image/")
    assert image["Content-Type"] == "image/png" and image["X-Content-Type-Options"] == "nosniff"


def test_an_outsider_cannot_fetch_a_projects_media(client, outsider, project, items):
    clip, _ = items
    url = f"/projects/{project.slug}/data/items/{clip.pk}/media/test/"
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302  # to the login page
