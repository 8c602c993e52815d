"""The Hugging Face export: the task run directly (resume after an interruption) and through
the API (202 with the job, then the zip), loaded back with ``datasets``."""

from __future__ import annotations

import io
import zipfile

import datasets
import pytest
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.core import hfdataset
from apps.core.jobs import job_create
from apps.core.models import Annotation, Item, Job, Participant
from tests.api.helpers import bulk_answers

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def var_dir(tmp_path):
    with override_settings(VAR_DIR=tmp_path):
        yield tmp_path


def _load(folder, config):
    # A cache per folder: the shared one may answer for an earlier test's files.
    return datasets.load_dataset(
        str(folder), config, split="train", cache_dir=str(folder.parent / f"cache-{folder.name}")
    )


def _check_against_db(folder, project):
    annotations = _load(folder, "annotations")
    items = _load(folder, "items")
    aggregated = _load(folder, "aggregated")
    assert len(items) == Item.objects.filter(project=project).count()
    assert len(annotations) == Annotation.objects.filter(project=project).count()
    assert len(aggregated) == Item.objects.filter(project=project).count()
    label = annotations.features["label"]
    assert isinstance(label, datasets.ClassLabel) and label.names == ["a", "b"]
    by_id = {r["annotation_id"]: r for r in annotations}
    for a in Annotation.objects.filter(project=project).select_related("participant"):
        row = by_id[a.pk]
        assert label.int2str(row["label"]) == a.value["choice"]
        assert row["duration_ms"] == a.duration_ms
        assert row["blocked"] == (a.participant.status == Participant.Status.BLOCKED)
        assert a.participant.external_id not in row["participant"]
    # The plain parquet loader reads the same shards.
    plain = datasets.load_dataset(
        "parquet",
        data_files=str(folder / "annotations" / "*.parquet"),
        split="train",
        cache_dir=str(folder.parent / f"cache-plain-{folder.name}"),
    )
    assert len(plain) == len(annotations)
    return annotations


def test_interrupted_export_resumes_without_rewriting_shards(project, var_dir):
    bulk_answers(project, items=25, workers=4)
    Participant.objects.filter(external_id="bulk-worker-0").update(
        status=Participant.Status.BLOCKED
    )
    job = job_create(kind=hfdataset.JOB_KIND, project=project)

    class Killed(Exception):
        pass

    def kill_after_first(name):
        raise Killed(name)

    with pytest.raises(Killed):
        hfdataset.hf_export_run(job_id=job.pk, shard_rows=10, on_shard=kill_after_first)
    folder = hfdataset.export_folder(job)
    first = folder / "items" / "train-00000.parquet"
    stamp = first.stat().st_mtime_ns
    job.refresh_from_db()
    assert job.params["cursor"]["shards"] == ["items/train-00000.parquet"]

    hfdataset.hf_export_run(job_id=job.pk, shard_rows=10)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.message
    assert first.stat().st_mtime_ns == stamp  # not rewritten
    assert len(list((folder / "annotations").glob("*.parquet"))) == 10  # 100 answers / 10
    rows = _check_against_db(folder, project)
    assert len(set(rows["annotation_id"])) == len(rows)  # nothing written twice
    card = (folder / "README.md").read_text()
    assert "Krippendorff" in card and project.title in card


def test_api_export_zip_and_stable_pseudonyms(
    project, owner, var_dir, django_capture_on_commit_callbacks
):
    bulk_answers(project, items=6, workers=3)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=owner)[0]}")

    def export_once():
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
        target = var_dir / f"unzipped-{job_id}"
        archive.extractall(target)
        return _check_against_db(target / project.slug, project)

    first = export_once()
    second = export_once()
    assert sorted(first["participant"]) == sorted(second["participant"])
    assert len(set(first["participant"])) == 3


def test_pseudonyms_differ_across_projects(project):
    other = type(project).objects.create(
        slug="other", title="Other", task_type=project.task_type, owner=project.owner
    )
    a = hfdataset.pseudonym(hfdataset._salt(project), "prolific", "5f00")
    b = hfdataset.pseudonym(hfdataset._salt(other), "prolific", "5f00")
    assert a != b and "5f00" not in a
    assert a == hfdataset.pseudonym(hfdataset._salt(project), "prolific", "5f00")


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
