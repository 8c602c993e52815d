"""The MOS study's reads: votes as tables, the screening outcome, the results page.

Votes are read once per request as a DataFrame (``votes_frame``); the statistics in
``stats.py`` never touch the database, so the tests recompute every number from the same rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from apps.core.models import Annotation, Item, Participant, Project

from . import stats
from .schemas import Config, config_of

VOTE_COLUMNS = [
    "rater",
    "item",
    "utterance",
    "system",
    "vote",
    "role",
    "expected",
    "simulated",
    "blocked",
    "annotation",
    "external_id",
    "created_at",
]
AB_COLUMNS = [
    "rater",
    "item",
    "utterance",
    "system_a",
    "system_b",
    "preferred",
    "simulated",
    "blocked",
    "annotation",
    "external_id",
    "created_at",
]


def _annotations(project: Project):
    return (
        Annotation.objects.filter(project=project)
        .order_by("id")
        .values_list(
            "id",
            "participant_id",
            "item_id",
            "value",
            "created_at",
            "participant__simulated",
            "participant__status",
        )
    )


def _items(project: Project) -> dict[int, dict]:
    rows = Item.objects.filter(project=project).values_list(
        "id", "external_id", "kind", "gold_value", "payload"
    )
    items = {}
    for pk, external_id, kind, gold_value, payload in rows.iterator(chunk_size=2000):
        payload = payload or {}
        items[pk] = {
            "external_id": external_id,
            "utterance": str(payload.get("utterance_id", "")),
            "system": payload.get("system"),
            "system_a": payload.get("system_a"),
            "system_b": payload.get("system_b"),
            "role": payload.get("role") or ("test" if kind == Item.Kind.REGULAR else "gold"),
            "expected": (gold_value or {}).get("score", math.nan),
        }
    return items


def _answers(project: Project):
    """(answer value, its item's fields, the row fields every frame shares), per answer."""
    items = _items(project)
    for pk, rater, item_id, value, created, simulated, status in _annotations(project).iterator(
        chunk_size=5000
    ):
        item = items[item_id]
        yield (
            value,
            item,
            {
                "rater": rater,
                "item": item_id,
                "utterance": item["utterance"],
                "simulated": bool(simulated),
                "blocked": status == Participant.Status.BLOCKED,
                "annotation": pk,
                "external_id": item["external_id"],
                "created_at": created,
            },
        )


def votes_frame(project: Project) -> pd.DataFrame:
    """One row per vote (ACR, CCR: the sign-corrected score; MUSHRA: one row per condition)."""
    rows = []
    for value, item, common in _answers(project):
        common = {**common, "role": item["role"], "expected": item["expected"]}
        if isinstance(value.get("scores"), dict):
            for system, score in value["scores"].items():
                rows.append({**common, "system": system, "vote": float(score)})
        elif value.get("score") is not None:
            rows.append({**common, "system": item["system"], "vote": float(value["score"])})
    return pd.DataFrame(rows, columns=VOTE_COLUMNS)


def ab_frame(project: Project) -> pd.DataFrame:
    """One row per A/B answer: the pair and the system preferred (``a``, ``b`` or ``none``)."""
    rows = [
        {
            **common,
            "system_a": item["system_a"],
            "system_b": item["system_b"],
            "preferred": value["preferred"],
        }
        for value, item, common in _answers(project)
        if value.get("preferred") is not None
    ]
    return pd.DataFrame(rows, columns=AB_COLUMNS)


def design_of(project: Project) -> str:
    return config_of(project).design


RULE_LABELS = {
    "trapping": "Trapping clips answered as asked",
    "gold": "Gold clips within tolerance",
    "variance": "Rating variance at least the minimum",
    "correlation": "Correlation with the other listeners",
    "mushra": "MUSHRA post-screening (BS.1534)",
}


@dataclass
class Study:
    """A project's votes with the screening applied: who is excluded, why, what is used."""

    project: Project
    config: Config
    votes: pd.DataFrame  # votes_frame plus ``used``
    screening: stats.Screening
    reasons: dict[int, list[str]]

    def used_test_votes(self) -> pd.DataFrame:
        return self.votes[self.votes["used"] & (self.votes["role"] == "test")]

    @property
    def excluded(self) -> set[int]:
        return set(self.reasons)

    def system_stats(self) -> list[stats.SystemStats]:
        statistics = self.config.statistics
        excluded = sorted(self.excluded)
        if self.config.design == "ccr":
            return stats.cmos_summary(
                self.votes,
                reference_system=self.config.reference_system,
                confidence=statistics.confidence,
                excluded_raters=excluded,
            )
        return stats.system_summary(
            self.votes,
            confidence=statistics.confidence,
            excluded_raters=excluded,
        )


def screened_votes(project: Project) -> Study:
    """The votes and the P.808 screening: a listener a rule fails, or whom the researcher
    blocked, is excluded from every statistic and marked in the exports (kept in the DB)."""
    config = config_of(project)
    votes = votes_frame(project)
    screening = stats.screen(votes, qc=config.qc, design=config.design)
    reasons = {rater: screening.reasons(rater) for rater in screening.excluded}
    for rater in votes.loc[votes["blocked"], "rater"].unique():
        reasons.setdefault(int(rater), []).append("blocked by the researcher")
    votes = votes.assign(used=~votes["rater"].isin(list(reasons)))
    return Study(project, config, votes, screening, reasons)
