"""Stimuli import over the Data tab and the API: every design's items, loudness-normalised
copies under opaque names, and all-or-nothing reports that name each bad file."""

from __future__ import annotations

import io
import json

import numpy as np
import pyloudnorm
import pytest
import soundfile
from django.urls import reverse

from apps.core.models import Item, ItemMedia
from apps.core.uploads import items_import_upload
from apps.mos.schemas import ANCHOR_35, ANCHOR_70, HIDDEN_REFERENCE
from tests.mos.stimuli import encoded, stimuli_zip, study_files, tone

pytestmark = pytest.mark.django_db


def _import(project, upload):
    return items_import_upload(project=project, upload=upload, name=upload.name)


def test_an_acr_zip_imports_one_item_per_clip_normalised_and_opaque(mos_project):
    project = mos_project("acr", qc={"trapping": True})
    files, rows = study_files()
    report = _import(project, stimuli_zip(files, rows))
    assert report.ok, report.errors
    tests = Item.objects.filter(project=project, kind=Item.Kind.REGULAR)
    assert tests.count() == 6
    assert {i.group for i in tests} == {"utt:u1", "utt:u2"}
    traps = Item.objects.filter(project=project, kind=Item.Kind.ATTENTION)
    assert traps.count() == 5 and all(t.gold_value["score"] in range(1, 6) for t in traps)
    project.refresh_from_db()
    assert project.gold_rate > 0  # the traps are served
    meter = None
    for media in ItemMedia.objects.filter(item__in=tests):
        assert media.key == "audio" and media.content_type == "audio/flac"
        assert "reference" not in media.file.name and "good" not in media.file.name
        assert media.duration_s == pytest.approx(1.0, abs=0.01)
        samples, rate = soundfile.read(io.BytesIO(media.file.read()))
        meter = meter or pyloudnorm.Meter(rate)
        assert meter.integrated_loudness(samples) == pytest.approx(-23.0, abs=0.5)
    item = tests.get(external_id="bad/u1")
    assert item.payload["clips"]["audio"]["source"] == "clips/bad_u1.wav"


def test_a_corrupt_and_a_mislabelled_file_are_named_and_nothing_is_imported(mos_project):
    project = mos_project("acr")
    files, rows = study_files()
    files["clips/good_u1.wav"] = b"RIFF\x00\x00\x00\x00WAVEfmt garbage"
    files["clips/bad_u2.wav"] = encoded(tone(), fmt="FLAC")  # FLAC content named .wav
    report = _import(project, stimuli_zip(files, rows))
    assert not report.ok
    text = " ".join(reason for _, reason in report.errors)
    assert "clips/good_u1.wav" in text and "clips/bad_u2.wav" in text
    assert not Item.objects.filter(project=project).exists()
    assert not ItemMedia.objects.exists()


@pytest.mark.parametrize(
    ("samples", "rate", "words"),
    [
        (np.zeros(16000, dtype=np.float32), 16000, "silent"),
        (np.clip(tone(level=3.0), -1, 1), 16000, "clipped"),
        (tone(seconds=30.0), 16000, "long"),
        (tone(seconds=0.2), 16000, "short"),
        (tone(rate=8000), 8000, "rate"),
    ],
    ids=["silent", "clipped", "too-long", "too-short", "low-rate"],
)
def test_each_unfit_clip_is_reported_by_name(mos_project, samples, rate, words):
    project = mos_project("acr")
    files, rows = study_files()
    files["clips/good_u2.wav"] = encoded(samples, rate)
    report = _import(project, stimuli_zip(files, rows))
    assert not report.ok
    reasons = [reason for _, reason in report.errors if "clips/good_u2.wav" in reason]
    assert reasons and any(words in reason.lower() for reason in reasons), report.errors
    assert not Item.objects.filter(project=project).exists()


def test_a_system_at_another_sample_rate_is_a_mismatch(mos_project):
    project = mos_project("acr")
    files, rows = study_files()
    files["clips/bad_u1.wav"] = encoded(tone(rate=22050), 22050)
    report = _import(project, stimuli_zip(files, rows))
    assert not report.ok
    assert any("clips/bad_u1.wav" in reason for _, reason in report.errors)


def test_missing_columns_files_and_duplicates_are_reported_with_lines(mos_project):
    project = mos_project("acr")
    files, rows = study_files()
    rows.append(dict(rows[0]))  # the same system and utterance again
    rows.append({**rows[1], "utterance_id": "u9", "file": "clips/nowhere.wav"})
    report = _import(project, stimuli_zip(files, rows))
    lines = dict(report.errors)
    assert any("twice" in r for r in lines.values())
    assert any("clips/nowhere.wav" in r and "not in the zip" in r for r in lines.values())
    assert all(line > 1 for line in lines)
    bad = stimuli_zip(files, [{"system": "a", "file": "clips/reference_u1.wav"}])
    report = _import(project, bad)
    assert not report.ok and "utterance_id" in report.errors[0][1]


