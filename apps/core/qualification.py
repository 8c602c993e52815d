"""A task type's qualification step: a short check between the instructions and the first item.

A listening test asks for headphones first (P.808's headphone and environment checks), a
labelling task may ask a few known questions. A task type declares one as its optional
``qualification`` attribute (default: none); the crowd flow becomes consent → instructions →
qualification → annotate. The result and its details are stored on the participant; a failure
screens them out (their own page, and for Prolific the project's screen-out code). With
``valid_for`` set, a pass expires and the participant takes the check again before their next
item (P.808's periodic re-checks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.utils import timezone

if TYPE_CHECKING:
    from .models import Participant, Project


@dataclass(frozen=True)
class Qualification:
    # The form's fields, rendered inside the qualification page's <form> (which has the
    # submit button and CSRF token); it sees ``project``, ``participant`` and ``context(...)``.
    template: str
    # (participant, the POSTed fields) -> (passed, details); details are stored as JSON.
    check: Callable[[Participant, Mapping[str, Any]], tuple[bool, dict]]
    # How long a pass holds; None = for the whole study.
    valid_for: timedelta | None = None
    title: str = "A short check before you start"
    # Extra template context (stimuli, questions), computed per participant.
    context: Callable[[Participant], dict] | None = None
    # Whether the project asks for the check at all (a setting of the task type's config);
    # None = always.
    enabled: Callable[[Project], bool] | None = None


def qualification_of(task_type, project: Project | None = None) -> Qualification | None:
    """The task type's qualification, or None (also when ``project``'s settings switch it off)."""
    check = task_type.qualification
    if check is not None and project is not None and check.enabled is not None:
        if not check.enabled(project):
            return None
    return check


def qualification_due(
    participant: Participant, qualification: Qualification | None, now: datetime | None = None
) -> bool:
    """Whether ``participant`` must take the check before their next item."""
    if qualification is None:
        return False
    if qualification.enabled is not None and not qualification.enabled(participant.project):
        return False
    if participant.qualification_passed is not True or participant.qualified_at is None:
        return True
    if qualification.valid_for is None:
        return False
    return participant.qualified_at + qualification.valid_for <= (now or timezone.now())
