"""Reads across a SituatedQA project: each question with its answers in every stage, the
decisions they make, and the final (context, answer) rows they produce.

Only regular items and answers of participants who are not blocked count (as everywhere on
the platform). The rules that turn answers into decisions:

- **stage 1** (once the item has its wanted answers): *malformed* when more than half the
  answers say Malformed; *dependent* when at least half say Yes — a tie goes on to
  collection, where the answer can still be reported missing and a wrong one is rejected by
  validation, so a tie costs a few answers while the other way would lose the question;
  otherwise *not dependent*. Maybe counts against Yes.
- **stage 3** (once a validation item has its wanted answers): a collected response is
  *accepted* when more validators say correct than not; otherwise the first correction a
  validator gave replaces it (*corrected*); otherwise it is *rejected*.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from apps.core.models import Annotation, Item, Participant, Project

from . import contexts
from .models import FinishedContext
from .schemas import Config

DEPENDENT, NOT_DEPENDENT, MALFORMED = "dependent", "not_dependent", "malformed"
DECISION_LABELS = {
    DEPENDENT: "dependent",
    NOT_DEPENDENT: "not dependent",
    MALFORMED: "malformed",
    None: "undecided",
}


def decision_of(labels: Sequence[str], wanted: int) -> str | None:
    """Stage 1's decision from its answers' ``dependent`` labels; None until complete."""
    n = len(labels)
    if n == 0 or n < wanted:
        return None
    if 2 * labels.count("malformed") > n:
        return MALFORMED
    if 2 * labels.count("yes") >= n:
        return DEPENDENT
    return NOT_DEPENDENT


def outcome_of(validations: Sequence[dict], *, complete: bool) -> tuple[str, dict | None]:
    """Stage 3's outcome of one collected response: (outcome, correction or None)."""
    if not complete:
        return "pending", None
    yes = sum(v.get("correct") == "yes" for v in validations)
    if yes > len(validations) - yes:
        return "accepted", None
    correction = next(
        (v["correction"] for v in validations if v.get("correct") == "no" and v.get("correction")),
        None,
    )
    return ("corrected", correction) if correction else ("rejected", None)


def official_label(payload: dict) -> bool | None:
    """The official release's label of a question (its payload's ``official`` rows), if any."""
    official = payload.get("official") or {}
    raw = official.get("raw")
    if isinstance(raw, dict):
        if isinstance(raw.get("is_dependent"), bool):
            return raw["is_dependent"]
        if payload.get("variant") == "geo":
            return True  # geo raw_data lists only questions found dependent
    row = official.get("id_row")
    if isinstance(row, dict) and row.get("is_dependent") in ("yes", "no"):
        return row["is_dependent"] == "yes"
    return None


@dataclass(frozen=True)
class Answer:
    pk: int
    participant: int
    value: dict


@dataclass
class Collected:
    """One stage-2 response and what stage 3 made of it."""

    answer: Answer
    validate_item: int | None = None
    validations: list[Answer] = field(default_factory=list)
    complete: bool = False

    @property
    def outcome(self) -> str:
        return outcome_of([v.value for v in self.validations], complete=self.complete)[0]

    @property
    def final(self) -> dict | None:
        """The response that counts: the collected one, its correction, or None."""
        outcome, correction = outcome_of(
            [v.value for v in self.validations], complete=self.complete
        )
        if outcome == "accepted":
            return self.answer.value
        return correction if outcome == "corrected" else None


@dataclass
class Question:
    """A stage-1 item with everything that hangs off it."""

    item_id: int
    external_id: str
    payload: dict
    wanted: int
    votes: list[Answer] = field(default_factory=list)
    collect_item: int | None = None
    collect_wanted: int = 0
    collected: list[Collected] = field(default_factory=list)

    @property
    def variant(self) -> str:
        return self.payload["variant"]

    @property
    def qid(self) -> Any:
        return self.payload["id"]

    @property
    def text(self) -> str:
        return self.payload["question"]

    @property
    def labels(self) -> list[str]:
        return [v.value["dependent"] for v in self.votes]

    @property
    def decision(self) -> str | None:
        return decision_of(self.labels, self.wanted)

    @property
    def official_dependent(self) -> bool | None:
        return official_label(self.payload)

    @property
    def finals(self) -> list[dict]:
        return [f for c in self.collected if (f := c.final) is not None]

    @property
    def timelines(self) -> list[contexts.Timeline]:
        return [t for f in self.finals if (t := contexts.timeline_of(f)) is not None]

    @property
    def given(self) -> dict | None:
        given = self.payload.get("given")
        return given if isinstance(given, dict) and given.get("location") else None

    @property
    def given_valid(self) -> bool | None:
        """Whether the collectors found the given pair right (a tie keeps it); None when no
        accepted response said."""
        said = [f.get("orig_is_correct") for f in self.finals if f.get("orig_is_correct")]
        if not said:
            return None
        return 2 * said.count("yes") >= len(said)

    def pairs(self, config: Config) -> list[dict]:
        """The final context_answer_pairs (raw_data layout) the crowd's answers produce."""
        decision = self.decision
        rng = contexts.question_rng(seed=config.seed, variant=self.variant, question_id=self.qid)
        if self.variant == "temp":
            if decision == NOT_DEPENDENT:
                return contexts.static_pairs(
                    question=self.text,
                    nq_answers=self.payload.get("nq_answers") or [],
                    present_year=config.present_year,
                    rng=rng,
                )
            if decision != DEPENDENT:
                return []
            return contexts.temporal_pairs(
                question=self.text,
                timelines=self.timelines,
                present_year=config.present_year,
                per_answer=config.sampled_per_answer,
                rng=rng,
            )
        if decision != DEPENDENT:
            return []
        new = [(p["location"], p["answer"]) for f in self.finals for p in f.get("pairs") or []]
        return contexts.geo_pairs(
            question=self.text,
            given=self.given,
            given_valid=bool(self.given_valid),
            new_pairs=new,
        )


