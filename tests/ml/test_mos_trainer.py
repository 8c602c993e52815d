"""The MOS trainer on a real project: records, vote targets, training and prediction rows."""

from __future__ import annotations

import math
import time

import pytest
from django.utils import timezone

from apps.core.models import Annotation, Assignment, Item, Participant
from apps.mos.trainer import MOS_TRAINER, clip_targets
from ml.common import pick_device
from ml.config import TrainingError
from tests.factories import ItemFactory, ParticipantFactory, ProjectFactory, attach_media, wav_bytes

pytestmark = pytest.mark.django_db

SYSTEMS = {"vits": 660.0, "tacotron": 440.0, "griffin": 220.0}  # system → tone (Hz)
UTTERANCES = ("u1", "u2", "u3")


def clip_item(project, system: str, utterance: str, *, kind=Item.Kind.REGULAR, role="test"):
    item = ItemFactory(
        project=project,
        external_id=f"{system}-{utterance}-{role}",
        kind=kind,
        group=f"utt:{utterance}",
        payload={"system": system, "utterance_id": utterance, "text": "Hi.", "role": role},
    )
    hz = SYSTEMS.get(system, 330.0) + 20 * UTTERANCES.index(utterance)
    attach_media(item, "audio", wav_bytes(0.6, rate=8000, hz=hz), f"{system}_{utterance}.wav")
    return item


def vote(item, participant, score: int) -> Annotation:
    assignment = Assignment.objects.create(
        item=item,
        participant=participant,
        status=Assignment.Status.SUBMITTED,
        expires_at=timezone.now(),
    )
    return Annotation.objects.create(
        assignment=assignment,
        project=item.project,
        item=item,
        participant=participant,
        value={"score": score},
        client_token=f"{item.pk}-{participant.pk}",
    )


@pytest.fixture
def study(settings, tmp_path):
    """An ACR study: 3 systems × 3 utterances, a gold clip, a clip without audio, 3 listeners
    (one of them blocked), and a fourth system nobody has rated."""
    settings.MEDIA_ROOT = tmp_path / "media"
    project = ProjectFactory(task_type="mos", config={"design": "acr"}, overlap=3)
    items = {(s, u): clip_item(project, s, u) for s in SYSTEMS for u in UTTERANCES}
    unrated = clip_item(project, "new-system", "u1")
    gold = clip_item(project, "vits", "u2", kind=Item.Kind.GOLD, role="gold")
    silent = ItemFactory(project=project, payload={"system": "vits", "utterance_id": "u9"})
    listeners = [ParticipantFactory(project=project) for _ in range(3)]
    listeners[2].block("failed the trapping clip")
    base = {"vits": 5, "tacotron": 4, "griffin": 2}
    for (system, _), item in items.items():
        vote(item, listeners[0], base[system])
        vote(item, listeners[1], base[system] - 1 if system != "griffin" else 2)
        vote(item, listeners[2], 1)  # blocked: must not count
    vote(gold, listeners[0], 5)
    return project, items, unrated, gold, silent


def test_clip_targets_average_only_the_votes_of_listeners_who_are_not_blocked(study):
    project, items, unrated, gold, _ = study
    targets = clip_targets(project)
    assert targets[items["vits", "u1"].pk] == (4.5, 2)
    assert targets[items["tacotron", "u3"].pk] == (3.5, 2)
    assert targets[items["griffin", "u2"].pk] == (2.0, 2)
    assert unrated.pk not in targets and gold.pk not in targets
    assert set(targets) == {i.pk for i in items.values()}


def test_a_blocked_listener_unblocked_counts_again_unless_screening_excludes_them(study):
    project, items, *_ = study
    blocked = Participant.objects.get(project=project, status=Participant.Status.BLOCKED)
    blocked.unblock()
    # they gave 1 to every clip: P.808's variance rule still leaves them out
    assert clip_targets(project)[items["vits", "u1"].pk] == (4.5, 2)
    project.config = {"design": "acr", "qc": {"min_variance": None}}
    project.save(update_fields=["config"])
    mean, n = clip_targets(project)[items["vits", "u1"].pk]
    assert (mean, n) == (pytest.approx((5 + 4 + 1) / 3), 3)


def test_records_cover_every_regular_clip_with_audio_and_its_target(study):
    project, items, unrated, gold, silent = study
    config = MOS_TRAINER.Config.from_dict({})
    records = MOS_TRAINER.records(project, config)
    by_id = {r["item_id"]: r for r in records}
    assert set(by_id) == {i.pk for i in items.values()} | {unrated.pk}
    assert gold.pk not in by_id and silent.pk not in by_id
    record = by_id[items["vits", "u1"].pk]
    assert record["system"] == "vits" and record["utterance_id"] == "u1"
    assert (record["mos"], record["n_votes"]) == (4.5, 2)
    assert record["audio"] == items["vits", "u1"].media_files.get(key="audio").file.path
    assert by_id[unrated.pk]["mos"] is None and by_id[unrated.pk]["n_votes"] == 0


