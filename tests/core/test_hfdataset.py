"""The Hugging Face export: run as the real Celery task (in process), loaded back with
``datasets.load_from_disk`` and the Parquet loader, compared with the database; resumed after
a killed worker; media as Audio/Image; the aggregated config; the card; pseudonyms."""

from __future__ import annotations

import importlib
import io
import json
import zipfile
from collections import Counter
from pathlib import Path

import datasets
import krippendorff
import numpy as np
import pandas as pd
import pytest
import soundfile
import yaml
from crowdkit.aggregation import DawidSkene
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse
from PIL import Image
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.core import hfdataset, registry
from apps.core.jobs import job_cancel, job_create
from apps.core.models import Annotation, Item, Job, Participant
from apps.core.tasks import hf_export
from tests.api.helpers import bulk_answers, make_zip
from tests.choice_tasktype import ChoiceTaskType
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

PROLIFIC_ID = "5f3c2b1a0e9d8c7b6a594837"
MTURK_ID = "A2X9Q7LMNOPQRS"


@pytest.fixture(autouse=True)
def var_dir(tmp_path):
    with override_settings(VAR_DIR=tmp_path):
        yield tmp_path


def export(project, shard_rows: int = 10) -> tuple[Job, Path]:
    """Run one export through the Celery task (in this process) and check it succeeded."""
    job = job_create(kind=hfdataset.JOB_KIND, project=project, params={"shard_rows": shard_rows})
    hf_export(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.message
    return job, hfdataset.export_folder(job)


def test_load_from_disk_reads_all_three_configs_and_they_equal_the_database(project):
    bulk_answers(project, items=25, workers=4)
    Participant.objects.filter(external_id="bulk-worker-0").update(
        status=Participant.Status.BLOCKED
    )
    _, folder = export(project)
    dd = datasets.load_from_disk(str(folder))
    assert set(dd) == {"items", "annotations", "aggregated"}
    annotations, items = dd["annotations"], dd["items"]

    assert len(items) == Item.objects.filter(project=project).count() == 25
    for row in items:
        item = Item.objects.get(project=project, external_id=row["item_id"])
        assert json.loads(row["payload"]) == item.payload and row["kind"] == item.kind

    label = annotations.features["label"]
    assert isinstance(label, datasets.ClassLabel) and label.names == ["a", "b"]
    assert len(annotations) == Annotation.objects.filter(project=project).count() == 100
    by_id = {r["annotation_id"]: r for r in annotations}
    for a in Annotation.objects.filter(project=project).select_related("participant", "item"):
        row = by_id[a.pk]
        assert label.int2str(row["label"]) == a.value["choice"]
        assert json.loads(row["value"]) == a.value and row["item_id"] == a.item.external_id
        assert row["duration_ms"] == a.duration_ms
        assert row["created_at"] == a.created_at.isoformat()
        assert row["blocked"] == (a.participant.status == Participant.Status.BLOCKED)

    # The Parquet shards hold the same rows, for load_dataset(folder, config) and "parquet".
    by_card = datasets.load_dataset(
        str(folder), "annotations", split="train", cache_dir=str(folder.parent / "c1")
    )
    plain = datasets.load_dataset(
        "parquet",
        data_files=str(folder / "annotations" / "train-*.parquet"),
        split="train",
        cache_dir=str(folder.parent / "c2"),
    )
    assert by_card.to_list() == plain.to_list() == annotations.to_list()


def test_aggregated_rows_are_dawid_skene_posteriors_and_vote_shares(project):
    bulk_answers(project, items=25, workers=4)
    Participant.objects.filter(external_id="bulk-worker-0").update(
        status=Participant.Status.BLOCKED
    )
    _, folder = export(project)
    aggregated = datasets.load_from_disk(str(folder))["aggregated"]

    counted = pd.DataFrame(
        Annotation.objects.filter(project=project)
        .exclude(participant__status=Participant.Status.BLOCKED)
        .values_list("item__external_id", "participant_id", "value__choice"),
        columns=["task", "worker", "label"],
    )
    expected = DawidSkene(n_iter=100).fit_predict_proba(counted)
    assert len(aggregated) == 25
    names = aggregated.features["label"].names
    for row in aggregated:
        votes = Counter(counted[counted["task"] == row["item_id"]]["label"])
        label = names[row["label"]]
        assert row["answers"] == 3 and row["method"] == "dawid_skene"
        assert row["votes"] == [votes["a"], votes["b"]]
        assert row["vote_share"] == pytest.approx(votes[label] / 3)
        want = [expected.loc[row["item_id"]].get(name, 0.0) for name in names]
        assert row["probabilities"] == pytest.approx(want, abs=1e-6)
        assert row["posterior"] == pytest.approx(max(want)) and sum(want) == pytest.approx(1)
        assert label == names[int(np.argmax(want))]


class Killed(BaseException):
    """What a SIGKILL looks like from inside: nothing of the task's own handling runs."""


def test_a_killed_worker_resumes_and_writes_what_an_uninterrupted_export_writes(
    project, monkeypatch
):
    bulk_answers(project, items=25, workers=4)
    job = job_create(kind=hfdataset.JOB_KIND, project=project, params={"shard_rows": 10})
    write = hfdataset._write_shard
    calls = []

    def killed_after_the_fourth_shard_file(*args):
        write(*args)  # the file is there, the cursor does not list it yet
        calls.append(args[1:3])
        if len(calls) == 4:
            raise Killed

    monkeypatch.setattr(hfdataset, "_write_shard", killed_after_the_fourth_shard_file)
    with pytest.raises(Killed):
        hf_export(job.pk)
    monkeypatch.undo()
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING and job.attempts == 1
    assert calls[-1] == ("annotations", 0)
    assert job.params["cursor"]["shards"] == {"items": 3}
    assert job.params["cursor"]["closed"] == ["items"]
    folder = hfdataset.export_folder(job)
    kept = (folder / "items" / "train-00000.parquet").stat().st_mtime_ns

    hf_export(job.pk)  # the broker's redelivery
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.attempts == 2, job.message
    assert (folder / "items" / "train-00000.parquet").stat().st_mtime_ns == kept
    assert job.result["shards"] == {"items": 3, "annotations": 10, "aggregated": 3}

    _, whole = export(project)
    shards = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.suffix != ".md")
    assert shards == sorted(p.relative_to(whole) for p in whole.rglob("*") if p.suffix != ".md")
    assert len([s for s in shards if s.suffix in (".parquet", ".arrow")]) == 32
    for name in shards:
        if name.suffix in (".parquet", ".arrow"):
            assert (folder / name).read_bytes() == (whole / name).read_bytes(), name
    resumed, fresh = datasets.load_from_disk(str(folder)), datasets.load_from_disk(str(whole))
    for config in hfdataset.CONFIGS:
        assert resumed[config].to_list() == fresh[config].to_list()