def _blocked(project: Project) -> set[int]:
    return set(
        Participant.objects.filter(project=project, status=Participant.Status.BLOCKED).values_list(
            "pk", flat=True
        )
    )


def questions(project: Project, *, variant: str | None = None) -> list[Question]:
    """Every stage-1 question of ``project`` (item order) with its stage 2 and 3 answers."""
    items = list(
        Item.objects.filter(project=project, kind=Item.Kind.REGULAR)
        .order_by("pk")
        .values("pk", "external_id", "stage", "parent_id", "payload", "wanted_answers")
    )
    blocked = _blocked(project)
    answers: dict[int, list[Answer]] = defaultdict(list)
    for pk, item_id, participant, value in (
        Annotation.objects.filter(project=project, item__kind=Item.Kind.REGULAR)
        .order_by("pk")
        .values_list("pk", "item_id", "participant_id", "value")
        .iterator(chunk_size=5000)
    ):
        if participant not in blocked:
            answers[item_id].append(Answer(pk, participant, value))

    def wanted(row) -> int:
        return row["wanted_answers"] or project.overlap

    roots: dict[int, Question] = {}
    collect_of: dict[int, Question] = {}
    collected_by_answer: dict[int, Collected] = {}
    for row in items:
        stage = row["stage"] or "identify"
        if stage == "identify" and row["parent_id"] is None:
            if variant is not None and (row["payload"] or {}).get("variant") != variant:
                continue
            roots[row["pk"]] = Question(
                item_id=row["pk"],
                external_id=row["external_id"],
                payload=row["payload"],
                wanted=wanted(row),
                votes=answers[row["pk"]],
            )
        elif stage == "collect" and row["parent_id"] in roots:
            question = roots[row["parent_id"]]
            question.collect_item, question.collect_wanted = row["pk"], wanted(row)
            collect_of[row["pk"]] = question
            complete = len(answers[row["pk"]]) >= wanted(row)
            for answer in answers[row["pk"]] if complete else []:
                entry = Collected(answer=answer)
                question.collected.append(entry)
                collected_by_answer[answer.pk] = entry
        elif stage == "validate" and row["parent_id"] in collect_of:
            checked = collected_by_answer.get((row["payload"] or {}).get("collect_answer", 0))
            if checked is not None:
                checked.validate_item = row["pk"]
                checked.validations = answers[row["pk"]]
                checked.complete = len(checked.validations) >= wanted(row)
    return list(roots.values())


def finished_rows(project: Project, variant: str) -> Iterator[dict]:
    """The imported official qa_data rows of ``variant``, in import order, as found."""
    yield from (
        FinishedContext.objects.filter(project=project, variant=variant)
        .order_by("pk")
        .values_list("row", flat=True)
        .iterator(chunk_size=2000)
    )


def context_key(row: dict, variant: str) -> tuple:
    """What makes two qa rows the same context of the same question."""
    return (row["id"], row["edited_question"])


@dataclass(frozen=True)
class StageCount:
    stage: str
    variant: str
    items: int
    complete: int
    answers: int
    wanted: int | None  # the answers each item wants, when all of them want the same


def stage_counts(project: Project) -> list[StageCount]:
    """Items, complete items and counted answers per (stage, variant)."""
    blocked = _blocked(project)
    counts: dict[int, int] = defaultdict(int)
    for item_id, participant in Annotation.objects.filter(
        project=project, item__kind=Item.Kind.REGULAR
    ).values_list("item_id", "participant_id"):
        if participant not in blocked:
            counts[item_id] += 1
    table: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    wants: dict[tuple[str, str], set[int]] = defaultdict(set)
    for pk, stage, payload, wanted in Item.objects.filter(
        project=project, kind=Item.Kind.REGULAR
    ).values_list("pk", "stage", "payload", "wanted_answers"):
        key = (stage or "identify", (payload or {}).get("variant", ""))
        need = wanted or project.overlap
        row = table[key]
        row[0] += 1
        row[1] += counts[pk] >= need
        row[2] += counts[pk]
        wants[key].add(need)
    order = {"identify": 0, "collect": 1, "validate": 2}
    return [
        StageCount(
            stage=stage,
            variant=variant,
            items=values[0],
            complete=values[1],
            answers=values[2],
            wanted=next(iter(wants[(stage, variant)]))
            if len(wants[(stage, variant)]) == 1
            else None,
        )
        for (stage, variant), values in sorted(
            table.items(),
            key=lambda kv: (order.get(kv[0][0], 9), {"temp": 0, "geo": 1}.get(kv[0][1], 2)),
        )
    ]
