"""Writes on projects and participants (the engine's writes live in ``engine.py``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from django.db import IntegrityError, transaction

from . import registry
from .models import Membership, Participant, Project

PROLIFIC_REDIRECT = "https://app.prolific.com/submissions/complete?cc={code}"


def _param(params: Mapping[str, str], name: str) -> str:
    return (params.get(name) or "").strip()[:200]


def participant_identity(params: Mapping[str, str]) -> tuple[str, str, str, str] | None:
    """(source, external id, study id, session id) from the entry URL, or None for a plain link."""
    if pid := _param(params, "PROLIFIC_PID"):
        return (
            Participant.Source.PROLIFIC,
            pid,
            _param(params, "STUDY_ID"),
            _param(params, "SESSION_ID"),
        )
    if worker := _param(params, "workerId"):
        # MTurk shows the HIT in preview with this placeholder id: it is nobody.
        if _param(params, "assignmentId") == "ASSIGNMENT_ID_NOT_AVAILABLE":
            return None
        return (
            Participant.Source.MTURK,
            worker,
            _param(params, "hitId"),
            _param(params, "assignmentId"),
        )
    return None


def participant_find(*, project: Project, params: Mapping[str, str]) -> Participant | None:
    """The participant the entry URL names, if they entered before; never creates one."""
    identity = participant_identity(params)
    if identity is None:
        return None
    source, external_id, _, _ = identity
    return Participant.objects.filter(
        project=project, source=source, external_id=external_id
    ).first()


def participant_enter(*, project: Project, params: Mapping[str, str]) -> Participant:
    """Find or create the participant the entry URL names; a plain link gets a fresh one."""
    identity = participant_identity(params)
    if identity is None:
        return Participant.objects.create(
            project=project, source=Participant.Source.LINK, external_id=uuid.uuid4().hex
        )
    source, external_id, study_id, session_id = identity
    try:
        with transaction.atomic():
            participant, _ = Participant.objects.get_or_create(
                project=project,
                source=source,
                external_id=external_id,
                defaults={"study_id": study_id, "session_id": session_id},
            )
    except IntegrityError:  # two tabs entered at once: the other one created it
        participant = Participant.objects.get(
            project=project, source=source, external_id=external_id
        )
    return participant


def completion_redirect_url(participant: Participant) -> str | None:
    if participant.source == Participant.Source.PROLIFIC:
        return PROLIFIC_REDIRECT.format(code=participant.project.completion_code)
    return None


def project_create(
    *, owner, slug: str, title: str, task_type: str, config: dict | None = None, **fields
) -> Project:
    kind = registry.get(task_type)
    clean = kind.clean_config({**kind.default_config(), **(config or {})})
    with transaction.atomic():
        project = Project.objects.create(
            owner=owner, slug=slug, title=title, task_type=task_type, config=clean, **fields
        )
        Membership.objects.create(project=project, user=owner, role=Membership.Role.OWNER)
    return project
