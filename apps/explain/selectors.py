"""Reads across objects for the explain results and exports: answers as rows, images once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from apps.core.models import Annotation, Item, ItemMedia, Participant, Project

from .describe import keywords_of


@dataclass(frozen=True)
class Answer:
    """One stored answer with what its item showed."""

    annotation: int
    participant: int
    simulated: bool
    blocked: bool
    item: int
    image_id: str
    class_name: str
    normalisations: tuple[str, ...]  # one, or the pair (a, b) of a pairwise item
    value: dict[str, Any]
    boxes: list[list[int]]
    created_at: Any
    attribution: list[float]  # a post's word scores (rationale items); [] for an image
    attribute: str = ""  # the attribute a counterfactual pair changes; "" otherwise
    keywords: tuple[str, ...] = ()  # the words that name it (a describe answer's scoring)
    text: str = ""  # a post's text (rationale items)
    attributions: dict[str, list[float]] = field(default_factory=dict)  # method -> word scores

    @property
    def is_text(self) -> bool:
        return "words" in self.value


def answers(project: Project) -> Iterator[Answer]:
    """Every answer of the project, oldest first, blocked participants' ones included (marked)."""
    rows = (
        Annotation.objects.filter(project=project)
        .select_related("item", "participant")
        .order_by("id")
    )
    for a in rows.iterator(chunk_size=500):
        payload = a.item.payload or {}
        shown = payload.get("normalisations") or [payload.get("normalisation", "")]
        yield Answer(
            annotation=a.pk,
            participant=a.participant_id,
            simulated=a.participant.simulated,
            blocked=a.participant.status == Participant.Status.BLOCKED,
            item=a.item_id,
            image_id=payload.get("image_id", a.item.external_id),
            class_name=payload.get("class_name", ""),
            normalisations=tuple(shown),
            value=a.value,
            boxes=payload.get("boxes", []),
            created_at=a.created_at,
            attribution=(payload.get("attribution") or {}).get("scores", []),
            attribute=payload.get("attribute", ""),
            keywords=tuple(keywords_of(payload)) if "pair_id" in payload else (),
            text=payload.get("text", ""),
            attributions=attribution_scores(payload),
        )


def attribution_scores(payload: dict) -> dict[str, list[float]]:
    """A post's word attributions by method: the one shown first, then the others stored."""
    shown = payload.get("attribution") or {}
    if not shown:
        return {}
    out = {shown.get("method") or "integrated_gradients": list(shown.get("scores", []))}
    for method, other in (payload.get("attributions") or {}).items():
        out.setdefault(method, list(other.get("scores", [])))
    return out


def used_answers(project: Project) -> list[Answer]:
    return [a for a in answers(project) if not a.blocked]


def image_scores(project: Project) -> dict[str, dict[str, dict[str, list[float]]]]:
    """``{image_id: {normalisation: per-threshold scores}}``, each image once (its items all
    carry the same scores)."""
    scores: dict[str, dict] = {}
    for image_id, auto in (
        Item.objects.filter(project=project)
        .order_by("id")
        .values_list("payload__image_id", "payload__auto")
    ):
        if image_id and auto and image_id not in scores:
            scores[image_id] = auto
    return scores


def overlay_files(project: Project) -> dict[tuple[str, str], str]:
    """``{(image_id, media key): storage name}``: one file per image and key, for the gallery."""
    files: dict[tuple[str, str], str] = {}
    rows = ItemMedia.objects.filter(item__project=project).order_by("item_id", "key")
    for image_id, key, name in rows.values_list("item__payload__image_id", "key", "file"):
        files.setdefault((image_id, key), name)
    return files
