"""A MOS study as a Hugging Face dataset: the clips as an Audio column and the aggregated
config holding each clip's MOS over the screened votes, equal to the database."""

from __future__ import annotations

import io

import datasets
import numpy as np
import pytest
import soundfile
from django.test import override_settings

from apps.core import hfdataset
from apps.core.demo import demo_answers_simulate
from apps.core.jobs import job_create
from apps.core.models import Job, Project
from apps.core.tasks import hf_export
from apps.mos.selectors import screened_votes

pytestmark = pytest.mark.django_db


def test_a_mos_study_exports_audio_and_per_clip_mos(mos_project, tmp_path, monkeypatch):
    project = mos_project("acr", slug="hf-mos")
    from apps.mos.tasktype import MOS

    MOS.seed_demo(project)
    project.status = Project.Status.LIVE
    project.save(update_fields=["status"])
    demo_answers_simulate(project=project, participants=4)
    with override_settings(VAR_DIR=tmp_path):
        job = job_create(kind=hfdataset.JOB_KIND, project=project, params={"shard_rows": 50})
        hf_export(job.pk)
        job.refresh_from_db()
        assert job.status == Job.Status.SUCCEEDED, job.message
        folder = hfdataset.export_folder(job)
    monkeypatch.chdir(folder)
    dd = datasets.load_from_disk(".")
    items = dd["items"]
    assert isinstance(items.features["audio"], datasets.Audio)
    row = items.cast_column("audio", datasets.Audio(decode=False))[0]
    samples, rate = soundfile.read(io.BytesIO(open(row["audio"]["path"], "rb").read()))
    assert rate == 16000 and len(samples) > rate  # a real, decodable clip

    used = screened_votes(project).used_test_votes()
    expected = used.groupby("external_id")["vote"].mean()
    aggregated = dd["aggregated"]
    assert len(aggregated) == len(expected)
    for record in aggregated:
        assert record["mos"] == pytest.approx(expected[record["item_id"]], abs=1e-4)
        votes = used[used["external_id"] == record["item_id"]]["vote"].to_numpy()
        if len(votes) > 1:
            assert record["ci95_normal"] == pytest.approx(
                1.96 * votes.std(ddof=1) / np.sqrt(len(votes)), abs=1e-4
            )
