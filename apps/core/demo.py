"""Simulated participants for the demo projects, answering through the real engine.

``make demo`` seeds each task type's demo project and then lets a few simulated people work
through it (``TaskType.simulate_answer`` decides each answer), so every results page shows
numbers on first open, computed by the same code as for real answers.

A task type with stages (``advance``) has its next stage made on a Celery worker once an
item is complete; no worker runs while a demo is seeded, so here a completed item is
advanced at once (``stages.item_advance``, the function the worker's task runs; the task
queued meanwhile finds the children made and makes nothing twice), and the simulated people
answer the later stages too.
"""

from __future__ import annotations

import random
import uuid

from . import engine, registry, stages
from .models import Participant, Project


def demo_answers_simulate(*, project: Project, participants: int = 6, seed: int = 13) -> int:
    """``participants`` simulated people each answer until the engine has nothing for them.

    Returns the number of answers stored. Deterministic for a given seed and project.
    """
    task_type = registry.get(project.task_type)
    # Per project, so two demo projects never draw the same client tokens (they are unique
    # across the whole database).
    rng = random.Random(f"{seed}:{project.pk}")
    staged = stages.has_stages(task_type)
    stored = 0
    for n in range(participants):
        participant = Participant.objects.create(
            project=project,
            source=Participant.Source.LINK,
            external_id=f"demo-{n + 1}-{uuid.UUID(int=rng.getrandbits(128)).hex[:8]}",
            simulated=True,
        )
        participant.consent()
        while (assignment := engine.next_item(participant=participant).assignment) is not None:
            value = task_type.simulate_answer(assignment.item, rng)
            outcome = engine.annotation_submit(
                assignment=assignment,
                value=value,
                client_token=uuid.UUID(int=rng.getrandbits(128)).hex,
                duration_ms=rng.randint(1500, 9000),
            )
            stored += 1
            item = outcome.annotation.item
            if staged and item.answer_count >= (item.wanted_answers or project.overlap):
                stages.item_advance(item_id=item.pk)
    return stored