def test_items_added_after_the_export_started_are_not_in_it(project, monkeypatch):
    bulk_answers(project, items=5, workers=2)
    job = job_create(kind=hfdataset.JOB_KIND, project=project, params={"shard_rows": 4})
    write = hfdataset._write_shard

    def a_new_item_arrives_meanwhile(*args):
        write(*args)
        Item.objects.get_or_create(project=project, external_id="late")

    monkeypatch.setattr(hfdataset, "_write_shard", a_new_item_arrives_meanwhile)
    hf_export(job.pk)
    dd = datasets.load_from_disk(str(hfdataset.export_folder(job)))
    assert len(dd["items"]) == 5 and len(dd["annotations"]) == 10
    assert Item.objects.filter(project=project).count() == 6


def test_a_cancelled_export_stops_and_removes_its_folder(project, monkeypatch):
    bulk_answers(project, items=25, workers=2)
    job = job_create(kind=hfdataset.JOB_KIND, project=project, params={"shard_rows": 10})
    write = hfdataset._write_shard

    def cancelled_after_the_first_shard(*args):
        write(*args)
        job_cancel(job)

    monkeypatch.setattr(hfdataset, "_write_shard", cancelled_after_the_first_shard)
    hf_export(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert not hfdataset.export_folder(job).exists() and not hfdataset.export_zip(job).exists()


def _wav(seconds: float, rate: int, hz: float) -> tuple[bytes, np.ndarray]:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.4 * np.sin(2 * np.pi * hz * t) * 32767).astype(np.int16)
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue(), samples


