"""Writes of the model loop: start and run training, register versions, feed predictions back.

``training_run`` is what the Celery task calls. Its contract: a version is registered (row +
predictions, in one transaction) only after its artifact is fully written to storage, so a
worker killed at any moment leaves either no version or a complete one; running the task
again for the same job is safe (it finishes, or notices the version already exists).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import inspect
import json
import logging
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max

from apps.core.jobs import MAX_ATTEMPTS as MAX_JOB_ATTEMPTS
from apps.core.jobs import (
    job_create,
    job_enqueue,
    job_fail,
    job_finish,
    job_log,
    job_progress,
)
from apps.core.models import Assignment, Item, Job, Project
from apps.core.services import item_model_priorities_clear, item_model_priorities_set

from . import trainers
from .models import ModelLoopSettings, ModelVersion, Prediction
from .selectors import PREDICT_JOB_KIND, TRAIN_JOB_KIND

logger = logging.getLogger(__name__)

# A job whose worker died this many times is failed instead of being tried again.
MAX_ATTEMPTS = MAX_JOB_ATTEMPTS
PROGRESS_EVERY_S = 0.3
RECORDS_FILE = "training_records.jsonl.gz"


def _sources_hash(paths: list[Path], root: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


@functools.cache
def _commit() -> str:
    commit = os.environ.get("CHORUS_CODE_VERSION", "")
    if commit:
        return commit
    try:
        return subprocess.run(
            ["git", "-C", str(settings.BASE_DIR), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@functools.cache
def code_version(trainer_key: str | None = None) -> str:
    """Git commit (when the worker runs from a checkout) plus a hash of the ``ml/`` sources and
    of the trainer's own module (records and labels are built there)."""
    root = Path(settings.BASE_DIR)
    version = f"{_commit()}+ml.{_sources_hash(sorted((root / 'ml').rglob('*.py')), root)}"
    trainer = trainers.find(trainer_key) if trainer_key else None
    if trainer is not None:
        source = Path(inspect.getfile(type(trainer))).resolve()
        if source.is_relative_to(root):
            version += f"+trainer.{_sources_hash([source], root)}"
    return version


