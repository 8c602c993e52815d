"""Media per item through the Data tab's zip upload: keys, opaque names, type from content."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.core.media import MediaRefused, media_type, sniff
from apps.core.models import Item, ItemMedia
from tests.api.helpers import PNG, make_zip
from tests.factories import wav_bytes

pytestmark = pytest.mark.django_db

WAV = wav_bytes(0.1)
HTML = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>'
MZ = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48


@pytest.fixture
def signed_in(client, researcher, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(researcher)
    return client


def upload(client, project, entries: dict) -> tuple[int, dict]:
    response = client.post(
        reverse("dashboard:data", args=[project.slug]),
        {"file": SimpleUploadedFile("study.zip", make_zip(entries))},
    )
    return response.status_code, response.context["report"]


def stored_files(tmp_path) -> list[str]:
    return [str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()]


def test_a_key_map_stores_each_file_under_an_opaque_name(signed_in, project, tmp_path):
    status, report = upload(
        signed_in,
        project,
        {
            "items.jsonl": '{"id": "u1", "media": {"reference": "ref/u1.wav", '
            '"test": "sys/u1_vits.wav"}, "text": "Which is closer?"}\n',
            "ref/u1.wav": WAV,
            "sys/u1_vits.wav": WAV[:-2] + b"\x01\x02",
        },
    )
    assert status == 200, report
    assert "2 media files attached." in report["notes"]
    item = Item.objects.get(external_id="u1")
    files = {m.key: m for m in item.media_files.all()}
    assert set(files) == {"reference", "test"}
    for media in files.values():
        # Nothing of the uploaded name (which says "vits") survives but the extension.
        assert re.fullmatch(rf"items/{project.pk}/[0-9a-f]{{32}}\.wav", media.file.name)
        assert media.content_type == "audio/wav" and media.size == len(WAV)
    assert files["test"].file.read().endswith(b"\x01\x02")
    assert not any("vits" in name or "u1" in name for name in stored_files(tmp_path))


def test_a_csv_row_may_give_its_key_map_as_json(signed_in, project):
    status, report = upload(
        signed_in,
        project,
        {"items.csv": 'id,media\nx,"{""image"": ""x.png""}"\n', "x.png": PNG},
    )
    assert status == 200, report
    assert ItemMedia.objects.get().key == "image"


def test_a_missing_file_is_a_row_error_naming_the_line_and_path(signed_in, project, tmp_path):
    status, report = upload(
        signed_in,
        project,
        {
            "items.jsonl": '{"id": "a", "media": "a.wav"}\n'
            '{"id": "b", "media": {"ref": "a.wav", "test": "clips/missing.wav"}}\n',
            "a.wav": WAV,
        },
    )
    assert status == 400
    assert report["errors"] == [
        {"line": 2, "reason": "media 'clips/missing.wav' is not in the zip"}
    ]
    assert Item.objects.count() == 0 and ItemMedia.objects.count() == 0
    assert stored_files(tmp_path) == []


def test_a_bad_media_key_is_a_row_error(signed_in, project):
    status, report = upload(
        signed_in,
        project,
        {"items.jsonl": '{"id": "a", "media": {"../x": "a.wav"}}\n', "a.wav": WAV},
    )
    assert status == 400
    assert report["errors"][0]["line"] == 1 and "media key '../x'" in report["errors"][0]["reason"]


@pytest.mark.parametrize(
    ("name", "content", "what"),
    [
        ("clip.wav", HTML, "HTML/XML markup"),
        ("evil.png", HTML, "HTML/XML markup"),
        ("logo.png", SVG, "HTML/XML markup"),
        ("setup.wav", MZ, "a Windows executable"),
        ("photo.jpg", PNG, "PNG image"),
    ],
)
def test_a_file_whose_content_is_not_its_extension_is_refused_naming_it(
    signed_in, project, tmp_path, name, content, what
):
    status, report = upload(
        signed_in,
        project,
        {"items.jsonl": f'{{"id": "a", "media": "media/{name}"}}\n', f"media/{name}": content},
    )
    assert status == 400
    reason = report["errors"][0]["reason"]
    assert reason.startswith(f"media/{name}: the content is {what}"), reason
    assert Item.objects.count() == 0 and ItemMedia.objects.count() == 0
    assert stored_files(tmp_path) == []


@pytest.mark.parametrize(
    ("name", "head", "content_type"),
    [
        ("a.wav", b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav"),
        ("a.flac", b"fLaC\x00\x00\x00\x22", "audio/flac"),
        ("a.ogg", b"OggS\x00\x02", "audio/ogg"),
        ("a.opus", b"OggS\x00\x02", "audio/ogg"),
        ("a.mp3", b"ID3\x04\x00\x00", "audio/mpeg"),
        ("a.mp3", b"\xff\xfb\x90\x64", "audio/mpeg"),
        ("a.m4a", b"\x00\x00\x00\x20ftypM4A \x00\x00", "audio/mp4"),
        ("a.mp4", b"\x00\x00\x00\x18ftypmp42\x00\x00", "video/mp4"),
        ("a.webm", b"\x1a\x45\xdf\xa3\x01\x00", "video/webm"),
        ("a.PNG", PNG, "image/png"),
        ("a.jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        ("a.gif", b"GIF89a\x01\x00", "image/gif"),
        ("a.webp", b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        ("a.npy", b"\x93NUMPY\x01\x00v\x00", "application/octet-stream"),
        ("a.npz", b"PK\x03\x04\x14\x00", "application/octet-stream"),
    ],
)
def test_each_allowed_format_is_known_by_its_magic_bytes(name, head, content_type):
    assert media_type(name, head) == content_type


def test_an_adts_aac_stream_is_not_taken_for_mp3():
    assert sniff(b"\xff\xf1\x50\x80") is None
    with pytest.raises(MediaRefused, match="no media type Chorus knows"):
        media_type("a.mp3", b"\xff\xf1\x50\x80")