def _png(seed: int) -> tuple[bytes, np.ndarray]:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(3, 4, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue(), pixels


def test_media_become_audio_and_image_columns_that_decode(
    client, project, researcher, settings, tmp_path, monkeypatch
):
    settings.MEDIA_ROOT = tmp_path / "media-root"
    one, one_samples = _wav(0.05, 8000, 440.0)
    two, two_samples = _wav(0.08, 16000, 660.0)
    picture, pixels = _png(7)
    rows = [
        {"id": "c1", "text": "x", "media": {"main": "clips/one.wav", "picture": "img/one.png"}},
        {"id": "c2", "text": "y", "media": "clips/two.wav"},
    ]
    client.force_login(researcher)
    upload = make_zip(
        {
            "items.jsonl": "".join(json.dumps(r) + "\n" for r in rows),
            "clips/one.wav": one,
            "clips/two.wav": two,
            "img/one.png": picture,
        }
    )
    response = client.post(
        reverse("dashboard:data", args=[project.slug]),
        {"file": SimpleUploadedFile("study.zip", upload)},
    )
    assert (
        response.status_code == 200
        and "3 media files attached." in response.context["report"]["notes"]
    )

    _, folder = export(project)
    monkeypatch.chdir(folder)  # the media paths are relative to the dataset's folder
    items = datasets.load_from_disk(".")["items"]
    assert isinstance(items.features["audio"], datasets.Audio)
    assert isinstance(items.features["picture"], datasets.Image)
    # datasets 5 decodes Audio through torchcodec (FFmpeg), not installed here; the column
    # points at the file, and the file decodes to the samples that were uploaded.
    items = items.cast_column("audio", datasets.Audio(decode=False))
    by_id = {item_id: i for i, item_id in enumerate(items["item_id"])}
    assert np.array_equal(np.asarray(items[by_id["c1"]]["picture"]), pixels)
    assert items[by_id["c2"]]["picture"] is None
    for item_id, samples, rate in (("c1", one_samples, 8000), ("c2", two_samples, 16000)):
        path = items[by_id[item_id]]["audio"]["path"]
        assert not Path(path).is_absolute() and (folder / path).is_file()
        decoded, sr = soundfile.read(path, dtype="int16")
        assert sr == rate and np.array_equal(decoded, samples)
    plain = datasets.load_dataset(
        "parquet", data_files="items/train-*.parquet", split="train", cache_dir="../c-items"
    ).cast_column("audio", datasets.Audio(decode=False))
    assert np.array_equal(np.asarray(plain[by_id["c1"]]["picture"]), pixels)


class ScoredTaskType(ChoiceTaskType):
    """A choice task type that aggregates into scores of its own, as MOS does."""

    key = "test-scored"
    title = "Test scored"
    citation = "@misc{scored2026, title = {A scored protocol}, year = {2026}}"

    def aggregated_records(self, project):
        items = Item.objects.filter(project=project).order_by("pk")
        for n, item in enumerate(items.values_list("external_id", flat=True)):
            yield {
                "item_id": item,
                "mos": 1.0 + n / 10,
                "ci": [0.5 + n / 10, 1.5 + n / 10],
                "note": None,
                "answers": 2,
                "method": "mean_and_t_interval",
            }


@pytest.fixture
def scored_project(owner):
    registry.register(ScoredTaskType())
    yield ProjectFactory(owner=owner, slug="scored", task_type=ScoredTaskType.key)
    registry.unregister(ScoredTaskType.key)


def test_a_task_type_may_supply_its_own_aggregated_rows(scored_project):
    bulk_answers(scored_project, items=25, workers=2)
    _, folder = export(scored_project)
    aggregated = datasets.load_from_disk(str(folder))["aggregated"]
    want = list(ScoredTaskType().aggregated_records(scored_project))
    assert aggregated.to_list() == want
    assert aggregated.features["mos"] == datasets.Value("float64")
    assert aggregated.features["note"] == datasets.Value("string")
    card = (folder / "README.md").read_text()
    assert "computed by the task type itself" in card and ScoredTaskType.citation in card
    assert "dawid1979" not in card
    head = yaml.safe_load(card.split("---\n")[1])
    by_config = {c["config_name"]: c["features"] for c in head["dataset_info"]}
    assert {"name": "mos", "dtype": "float64"} in by_config["aggregated"]


def test_the_card_names_the_qc_rules_the_aggregation_and_the_citations(project):
    project.gold_rate, project.gold_block_below, project.gold_block_after = 0.2, 0.75, 4
    project.fast_block_below_s, project.fast_block_after = 1.5, 8
    project.constant_block_after = 6
    project.save()
    bulk_answers(project, items=6, workers=4)
    Participant.objects.filter(external_id="bulk-worker-0").update(
        status=Participant.Status.BLOCKED
    )
    _, folder = export(project)
    card = (folder / "README.md").read_text()
    for text in (
        "20% of served items",
        "below 75% after 4 gold answers",
        "under 1.5 s after 8 answers",
        "last 6 answers all had the same label",
        "1 of 4 participants were blocked",
        "Dawid–Skene posterior",
        "@article{dawid1979maximum",
        project.title,
    ):
        assert text in card, text
    head = yaml.safe_load(card.split("---\n")[1])
    assert [c["config_name"] for c in head["configs"]] == list(hfdataset.CONFIGS)
    labels = next(f for f in head["dataset_info"][1]["features"] if f["name"] == "label")
    assert labels["dtype"]["class_label"]["names"] == {"0": "a", "1": "b"}


def test_humor_cites_choral():
    citation = registry.get("humor").citation
    assert "{CH}o{R}a{L}" in citation and "Zixiaofan" in citation and "2021" in citation


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_agreement_from_value_counts_equals_alpha_on_the_reliability_matrix(level):
    rng = np.random.default_rng(3)
    matrix = rng.integers(1, 4, size=(5, 30)).astype(float)  # 5 workers × 30 items
    matrix[rng.random(matrix.shape) < 0.3] = np.nan
    rows = [
        (item, worker, str(int(matrix[worker, item])))
        for worker in range(5)
        for item in range(30)
        if not np.isnan(matrix[worker, item])
    ]
    want = krippendorff.alpha(reliability_data=matrix, level_of_measurement=level)
    assert hfdataset.agreement_alpha(rows, level) == pytest.approx(want)


def test_no_prolific_or_mturk_id_appears_anywhere_in_the_export(project):
    bulk_answers(project, items=6, workers=3)
    Participant.objects.filter(external_id="bulk-worker-0").update(
        source="prolific", external_id=PROLIFIC_ID, study_id="study-77ab", session_id="sess-99cd"
    )
    Participant.objects.filter(external_id="bulk-worker-1").update(
        source="mturk", external_id=MTURK_ID
    )
    job, folder = export(project)
    secrets = [PROLIFIC_ID, MTURK_ID, "study-77ab", "sess-99cd", "bulk-worker-2"]
    blobs = [p.read_bytes() for p in folder.rglob("*") if p.is_file()]
    with zipfile.ZipFile(hfdataset.export_zip(job)) as archive:
        blobs += [archive.read(name) for name in archive.namelist()]
    dd = datasets.load_from_disk(str(folder))
    blobs += [json.dumps(dd[config].to_list()).encode() for config in dd]
    for secret in secrets:
        assert not any(secret.encode() in blob for blob in blobs), secret
    assert len(set(dd["annotations"]["participant"])) == 3


def test_pseudonyms_are_stable_within_a_project_and_differ_across_projects(project, owner):
    other = ProjectFactory(owner=owner, slug="other", task_type=project.task_type)
    for p in (project, other):
        bulk_answers(p, items=3, workers=2)
    project.refresh_from_db()
    assert len(project.pseudonym_salt) == 64 and project.pseudonym_salt != other.pseudonym_salt

    def pseudonyms(p):
        folder = export(p)[1]
        return set(datasets.load_from_disk(str(folder))["annotations"]["participant"])

    first = pseudonyms(project)
    assert len(first) == 2 and pseudonyms(project) == first
    assert not first & pseudonyms(other)  # the same two workers, other pseudonyms


def test_the_migration_gives_each_existing_project_its_own_salt(project, owner):
    from django.apps import apps

    migration = importlib.import_module("apps.core.migrations.0012_project_pseudonym_salt")
    other = ProjectFactory(owner=owner, slug="other", task_type=project.task_type)
    type(project).objects.update(pseudonym_salt="")
    migration.salts_fill(apps, None)
    salts = set(type(project).objects.values_list("pseudonym_salt", flat=True))
    assert len(salts) == 2 and all(len(bytes.fromhex(s)) == 32 for s in salts)
    other.refresh_from_db()
    assert other.pseudonym_salt in salts


def test_api_export_zip_loads_after_download(
    project, owner, var_dir, django_capture_on_commit_callbacks
):
    bulk_answers(project, items=6, workers=3)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=owner)[0]}")
    with override_settings(CELERY_TASK_ALWAYS_EAGER=True):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/api/projects/{project.slug}/exports/")
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    status = client.get(f"/api/projects/{project.slug}/exports/{job_id}/").json()
    assert status["status"] == "succeeded", status
    download = client.get(status["download_url"])
    assert download.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    archive.extractall(var_dir / "unzipped")
    dd = datasets.load_from_disk(str(var_dir / "unzipped" / project.slug))
    assert len(dd["annotations"]) == 18 and len(dd["items"]) == 6


