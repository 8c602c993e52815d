"""The MOS exports: the P.808 toolkit's long layout, so its analysis scripts keep working, and
every vote with its screening flags.

The toolkit's ``result_parser.py`` writes ``*_votes_per_worker.csv`` (HITId, workerid, file,
vote, condition), ``*_votes_per_clip.csv`` and ``*_votes_per_cond.csv`` (n, MOS, std, 95%CI
with 1.96·s/√n). The same columns come first here, with the same meaning; Chorus's own columns
(the t and clustered intervals, the screening outcome) follow them. Participants appear by
their Chorus number, never by a Prolific or MTurk id.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from apps.core.models import Project
from apps.core.registry import RecordSet

from . import selectors

PER_WORKER = ["HITId", "workerid", "file", "vote", "condition", "role", "used", "excluded_because"]
PER_CLIP = ["file", "n", "MOS", "std", "95%CI", "condition", "utterance"]
PER_COND = ["condition", "n", "MOS", "std", "95%CI", "ci95_t", "ci95_cluster", "raters"]
VOTES = [
    "vote_id",
    "worker",
    "clip",
    "system",
    "utterance",
    "role",
    "vote",
    "expected",
    "simulated",
    "blocked",
    "excluded",
    "excluded_because",
    "timestamp",
]


def _round(value, digits: int = 4):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)


def _half(interval) -> float | None:
    """An interval as the toolkit writes it: the half-width (MOS ± this)."""
    return None if interval is None else _round(interval.half_width)


def _ci_normal(votes) -> float | None:
    """P.808 toolkit: 1.96 · s / √n, None when n ≤ 1 (``transform()`` in result_parser.py)."""
    n = len(votes)
    if n <= 1:
        return None
    return 1.96 * float(votes.std(ddof=1)) / math.sqrt(n)


def worker_votes(project: Project) -> Iterator[dict]:
    study = selectors.screened_votes(project)
    for row in study.votes.itertuples(index=False):
        reasons = study.reasons.get(row.rater, [])
        yield {
            "HITId": f"{project.slug}-{row.rater}",
            "workerid": f"p{row.rater}",
            "file": row.external_id,
            "vote": _round(row.vote),
            "condition": row.system,
            "role": row.role,
            "used": bool(row.used),
            "excluded_because": "; ".join(reasons),
        }


def clip_votes(project: Project) -> Iterator[dict]:
    used = selectors.screened_votes(project).used_test_votes()
    for (external_id, system, utterance), votes in used.groupby(
        ["external_id", "system", "utterance"], sort=True
    )["vote"]:
        yield {
            "file": external_id,
            "n": len(votes),
            "MOS": _round(votes.mean()),
            "std": _round(votes.std(ddof=1)) if len(votes) > 1 else None,
            "95%CI": _round(_ci_normal(votes)),
            "condition": system,
            "utterance": utterance,
        }


def clip_aggregates(project: Project) -> Iterator[dict]:
    """One row per rated test clip (item order): its MOS over the screened votes and the
    P.808 interval, for the Hugging Face export's ``aggregated`` config."""
    used = selectors.screened_votes(project).used_test_votes()
    for (_, external_id, system), votes in used.groupby(
        ["item", "external_id", "system"], sort=True
    )["vote"]:
        yield {
            "item_id": external_id,  # as in the items config
            "method": "mean of screened votes (P.808 screening)",
            "system": system,
            "n_votes": len(votes),
            "mos": _round(votes.mean()),
            "std": _round(votes.std(ddof=1)) if len(votes) > 1 else None,
            "ci95_normal": _round(_ci_normal(votes)),
        }


def condition_votes(project: Project) -> Iterator[dict]:
    study = selectors.screened_votes(project)
    for row in study.system_stats():
        yield {
            "condition": row.system,
            "n": row.n_votes,
            "MOS": _round(row.mos),
            "std": _round(row.sd),
            "95%CI": _half(row.ci_normal),
            "ci95_t": _half(row.ci_t),
            "ci95_cluster": _half(row.ci_cluster),
            "raters": row.n_raters,
        }


def vote_records(project: Project) -> Iterator[dict]:
    study = selectors.screened_votes(project)
    for row in study.votes.itertuples(index=False):
        reasons = study.reasons.get(row.rater, [])
        yield {
            "vote_id": int(row.annotation),
            "worker": f"p{row.rater}",
            "clip": row.external_id,
            "system": row.system,
            "utterance": row.utterance,
            "role": row.role,
            "vote": _round(row.vote),
            "expected": _round(row.expected),
            "simulated": bool(row.simulated),
            "blocked": bool(row.blocked),
            "excluded": bool(reasons) or bool(row.blocked),
            "excluded_because": reasons,
            "timestamp": row.created_at.isoformat(),
        }


RECORD_SETS = [
    RecordSet(
        key="votes",
        title="Votes with screening flags",
        description="Every vote with its clip, system, role (test, trap, gold), whether the "
        "listener was simulated, blocked or excluded by a screening rule, and why.",
        columns=VOTES,
        records=vote_records,
    ),
    RecordSet(
        key="votes_per_worker",
        title="P.808 votes per worker",
        description="The P.808 toolkit's long layout (HITId, workerid, file, vote, condition), "
        "one row per vote, with whether it was used.",
        columns=PER_WORKER,
        records=worker_votes,
    ),
    RecordSet(
        key="votes_per_clip",
        title="P.808 votes per clip",
        description="Per clip, over the votes used: n, MOS, standard deviation and the "
        "toolkit's 95% interval (1.96·s/√n).",
        columns=PER_CLIP,
        records=clip_votes,
    ),
    RecordSet(
        key="votes_per_cond",
        title="P.808 votes per condition",
        description="Per system, over the votes used: the toolkit's columns, then the t "
        "interval and the interval clustered by listener and utterance.",
        columns=PER_COND,
        records=condition_votes,
    ),
]
