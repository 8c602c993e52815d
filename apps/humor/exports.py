"""The CHoRaL-style export: one record per post with its reactions, scores and human answers."""

from __future__ import annotations

from collections.abc import Iterator

from apps.core import quality
from apps.core.exporting import items_with_answers
from apps.core.models import Project
from apps.core.registry import json_ready

from .scores import REACTIONS


def post_records(*, project: Project) -> Iterator[dict]:
    """Streamed in pages; the aggregates are fitted once, before the first page."""
    frame = quality.answers_frame(project)
    majority = quality.aggregate(frame, "majority")
    dawid_skene = quality.aggregate(frame, "dawid_skene")
    del frame
    for item in items_with_answers(project):
        payload = item.payload
        reactions = payload.get("reactions") or {}
        answers = [
            {
                "annotator": a.annotator,
                "funny": (a.value or {}).get("funny"),
                "blocked": a.blocked,
            }
            for a in item.answers
        ]
        counted = [a["funny"] for a in answers if not a["blocked"]]
        m, d = majority.get(item.pk), dawid_skene.get(item.pk)
        gold = item.gold_value
        yield {
            "post_id": payload.get("post_id", item.external_id),
            "kind": item.kind,
            "text": payload.get("text", ""),
            "created": payload.get("created", ""),
            "type": payload.get("type", ""),
            **{r: reactions.get(r, 0) for r in REACTIONS},
            "t": payload.get("t"),
            "h": payload.get("h"),
            "hs": payload.get("hs"),
            "ns": payload.get("ns"),
            "ns_version": payload.get("ns_version"),
            "s_version": payload.get("s_version"),
            "reaction_label": payload.get("reaction_label"),
            "split": payload.get("split"),
            "study_stratum": payload.get("study_stratum"),
            "gold": gold.get("funny") if isinstance(gold, dict) else None,
            "human_answers": answers,
            "human_yes": counted.count("yes"),
            "human_no": counted.count("no"),
            "majority_label": json_ready(m.label) if m else None,
            "majority_confidence": m.confidence if m else None,
            "dawid_skene_label": json_ready(d.label) if d else None,
            "dawid_skene_confidence": d.confidence if d else None,
        }