def records_digest(records: list[dict]) -> str:
    """SHA-256 of the training records as canonical JSON: the data a version was trained on."""
    digest = hashlib.sha256()
    for record in records:
        digest.update(json.dumps(record, sort_keys=True, separators=(",", ":")).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def train_config(trainer, data: dict) -> Any:
    """The trainer's config from ``data`` (defaults filled in; TrainingError names a bad field)."""
    config = dict(data)
    if "encoder" in {f.name for f in trainer.Config.fields_spec()} and not config.get("encoder"):
        config["encoder"] = settings.CHORUS_TEXT_ENCODER
    return trainer.Config.from_dict(config)


def training_start(*, project: Project, user, config: dict) -> Job:
    """Queue a training job for ``project`` on the ``gpu`` queue (sent when the caller commits)."""
    from .tasks import model_train

    trainer = trainers.get(project.task_type)  # refuse early: no trainer, no job
    checked = train_config(trainer, config)  # and no job for a config the run would refuse
    with transaction.atomic():
        job = job_create(
            kind=TRAIN_JOB_KIND,
            project=project,
            params={"trainer": trainer.key, "config": checked.to_dict()},
            user=user,
        )
        job_enqueue(job, model_train)
    return job


def _progress(job: Job, start: float, end: float) -> Callable[[float, str], bool]:
    """A callback for ``ml/``: writes throttled progress, says False once the job is cancelled."""
    last = [0.0]

    def callback(fraction: float, message: str) -> bool:
        now = time.monotonic()
        if now - last[0] < PROGRESS_EVERY_S and fraction < 1.0:
            return True
        last[0] = now
        return job_progress(job, start + (end - start) * fraction, message)

    return callback


def _train_device():
    """The device runs train on; on CPU with the thread count the settings ask for."""
    from ml.common import cpu_threads, pick_device

    device = pick_device(settings.CHORUS_TRAIN_DEVICE or None)
    if device.type == "cpu":
        cpu_threads(settings.CHORUS_TORCH_THREADS)
    return device


def _device_words(device) -> str:
    """ "cpu (2 threads)" or "cuda:0": what the job log and the version record say."""
    import torch

    if device.type != "cpu":
        return str(device)
    threads = torch.get_num_threads()
    return f"cpu ({threads} thread{'' if threads == 1 else 's'})"


def _artifact_prefix(job: Job) -> str:
    return f"models/{job.project_id}/job-{job.pk}"


def _artifact_clear(prefix: str) -> None:
    """Remove what earlier attempts of this job left in storage (a killed worker's files)."""
    parent, name = prefix.rsplit("/", 1)
    try:
        dirs, _ = default_storage.listdir(parent)
    except FileNotFoundError:
        return
    for folder in dirs:
        if folder == name or folder.startswith(name + "-"):
            _storage_rmtree(f"{parent}/{folder}")


def _storage_rmtree(path: str) -> None:
    dirs, files = default_storage.listdir(path)
    for sub in dirs:
        _storage_rmtree(f"{path}/{sub}")
    for name in files:
        default_storage.delete(f"{path}/{name}")
    local = Path(settings.MEDIA_ROOT) / path
    if local.is_dir():
        # FileSystemStorage leaves empty folders behind; remote storages have none.
        for folder in sorted(local.rglob("*"), reverse=True):
            folder.rmdir()
        local.rmdir()


def _artifact_store(local: Path, prefix: str) -> str:
    """Copy the checkpoint folder into Django's default storage; returns the storage folder."""
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        name = f"{prefix}/{path.relative_to(local).as_posix()}"
        with path.open("rb") as handle:
            stored = default_storage.save(name, File(handle))
        if stored != name:
            raise RuntimeError(
                f"Storage renamed {name} to {stored}; the artifact folder is not clean."
            )
    return prefix


def artifact_local_dir(version: ModelVersion, into: Path) -> Path:
    """Materialise ``version``'s artifact from storage into ``into`` (for prediction elsewhere)."""

    def copy(path: str, target: Path) -> None:
        dirs, files = default_storage.listdir(path)
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            with default_storage.open(f"{path}/{name}", "rb") as src:
                (target / name).write_bytes(src.read())
        for sub in dirs:
            copy(f"{path}/{sub}", target / sub)

    copy(version.artifact, into)
    return into


def training_run(*, job: Job) -> None:
    """Train, predict, store the artifact, then register the version; safe to run twice.

    Runs under ``apps.core.jobs.job_task``, which has loaded the job, taken its lease and
    started it.
    """
    from ml.common import Cancelled, TrainingError

    if ModelVersion.objects.filter(job=job).exists():
        # The last attempt registered its version and died before marking the job done.
        job_finish(job, result={"model_version": job.model_version.pk}, message="Trained")
        return
    if job.attempts > 1:
        job_log(job, f"Attempt {job.attempts}: the previous worker stopped before finishing.")
    project = job.project
    prefix = f"{_artifact_prefix(job)}-try-{job.attempts}"
    try:
        trainer = trainers.get(project.task_type)
        config = train_config(trainer, job.params.get("config") or {})
        device = _train_device()
        records = trainer.records(project, config)
        digest = records_digest(records)
        job_log(
            job,
            f"{len(records)} records (sha256 {digest[:12]}); training on {_device_words(device)}; "
            f"code {code_version(trainer.key)}",
        )
        with tempfile.TemporaryDirectory(prefix="chorus-train-") as tmp:
            out = Path(tmp) / "artifact"
            outcome = trainer.train(records, config, device, _progress(job, 0.0, 0.8), out)
            job_log(
                job,
                "Metrics: "
                + ", ".join(
                    f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in outcome.metrics.items()
                ),
            )
            rows = trainer.predict(out, records, device, _progress(job, 0.8, 0.95))
            if not job_progress(job, 0.96, "Storing the model"):
                raise Cancelled("cancelled before storing")
            # The exact records go into the artifact: the version can be trained again.
            with gzip.open(out / RECORDS_FILE, "wt", encoding="utf-8") as handle:
                for record in records:
                    handle.write(json.dumps(record, sort_keys=True) + "\n")
            _artifact_clear(_artifact_prefix(job))
            _artifact_store(out, prefix)
        outcome.snapshot = {
            **outcome.snapshot,
            "records": len(records),
            "records_sha256": digest,
            "records_file": f"{prefix}/{RECORDS_FILE}",
        }
        version = _version_register(
            job=job,
            trainer=trainer,
            outcome=outcome,
            rows=rows,
            artifact=prefix,
            device=str(device),
        )
        if version is None:
            _artifact_clear(_artifact_prefix(job))
            return
        job_finish(
            job,
            result={
                "model_version": version.pk,
                "number": version.number,
                "metrics": version.metrics,
            },
            message=f"Trained version {version.number}",
        )
    except Cancelled:
        job_log(job, "Stopped: the job was cancelled.")
    except (TrainingError, trainers.NoTrainer) as exc:
        job_log(job, f"Failed: {exc}")
        job_fail(job, str(exc))
    except Exception as exc:  # the researcher sees why; the traceback goes to the worker log
        logger.exception("Training job %s crashed", job.pk)
        job_fail(job, f"Training crashed: {type(exc).__name__}: {exc}")


def prediction_start(*, version: ModelVersion, user) -> Job:
    """Queue batch prediction of ``version`` on the items it has no prediction for yet."""
    from .tasks import model_predict

    with transaction.atomic():
        job = job_create(
            kind=PREDICT_JOB_KIND,
            project=version.project,
            params={"model_version": version.pk},
            user=user,
        )
        job_enqueue(job, model_predict)
    return job


def prediction_run(*, job: Job) -> None:
    """Predict the items a version has not seen (e.g. imported after training); idempotent.

    Runs under ``apps.core.jobs.job_task`` (job loaded, leased and started).
    """
    from ml.common import Cancelled

    try:
        version = ModelVersion.objects.get(pk=job.params["model_version"], project=job.project)
        trainer = trainers.get(version.trainer)
        done = set(version.predictions.values_list("item_id", flat=True))
        config = train_config(trainer, version.config)
        records = [r for r in trainer.records(job.project, config) if r["item_id"] not in done]
        job_log(job, f"{len(records)} items without a prediction from version {version.number}")
        rows = []
        if records:
            device = _train_device()
            with tempfile.TemporaryDirectory(prefix="chorus-predict-") as tmp:
                local = artifact_local_dir(version, Path(tmp) / "artifact")
                rows = trainer.predict(local, records, device, _progress(job, 0.05, 0.95))
        with transaction.atomic():
            # A second delivery of this task may have stored some already.
            _predictions_store(version, rows, ignore_conflicts=True)
        if ModelLoopSettings.objects.filter(project=job.project, active_version=version).exists():
            priorities_apply(project=job.project)  # after the commit: it commits in batches
        job_finish(job, result={"predicted": len(rows)}, message=f"Predicted {len(rows)} items")
    except Cancelled:
        job_log(job, "Stopped: the job was cancelled.")
    except ModelVersion.DoesNotExist:
        job_fail(job, "The model version no longer exists.")
    except Exception as exc:
        logger.exception("Prediction job %s crashed", job.pk)
        job_fail(job, f"Prediction crashed: {type(exc).__name__}: {exc}")


def _version_register(*, job: Job, trainer, outcome, rows, artifact: str, device: str):
    """Create the version and its predictions at once; None if the job was cancelled meanwhile."""
    project = job.project
    with transaction.atomic():
        locked = Job.objects.select_for_update().get(pk=job.pk)
        if locked.status != Job.Status.RUNNING:
            return None
        number = (project.model_versions.aggregate(n=Max("number"))["n"] or 0) + 1
        version = ModelVersion.objects.create(
            project=project,
            number=number,
            trainer=trainer.key,
            job=job,
            config=outcome.config,
            seed=outcome.seed,
            code_version=code_version(trainer.key),
            data_snapshot=outcome.snapshot,
            metrics=outcome.metrics,
            artifact=artifact,
            device=device,
            created_by=job.created_by,
        )
        _predictions_store(version, rows)
        loop, _ = ModelLoopSettings.objects.select_for_update().get_or_create(project=project)
        activated = loop.active_version_id is None
        if activated:
            # The first model becomes active on its own; later ones wait for the researcher.
            loop.active_version = version
            loop.save(update_fields=["active_version"])
    cache.delete(_prefill_key(project.pk))
    if activated:
        priorities_apply(project=project)  # on this worker, after the commit, in batches
    return version


def modelversion_activate(*, project: Project, version: ModelVersion | None) -> ModelLoopSettings:
    """Make ``version`` the one used for pre-fill and active learning (None: no model)."""
    if version is not None and version.project_id != project.pk:
        raise ValueError("That model version belongs to another project.")
    with transaction.atomic():
        loop, _ = ModelLoopSettings.objects.select_for_update().get_or_create(project=project)
        loop.active_version = version
        loop.save(update_fields=["active_version"])
        _priorities_enqueue(project)
    cache.delete(_prefill_key(project.pk))
    return loop


def active_learning_choices(project: Project) -> list[tuple[str, str]]:
    """ "Off" and the modes the project's trainer declares: (key, title)."""
    trainer = trainers.find(project.task_type)
    modes = [(m.key, m.title) for m in trainer.active_learning] if trainer else []
    return [(ModelLoopSettings.ACTIVE_LEARNING_OFF, "Off"), *modes]


def modelloop_settings_update(
    *, project: Project, prefill: bool, active_learning: str
) -> ModelLoopSettings:
    if active_learning not in dict(active_learning_choices(project)):
        raise ValueError(f"Unknown active-learning mode {active_learning!r}.")
    with transaction.atomic():
        loop, _ = ModelLoopSettings.objects.select_for_update().get_or_create(project=project)
        loop.prefill = prefill
        loop.active_learning = active_learning
        loop.save(update_fields=["prefill", "active_learning"])
        _priorities_enqueue(project)
    cache.delete(_prefill_key(project.pk))
    return loop


def _priorities_enqueue(project: Project) -> None:
    """Have a worker of the default queue re-apply the priorities once this commits.

    Called from web requests (activate, loop settings): rewriting a large project's items
    there would hold the request and the items' row locks for as long as it takes.
    """
    from .tasks import model_priorities_apply

    transaction.on_commit(
        lambda: model_priorities_apply.apply_async(args=[project.pk], queue="default")
    )


PRIORITY_PAGE = 2000


def _model_priorities(project: Project, loop: ModelLoopSettings, version: ModelVersion):
    """(item id, model priority) for every regular item, read in keyset pages.

    Only unanswered items get a priority from the model; the others get 0, so no priority
    outlives the state it was computed for.
    """
    trainer = trainers.get(version.trainer)
    mode = loop.active_learning
    last = 0
    while True:
        # Keyset pages, not an open cursor: the caller writes between pages, and SQLite
        # cannot write a table it is streaming.
        page = list(
            Item.objects.filter(project=project, kind=Item.Kind.REGULAR, pk__gt=last)
            .order_by("pk")
            .only("id", "payload", "answer_count")[:PRIORITY_PAGE]
        )
        if not page:
            return
        last = page[-1].pk
        predicted = {
            item_id: (value, uncertainty)
            for item_id, value, uncertainty in Prediction.objects.filter(
                model_version=version, item_id__in=[i.pk for i in page if i.answer_count == 0]
            ).values_list("item_id", "value", "uncertainty")
        }
        for item in page:
            found = predicted.get(item.pk)
            yield item.pk, trainer.priority(mode, item, *found) if found is not None else 0.0


def priorities_apply(*, project: Project) -> int:
    """Set items' model priority from the active model; returns items changed.

    Runs on a worker (``tasks.model_priorities_apply``, or the training and prediction jobs
    after they commit) and writes in committed batches, so never call it inside a web
    request or a transaction. It owns ``Item.model_priority`` only: the task type's base
    priority (``Item.priority``, e.g. humor's study sample) is left alone, and the engine
    serves by base priority first. With active learning off, or no active model, every
    model priority goes back to 0 (fewest answers first within each base priority).
    """
    loop = (
        ModelLoopSettings.objects.filter(project=project).select_related("active_version").first()
    )
    mode = loop.active_learning if loop else ModelLoopSettings.ACTIVE_LEARNING_OFF
    version = loop.active_version if loop else None
    if mode == ModelLoopSettings.ACTIVE_LEARNING_OFF or version is None:
        return item_model_priorities_clear(project=project)
    return item_model_priorities_set(
        project=project, priorities=_model_priorities(project, loop, version)
    )


def _predictions_store(version: ModelVersion, rows, *, ignore_conflicts: bool = False) -> None:
    Prediction.objects.bulk_create(
        [
            Prediction(
                model_version=version,
                item_id=r.item_id,
                value=r.value,
                uncertainty=r.uncertainty,
            )
            for r in rows
        ],
        batch_size=2000,
        ignore_conflicts=ignore_conflicts,
    )


PREFILL_SOURCE_TTL = 10  # seconds another process may go on using the previous setting


def _prefill_key(project_id: int) -> str:
    return f"chorus:prefill-source:{project_id}"


def _prefill_source(project_id: int) -> tuple[int, str] | None:
    """(active version, trainer) when pre-fill is on. Asked on every reservation, so it is
    cached briefly; this process forgets it at once when the settings change."""
    key = _prefill_key(project_id)
    cached = cache.get(key, cache)
    if cached is cache:
        cached = (
            ModelLoopSettings.objects.filter(
                project_id=project_id, prefill=True, active_version__isnull=False
            )
            .values_list("active_version_id", "active_version__trainer")
            .first()
        )
        cache.set(key, cached, PREFILL_SOURCE_TTL)
    return cached


def prediction_prefill(assignment: Assignment) -> dict | None:
    """Prefill provider: the active model's answer for a regular item when pre-fill is on."""
    item = assignment.item
    if item.kind != Item.Kind.REGULAR:
        return None  # never hint the answer to a gold or attention item
    loop = _prefill_source(item.project_id)
    if loop is None:
        return None
    version_id, trainer_key = loop
    value = (
        Prediction.objects.filter(model_version_id=version_id, item_id=item.pk)
        .values_list("value", flat=True)
        .first()
    )
    if value is None or not trainers.has(trainer_key):
        return None
    return trainers.get(trainer_key).prefill_value(value)