def test_api_refuses_a_viewer(project, viewer):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=viewer)[0]}")
    # The API answers a viewer's write like an unknown project: 404.
    assert client.post(f"/api/projects/{project.slug}/exports/").status_code == 404
    assert not Job.objects.filter(kind=hfdataset.JOB_KIND).exists()


def test_dashboard_button_runs_the_export_and_links_the_zip(
    client, project, researcher, var_dir, django_capture_on_commit_callbacks
):
    bulk_answers(project, items=4, workers=2)
    client.force_login(researcher)
    page = client.get(f"/projects/{project.slug}/export/")
    assert b"Export as a Hugging Face dataset" in page.content
    with override_settings(CELERY_TASK_ALWAYS_EAGER=True):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/projects/{project.slug}/export/hf/")
    assert response.status_code == 302
    job = Job.objects.get(kind=hfdataset.JOB_KIND)
    assert job.status == Job.Status.SUCCEEDED, job.message
    page = client.get(f"/projects/{project.slug}/export/")
    link = f"/projects/{project.slug}/export/hf/{job.pk}/download/"
    assert link.encode() in page.content
    download = client.get(link)
    names = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content))).namelist()
    assert f"{project.slug}/README.md" in names
    assert f"{project.slug}/annotations/train-00000.parquet" in names
    assert f"{project.slug}/annotations/data-00000.arrow" in names
    assert f"{project.slug}/dataset_dict.json" in names