def test_ccr_needs_a_reference_clip_and_pairs_each_system_with_it(mos_project):
    project = mos_project("ccr")
    files, rows = study_files()
    report = _import(project, stimuli_zip(files, rows))
    assert report.ok, report.errors
    items = Item.objects.filter(project=project, kind=Item.Kind.REGULAR)
    assert items.count() == 4  # good and bad × 2 utterances
    assert all({m.key for m in i.media_files.all()} == {"audio", "reference"} for i in items)

    other = mos_project("ccr", slug="ccr-noref", reference_system="natural")
    report = _import(other, stimuli_zip(files, rows))
    assert not report.ok and "natural" in report.errors[0][1]


def test_ab_makes_every_pair_per_utterance(mos_project):
    project = mos_project("ab")
    files, rows = study_files()
    assert _import(project, stimuli_zip(files, rows)).ok
    assert Item.objects.filter(project=project).count() == 3 * 2  # 3 pairs × 2 utterances


def test_mushra_puts_every_condition_with_anchors_on_one_screen(mos_project):
    project = mos_project("mushra")
    files, rows = study_files()
    assert _import(project, stimuli_zip(files, rows)).ok
    items = Item.objects.filter(project=project)
    assert items.count() == 2
    item = items.first()
    conditions = item.payload["conditions"]
    assert set(conditions.values()) == {"good", "bad", HIDDEN_REFERENCE, ANCHOR_35, ANCHOR_70}
    assert set(conditions) == {f"c{n}" for n in range(1, 6)}
    keys = {m.key for m in item.media_files.all()}
    assert keys == {"reference", *conditions}
    anchor_key = next(k for k, s in conditions.items() if s == ANCHOR_35)
    media = item.media_files.get(key=anchor_key)
    samples, rate = soundfile.read(io.BytesIO(media.file.read()))
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    assert spectrum[freqs > 4500].sum() < 1e-4 * spectrum[freqs < 3000].sum()


def test_latin_square_lists_balance_systems(mos_project):
    project = mos_project("acr", latin_square=True)
    files, rows = study_files(utterances=("u1", "u2", "u3"))
    assert _import(project, stimuli_zip(files, rows)).ok
    project.refresh_from_db()
    assert project.list_count == 3
    items = Item.objects.filter(project=project, kind=Item.Kind.REGULAR)
    for index in range(3):
        listed = [i for i in items if index in i.lists]
        assert sorted(i.payload["utterance_id"] for i in listed) == ["u1", "u2", "u3"]
        assert len({i.payload["system"] for i in listed}) == 3


def test_the_data_tab_upload_reports_a_bad_zip(client, owner, mos_project):
    project = mos_project("acr")
    client.force_login(owner)
    files, rows = study_files()
    files["clips/good_u1.wav"] = b"not audio at all"
    upload = stimuli_zip(files, rows)
    response = client.post(
        reverse("dashboard:data", args=[project.slug]),
        {"file": upload},
    )
    assert response.status_code == 400
    assert "clips/good_u1.wav" in response.content.decode()
    assert not Item.objects.filter(project=project).exists()


def test_stimuli_come_in_through_the_api_too(mos_project, owner):
    from rest_framework.test import APIClient

    project = mos_project("acr")
    api = APIClient()
    api.force_authenticate(owner)
    files, rows = study_files()
    url = f"/api/projects/{project.slug}/items/import/?type=zip"
    bad = dict(files, **{"clips/bad_u1.wav": b"\x00" * 400})
    refused = api.post(url, stimuli_zip(bad, rows).getvalue(), content_type="application/zip")
    assert refused.status_code == 400
    assert "clips/bad_u1.wav" in json.dumps(refused.json())
    assert not Item.objects.filter(project=project).exists()
    response = api.post(url, stimuli_zip(files, rows).getvalue(), content_type="application/zip")
    assert response.status_code == 201, response.json()
    assert Item.objects.filter(project=project, kind=Item.Kind.REGULAR).count() == 6


def test_the_first_stimuli_set_p808_votes_per_clip_unless_the_researcher_chose(mos_project):
    project = mos_project("acr")
    files, rows = study_files()
    report = _import(project, stimuli_zip(files, rows))
    project.refresh_from_db()
    assert project.overlap == 10 and any("Votes per clip set to 10" in n for n in report.notes)
    chosen = mos_project("acr", slug="chosen")
    chosen.overlap = 5
    chosen.save(update_fields=["overlap"])
    _import(chosen, stimuli_zip(files, rows))
    chosen.refresh_from_db()
    assert chosen.overlap == 5