def test_a_study_that_is_not_acr_has_no_predictor(study):
    project, *_ = study
    project.config = {"design": "mushra"}
    project.save(update_fields=["config"])
    with pytest.raises(TrainingError, match="design is mushra"):
        MOS_TRAINER.records(project, MOS_TRAINER.Config.from_dict({}))


def _train_and_predict(project, tmp_path):
    config = MOS_TRAINER.Config.from_dict(MOS_TRAINER.smoke_config)
    records = MOS_TRAINER.records(project, config)
    device = pick_device("cpu")
    started = time.perf_counter()
    outcome = MOS_TRAINER.train(records, config, device, lambda *_: True, tmp_path / "artifact")
    seconds = time.perf_counter() - started
    rows = MOS_TRAINER.predict(tmp_path / "artifact", records, device, lambda *_: True)
    return records, outcome, rows, seconds


def test_the_smoke_config_trains_and_predicts_every_clip_including_new_systems(study, tmp_path):
    project, _, unrated, *_ = study
    records, outcome, rows, seconds = _train_and_predict(project, tmp_path)
    assert seconds < 30  # a few steps on a CPU
    assert outcome.seed == MOS_TRAINER.Config.from_dict(MOS_TRAINER.smoke_config).seed
    assert outcome.metrics["n_train"] + outcome.metrics["n_test"] == 9
    assert outcome.snapshot["systems"] == 4
    assert [r.item_id for r in rows] == [r["item_id"] for r in records]
    for row in rows:
        assert set(row.value) == {"score", "predicted_mos"}
        assert row.value["score"] == min(5, max(1, math.floor(row.value["predicted_mos"] + 0.5)))
        assert 1 <= row.value["predicted_mos"] <= 5
        assert math.isfinite(row.uncertainty) and row.uncertainty >= 0
    assert unrated.pk in {r.item_id for r in rows}
    priority = MOS_TRAINER.priority("uncertainty", unrated, rows[-1].value, rows[-1].uncertainty)
    assert priority == rows[-1].uncertainty


def test_clips_in_object_storage_are_read_through_the_storage(study, settings, tmp_path):
    project, items, *_ = study
    settings.STORAGES = {
        **settings.STORAGES,
        "media": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    for item in Item.objects.filter(project=project, media_files__key="audio").distinct():
        media = item.media_files.get(key="audio")
        hz = 300 + 10 * item.pk
        media.file.save("clip.wav", _content(wav_bytes(0.6, rate=8000, hz=hz)), save=True)
    records, outcome, rows, _ = _train_and_predict(project, tmp_path)
    assert all(not r["audio"].startswith("/") for r in records)
    assert outcome.metrics["n_train"] > 0 and len(rows) == len(records)


def _content(data: bytes):
    from django.core.files.base import ContentFile

    return ContentFile(data)


def test_a_training_job_registers_a_version_whose_uncertainty_orders_unrated_clips(
    study, settings, monkeypatch
):
    from apps.core.jobs import job_create, job_start
    from apps.training import services, trainers
    from apps.training.models import ModelLoopSettings, ModelVersion

    project, items, unrated, *_ = study
    monkeypatch.setitem(trainers._TRAINERS, "mos", MOS_TRAINER)  # the app registers it later
    settings.CHORUS_TRAIN_DEVICE = "cpu"
    Item.objects.filter(pk__in=[i.pk for i in items.values()]).update(answer_count=2)
    job = job_create(
        kind=services.TRAIN_JOB_KIND, project=project, params={"config": MOS_TRAINER.smoke_config}
    )
    job_start(job)
    services.training_run(job=job)
    job.refresh_from_db()
    assert job.status == job.Status.SUCCEEDED, job.message + job.log_tail
    version = ModelVersion.objects.get(project=project)
    assert version.trainer == "mos" and version.metrics["n_train"] > 0
    predicted = dict(version.predictions.values_list("item_id", "uncertainty"))
    assert set(predicted) == {i.pk for i in items.values()} | {unrated.pk}
    ModelLoopSettings.objects.filter(project=project).update(active_learning="uncertainty")
    services.priorities_apply(project=project)
    unrated.refresh_from_db()
    assert unrated.model_priority == pytest.approx(predicted[unrated.pk])
    rated = Item.objects.get(pk=items["vits", "u1"].pk)
    assert rated.model_priority == 0.0  # answered clips get no model priority
