"""Writes the dashboard (and the API) make: settings, status, blocking, imports as Jobs."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from apps.core import registry
from apps.core.jobs import job_create, job_enqueue
from apps.core.models import Item, Job, Participant, Project
from apps.core.registry import ImportReport
from apps.core.uploads import items_import_upload, upload_problem

__all__ = ["upload_problem"]  # re-exported: views check an upload before importing it

# Uploads above this size are imported by the worker (with a progress bar), below it inline.
INLINE_IMPORT_BYTES = 2 * 1024 * 1024

# Which status changes the Launch tab offers, and in what words.
TRANSITIONS: dict[str, list[tuple[str, str]]] = {
    Project.Status.DRAFT: [(Project.Status.LIVE, "Launch")],
    Project.Status.LIVE: [(Project.Status.PAUSED, "Pause"), (Project.Status.CLOSED, "Close")],
    Project.Status.PAUSED: [(Project.Status.LIVE, "Resume"), (Project.Status.CLOSED, "Close")],
    Project.Status.CLOSED: [(Project.Status.LIVE, "Reopen")],
}

# What each status change does, asked before it is made (the Launch tab's buttons).
TRANSITION_CONFIRM: dict[str, str] = {
    Project.Status.LIVE: "Open the study? Anyone with the link can enter and answer.",
    Project.Status.PAUSED: "Pause the study? Nobody gets new items until you resume; answers "
    "already being written are still saved.",
    Project.Status.CLOSED: "Close the study? Participants are turned away; answers are kept "
    "and you can reopen it later.",
}


class StatusRefused(ValueError):
    pass


def project_status_set(*, project: Project, status: str) -> None:
    allowed = [target for target, _ in TRANSITIONS.get(project.status, [])]
    if status not in allowed:
        raise StatusRefused(
            f"A {project.get_status_display().lower()} project cannot become {status!r}; "
            f"allowed: {', '.join(allowed) or 'none'}."
        )
    if status == Project.Status.LIVE and not project.items.exists():
        raise StatusRefused("Import some items before launching the project.")
    project.set_status(status)


def project_delete(*, project: Project) -> None:
    """Delete the project and everything in it (items, media, answers, participants, jobs)."""
    project.delete()


def project_settings_update(*, project: Project, config: dict, **fields) -> str | None:
    """Save the settings form: Project fields and the task type's (already cleaned) config.

    Returns what the task type says about the change (e.g. that labels are being recomputed).
    """
    before = dict(project.config or {})
    with transaction.atomic():
        for name, value in fields.items():
            setattr(project, name, value)
        project.config = config
        project.save(update_fields=[*fields, "config"])
        return registry.get(project.task_type).config_saved(project, before)


def api_token_renew(*, user):
    """A fresh API token for ``user``; the previous one stops working."""
    from rest_framework.authtoken.models import Token

    with transaction.atomic():
        Token.objects.filter(user=user).delete()
        return Token.objects.create(user=user)


def participant_block_set(*, participant: Participant, blocked: bool, reason: str = "") -> None:
    """Block or unblock; a blocked participant's answers stay stored, excluded from results."""
    if blocked:
        participant.block(reason or "Blocked by a researcher")
    else:
        participant.unblock()


# The gold rate a project gets when its first gold items arrive while it is 0: one served item
# in ten, what the demos use.
DEFAULT_GOLD_RATE = 0.1


def items_import_now(*, project: Project, upload, name: str) -> ImportReport:
    """Import in this process, then give a project that just got gold items a gold rate.

    A gold rate of 0 means gold items are never served; someone who uploads them wants them
    used, so it becomes ``DEFAULT_GOLD_RATE`` and the report says so (Settings can undo it).
    """
    before = _control_items(project)
    report = items_import_upload(project=project, upload=upload, name=name)
    added = _control_items(project) - before
    if report.ok and added and project.gold_rate == 0:
        project.gold_rate = DEFAULT_GOLD_RATE
        project.save(update_fields=["gold_rate"])
        report.notes.append(
            f"{added} gold or attention-check item{'s' if added != 1 else ''} imported while "
            f"the gold rate was 0, so they would never have been served: the gold rate is now "
            f"{DEFAULT_GOLD_RATE:g} (one served item in {round(1 / DEFAULT_GOLD_RATE)}). Change "
            "it under Settings."
        )
    return report


def _control_items(project: Project) -> int:
    return project.items.exclude(kind=Item.Kind.REGULAR).count()


def imports_dir() -> Path:
    path = Path(settings.VAR_DIR) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def items_import_start(*, project: Project, upload: UploadedFile, user) -> ImportReport | Job:
    """Import a small upload now (its report), or queue a large one as a Job on the worker."""
    if upload.size is not None and upload.size <= INLINE_IMPORT_BYTES:
        return items_import_now(project=project, upload=upload, name=upload.name)
    # The worker reads the file from disk: keep it under var/imports until the Job is done.
    suffix = os.path.splitext(upload.name)[1].lower()
    path = imports_dir() / f"{uuid.uuid4().hex}{suffix}"
    with open(path, "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    from .tasks import items_import_job

    try:
        with transaction.atomic():
            job = job_create(
                kind="items_import",
                project=project,
                user=user,
                params={"path": str(path), "name": upload.name, "size": upload.size},
            )
            job_enqueue(job, items_import_job)
    except BaseException:
        path.unlink(missing_ok=True)  # no Job will read it
        raise
    return job
