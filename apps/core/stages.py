"""Stages: one item's outcome creates the next stage's items.

When an item has its wanted answers, the engine enqueues ``item_advance`` on commit (only for
a task type that defines ``advance``); the Celery task asks the task type for the children
(``advance(item) -> list[ChildSpec]``) and ``item_children_create`` makes them, in the same
engine queue as every other item. Delivery is at least once (``acks_late``; a killed worker's
task runs again), so creating children is idempotent: a child is named by its parent and
``ChildSpec.key`` (unique in the database), and the whole creation is one transaction under
the parent's row lock, so a killed run leaves nothing half made and a second run nothing new.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from . import registry
from .models import Item, ItemExclusion
from .registry import ChildSpec, PydanticTaskType

MAX_KEY = 100


class ChildRefused(ValueError):
    """A ChildSpec the core cannot store; the message says which and why (a task type bug)."""


def has_stages(task_type) -> bool:
    """Whether ``task_type`` defines ``advance`` (the default one never creates anything)."""
    method = getattr(type(task_type), "advance", None)
    return method is not None and method is not PydanticTaskType.advance


def advance_enqueue(*, item_id: int, task_type_key: str) -> None:
    """Queue the advance of a completed item; called by the engine through ``on_commit``.

    Task types without stages enqueue nothing: most projects never pay for a no-op task per
    completed item.
    """
    try:
        task_type = registry.get(task_type_key)
    except registry.UnknownTaskType:
        return
    if not has_stages(task_type):
        return
    from .tasks import item_advance

    item_advance.delay(item_id)


def _check(parent: Item, spec: ChildSpec, keys: set[str]) -> str:
    if not spec.key or len(spec.key) > MAX_KEY:
        raise ChildRefused(f"child key {spec.key!r} must be 1 to {MAX_KEY} characters")
    if spec.key in keys:
        raise ChildRefused(f"child key {spec.key!r} appears twice for item {parent.external_id}")
    if len(spec.stage) > 40:
        raise ChildRefused(f"stage {spec.stage!r} is longer than 40 characters")
    if spec.wanted_answers is not None and not 1 <= spec.wanted_answers <= 32767:
        raise ChildRefused(f"wanted_answers {spec.wanted_answers!r} is not from 1 to 32767")
    external_id = spec.external_id or f"{parent.external_id}/{spec.key}"
    if len(external_id) > 200:
        raise ChildRefused(f"child id {external_id[:60]!r}… is longer than 200 characters")
    keys.add(spec.key)
    return external_id


def item_children_create(*, parent: Item, children: Iterable[ChildSpec]) -> list[Item]:
    """Create the children of ``parent`` that do not exist yet; returns the ones created.

    A child keeps its parent's project and lists; it is a regular item of its ``stage`` with
    its own wanted answers and exclusions. Safe to call again with the same children.
    """
    children = list(children)
    created: list[Item] = []
    with transaction.atomic():
        # Two deliveries of one advance take turns on the parent's row; the second one then
        # sees the first one's children (the unique key is the backstop).
        parent = Item.objects.select_for_update().get(pk=parent.pk)
        existing = set(parent.children.values_list("child_key", flat=True))
        keys: set[str] = set()
        for spec in children:
            external_id = _check(parent, spec, keys)
            if spec.key in existing:
                continue
            child = Item.objects.create(
                project_id=parent.project_id,
                parent=parent,
                child_key=spec.key,
                external_id=external_id,
                stage=spec.stage,
                payload=spec.payload,
                wanted_answers=spec.wanted_answers,
                group=spec.group,
                list_mask=parent.list_mask,
                priority=parent.priority if spec.priority is None else spec.priority,
            )
            ItemExclusion.objects.bulk_create(
                [ItemExclusion(item=child, participant_id=pk) for pk in sorted(set(spec.exclude))]
            )
            created.append(child)
    return created


def item_advance(*, item_id: int) -> list[Item]:
    """Ask the task type for ``item``'s next stage and create it; [] when not yet complete."""
    item = Item.objects.select_related("project").filter(pk=item_id).first()
    if item is None or item.is_control or item.answer_count < item.wanted:
        return []
    task_type = registry.get(item.project.task_type)
    if not has_stages(task_type):
        return []
    return item_children_create(parent=item, children=task_type.advance(item))
