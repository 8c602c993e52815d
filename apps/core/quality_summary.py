"""What the Quality tab shows, computed once per change of the answers and stored as JSON.

The worker stores it beside the results (:mod:`apps.core.results_cache`), for every
aggregation method of the task type, so switching the method on the page reads stored
numbers too. The answers are read once for all of it (:func:`apps.core.quality.shared_reads`).

Layout (every key a string, every value JSON)::

    {"level": "nominal", "alpha": 0.61,
     "participants": {"<participant id>": {"answers": 12, "median_seconds": 4.2,
                      "gold_correct": 3, "gold_answered": 4, "flags": ["fast"]}},
     "methods": {"majority": {"count": 333334,
                              "head": [["post-1", "yes", 1.0, 3, false], …],
                              "agreement": {"<participant id>": [0.83, 1000]}}}}

``head`` holds the first :data:`HEAD` aggregated items (the page's table; the download has
them all).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from . import registry
from .answer_rules import project_answer_flags
from .models import Annotation, Item, Project
from .quality import (
    answers_frame,
    answers_read,
    krippendorff_alpha,
    project_aggregate,
    shared_reads,
)

HEAD = 200


def _durations(frame: pd.DataFrame, controls: list) -> pd.DataFrame:
    """Per participant: how many answers (regular and control) and their median duration."""
    workers = np.concatenate(
        [frame["worker"].to_numpy(), np.asarray([a.participant_id for a in controls], dtype=int)]
    )
    durations = np.concatenate(
        [frame["duration_ms"].to_numpy(), np.asarray([a.duration_ms for a in controls], dtype=int)]
    )
    return (
        pd.DataFrame({"worker": workers, "duration_ms": durations})
        .groupby("worker")["duration_ms"]
        .agg(["size", "median"])
    )


def _agreement(frame: pd.DataFrame, labels: dict[int, object]) -> dict[str, list]:
    """Per participant: the share of their labels equal to the item's aggregate, and of how many."""
    if frame.empty or not labels:
        return {}
    aggregated = frame["task"].map(labels)
    known = aggregated.notna()
    same = frame["label"][known] == aggregated[known]
    grouped = same.groupby(frame["worker"][known])
    means, sizes = grouped.mean(), grouped.size()
    return {
        str(int(worker)): [float(mean), int(n)]
        for worker, mean, n in zip(means.index, means.to_numpy(), sizes.to_numpy(), strict=True)
    }


def quality_compute(*, project: Project, methods: Sequence[str] | None = None) -> dict:
    """The Quality tab's figures for ``methods`` (default: every method of the task type)."""
    task_type = registry.get(project.task_type)
    keys = list(methods) if methods else [m.key for m in task_type.aggregation_methods]
    with shared_reads():
        everything = answers_read(project)
        # Gold and attention answers, scored by the task type (the engine's rule, for everyone).
        controls = list(
            Annotation.objects.filter(project=project)
            .exclude(item__kind=Item.Kind.REGULAR)
            .select_related("item")
            .only(
                "participant_id",
                "value",
                "duration_ms",
                "item__gold_value",
                "item__kind",
                "item__payload",
            )
            .iterator(chunk_size=2000)
        )
        participants: dict[str, dict] = {}
        durations = _durations(everything, controls)
        for worker, size, median in zip(
            durations.index, durations["size"], durations["median"], strict=True
        ):
            participants[str(worker)] = {
                "answers": int(size),
                "median_seconds": float(median) / 1000,
                "gold_correct": 0,
                "gold_answered": 0,
                "flags": [],
            }
        for annotation in controls:
            row = participants[str(annotation.participant_id)]
            row["gold_answered"] += 1
            row["gold_correct"] += bool(task_type.gold_correct(annotation.item, annotation.value))
        for worker, flags in project_answer_flags(project=project, frame=everything).items():
            participants[str(worker)]["flags"] = flags.as_list()
        counted = answers_frame(project)
        labelled = answers_frame(project, include_blocked=True)
        by_method = {}
        for key in keys:
            aggregates = project_aggregate(project, key)
            head = list(aggregates.items())[:HEAD]
            names = dict(
                Item.objects.filter(pk__in=[pk for pk, _ in head]).values_list("id", "external_id")
            )
            by_method[key] = {
                "count": len(aggregates),
                "head": [
                    [
                        names.get(pk, str(pk)),
                        registry.json_ready(agg.label),
                        agg.confidence,
                        agg.n,
                        agg.tie,
                    ]
                    for pk, agg in head
                ],
                "agreement": _agreement(
                    labelled, {pk: agg.label for pk, agg in aggregates.items()}
                ),
            }
        return {
            "level": task_type.level_of_measurement,
            "alpha": krippendorff_alpha(counted, task_type.level_of_measurement),
            "participants": participants,
            "methods": by_method,
        }
