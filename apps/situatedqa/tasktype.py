"""The SituatedQA TaskType: three stages per question (identify → collect → validate), for
the temporal and the geographic variant; the adapter the platform calls. Schemas and the
payload layout are in ``schemas.py``; the stages' fields and checks in ``answers.py``; reads
in ``selectors.py``; imports in ``importing.py``; the demo in ``services.py``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import Any

from apps.core.models import Item, Participant, Project
from apps.core.registry import (
    ChildSpec,
    ImportField,
    ImportFormat,
    ImportReport,
    PydanticTaskType,
    RecordSet,
    Results,
)

from . import answers, exports, importing, selectors, services
from . import results as results_page
from .schemas import (
    DEPENDENT_LABELS,
    STAGES,
    VARIANT_LABELS,
    Config,
    IdentifyAnswer,
    config_of,
)

PROMPTS = {
    "temp": "Has the answer to this question changed over time?",
    "geo": "Does the answer to this question depend on where it is asked?",
}
HINTS = {
    "temp": {
        "yes": "The answer is different now from what it was at some time in the past.",
        "no": "The answer has always been the same.",
        "maybe": "You understand the question but cannot tell, or it is a matter of opinion.",
        "malformed": "The question makes no sense or cannot be answered as written.",
    },
    "geo": {
        "yes": "People in different places would get different right answers.",
        "no": "The same answer everywhere, or the question names its place.",
        "maybe": "You understand the question but cannot tell, or it is a matter of opinion.",
        "malformed": "The question makes no sense or cannot be answered as written.",
    },
}
# Where the stage's children land: a question ready for its next stage is served before new
# stage-1 work, so questions get through the pipeline rather than all waiting in stage 1.
STAGE_PRIORITY_STEP = 1.0


class SituatedQATaskType(PydanticTaskType):
    key = "situatedqa"
    title = "SituatedQA: context-dependent questions"
    description = (
        "Find questions whose answer depends on when or where they are asked, collect the "
        "answer per context (a timeline of answers, or answers per location) and have "
        "another person validate it; exports the official id_data, qa_data and raw_data "
        "layouts byte for byte and scores the crowd's answers with the paper's exact match."
    )
    Config = Config
    Answer = IdentifyAnswer  # stage 1's; each stage has its own (answers.py)
    label_field = "dependent"
    level_of_measurement = "nominal"
    citation = """@inproceedings{zhang2021situatedqa,
  title = {{SituatedQA}: Incorporating Extra-Linguistic Contexts into {QA}},
  author = {Zhang, Michael J.Q. and Choi, Eunsol},
  booktitle = {Proceedings of the 2021 Conference on Empirical Methods in Natural Language
               Processing (EMNLP)},
  pages = {7371--7387},
  year = {2021}
}"""

    # settings
    def config_saved(self, project: Project, before: dict) -> str | None:
        """New answers-per-stage settings apply to the items nobody has answered yet."""
        config = config_of(project)
        changed = 0
        for stage in STAGES:
            changed += (
                Item.objects.filter(
                    project=project, stage=stage, answer_count=0, kind=Item.Kind.REGULAR
                )
                .exclude(wanted_answers=config.wanted(stage))
                .update(wanted_answers=config.wanted(stage))
            )
        if not changed:
            return None
        return f"{changed} item(s) nobody has answered yet now want the new number of answers."

    # data in
    def import_formats(self) -> list[ImportFormat]:
        return import_formats()

    def import_items(self, project, upload) -> ImportReport:
        return importing.situatedqa_import(project=project, upload=upload)

    def seed_demo(self, project) -> None:
        services.demo_seed(project=project)

    def simulate_answer(self, item: Item, rng: random.Random) -> dict[str, Any]:
        return services.answer_simulate(item=item, rng=rng)

    # the participant
    def form_template_for(self, item: Item) -> str:
        stage = answers.stage_of(item)
        if stage == "identify":
            return "situatedqa/identify.html"
        return f"situatedqa/{stage}_{answers.variant_of(item)}.html"

    def item_context(self, item: Item, participant: Participant) -> dict:
        payload = item.payload or {}
        variant = answers.variant_of(item)
        context: dict[str, Any] = {
            "stage": answers.stage_of(item),
            "variant": variant,
            "variant_label": VARIANT_LABELS[variant],
            "question": payload.get("question", ""),
            "given": answers.given_of(item),
            "nq_question": payload.get("nq_question", ""),
            "msg": answers.MESSAGES,
        }
        if context["stage"] == "identify":
            context["prompt"] = PROMPTS[variant]
            context["choices"] = [
                (value, label, HINTS[variant][value]) for value, label in DEPENDENT_LABELS.items()
            ]
        elif context["stage"] == "validate":
            context["collected"] = payload.get("collected") or {}
        if context["given"]:
            context["given_answers_json"] = json.dumps(context["given"].get("answers") or [])
        return context

    def value_from_form(self, item: Item, data: Mapping[str, Any]) -> Any:
        return answers.value_from_form(item, data)

    def form_data_for(self, item: Item, value: Mapping[str, Any]) -> dict[str, str]:
        return answers.form_data_for(item, value)

    def validate(self, item: Item, value: Any) -> dict:
        return answers.clean(item, value)

    def label_of(self, value: Any) -> Any:
        return answers.label_of(value)

    # stages
    def advance(self, item: Item) -> list[ChildSpec]:
        """identify → one collect item when the question is dependent; collect → one
        validate item per response, never offered to its author; validate → nothing (its
        outcome makes the final rows, ``selectors.Question.pairs``)."""
        stage = answers.stage_of(item)
        config = config_of(item.project)
        given = item.annotations.exclude(participant__status=Participant.Status.BLOCKED)
        responses = list(given.order_by("pk"))
        payload = {
            k: v
            for k, v in (item.payload or {}).items()
            if k in ("variant", "question", "id", "nq_question", "given")
        }
        if stage == "identify":
            labels = [a.value.get("dependent") for a in responses]
            if selectors.decision_of(labels, item.wanted) != selectors.DEPENDENT:
                return []
            return [
                ChildSpec(
                    key="collect",
                    stage="collect",
                    payload=payload,
                    wanted_answers=config.collect_answers,
                    priority=item.priority + STAGE_PRIORITY_STEP,
                )
            ]
        if stage == "collect":
            return [
                ChildSpec(
                    key=f"validate-{response.pk}",
                    stage="validate",
                    payload={**payload, "collected": response.value, "collect_answer": response.pk},
                    wanted_answers=config.validate_answers,
                    exclude=(response.participant_id,),
                    priority=item.priority + STAGE_PRIORITY_STEP,
                )
                for response in responses
            ]
        return []

    # results and data out
    def results(self, project) -> Results:
        return results_page.situatedqa_results(project=project)

    def urlpatterns(self) -> list:
        from .urls import urlpatterns

        return urlpatterns

    def exports(self) -> list[RecordSet]:
        return exports.RECORD_SETS


def _sample(lines) -> str:
    return "".join(lines)


def import_formats() -> list[ImportFormat]:
    id_lines = importing.demo_lines("id", "temp")[:2]
    qa_lines = importing.demo_lines("qa", "temp")[:2]
    raw_lines = sorted(importing.demo_lines("raw", "geo"), key=len)[:2]
    nq_lines = importing.nq_open_lines()[:2]
    questions = [
        {"question": "who is the prime minister", "variant": "geo", "id": "pm-1"},
        {"question": "how many championships does the chicago bulls have", "answer": ["6"]},
        {
            "question": "what is the legal drinking age",
            "variant": "geo",
            "location": "Germany",
            "answer": ["16"],
        },
    ]
    question_lines = [json.dumps(q) + "\n" for q in questions]
    runs_both = len(Config().variant_list)
    return [
        ImportFormat(
            key="id_data",
            title="Official id_data (JSON lines): is the question context-dependent?",
            extension="jsonl",
            description=(
                "The release's data/id_data/{temp,geo}.{train,dev,test}.jsonl, as it is. Each "
                "question waits in stage 1; its official label is kept to compare the crowd "
                "with, and the id_data export writes the row back byte for byte until the "
                "crowd has decided. Temporal rows have source_dataset, geographic rows not. "
                "A question already imported from raw_data gets the row added."
            ),
            fields=(
                ImportField("question", "The question as asked.", True),
                ImportField("id", "The official id (an integer), or your own.", True),
                ImportField("is_dependent", '"yes" or "no": the official label.', True),
                ImportField("source_dataset", 'Temporal only, e.g. "nq_table.open".', True),
            ),
            example=id_lines[0].strip(),
            sample=_sample(id_lines),
        ),
        ImportFormat(
            key="qa_data",
            title="Official qa_data (JSON lines): finished (context, answer) rows",
            extension="jsonl",
            description=(
                "The release's data/qa_data/{temp,geo}.*.jsonl. The rows are stored as "
                "finished contexts, not as work: the qa_data export writes them back as they "
                "are (extended by the crowd's new contexts), and the results score the "
                "crowd's final answers against them (exact match, same question id and "
                "context). They make no items."
            ),
            fields=(
                ImportField("question", "The question.", True),
                ImportField("id", "The question's id.", True),
                ImportField("edited_question", "The question with its context.", True),
                ImportField("date", "Temporal: the date of the context.", True),
                ImportField(
                    "date_type", "Temporal: orig, sampled_year, sampled_date, start.", True
                ),
                ImportField("location", "Geographic: the location of the context.", True),
                ImportField("answer", "The answers in this context (a list).", True),
                ImportField("any_answer", "Every answer of the question (a list).", True),
            ),
            example=qa_lines[0].strip(),
            sample=_sample(qa_lines),
            sample_items=0,
        ),
        ImportFormat(
            key="raw_data",
            title="Official raw_data (JSON lines): questions with their annotation",
            extension="jsonl",
            description=(
                "The release's data/raw_data/{temp,geo}.*.jsonl. Each question waits in stage "
                "1 (with its NQ answers; a geographic one with the (location, answer) pair "
                "its NQ question gave, which stage 2 verifies); the official timelines and "
                "contexts are kept to compare the crowd with."
            ),
            fields=(
                ImportField("question", "The question.", True),
                ImportField("id", "The question's id.", True),
                ImportField("context_answer_pairs", "The official contexts.", True),
                ImportField("nq_answers", "Temporal: the NQ answers.", True),
                ImportField("timelines", "Temporal: the collected timelines, or null.", True),
                ImportField("nq_question", "Geographic: the NQ question with its place.", True),
                ImportField("nq_context_answer_pair", "Geographic: {location, answers}.", True),
            ),
            example=raw_lines[0].strip(),
            sample=_sample(raw_lines),
        ),
        ImportFormat(
            key="questions",
            title="A list of questions (JSON lines or CSV)",
            extension="jsonl",
            description=(
                "Your own questions for stage 1, one a line, or a CSV with a header row and "
                "the same columns (an answer list as JSON in its cell). A row without a "
                "variant goes to every variant the project runs. Without an id, one is made "
                "from the question's text."
            ),
            fields=(
                ImportField("question", "The question as asked.", True),
                ImportField("id", "Your id for it (an integer or a text)."),
                ImportField("variant", '"temp" or "geo"; empty: every variant the project runs.'),
                ImportField("answer", "Its answer(s) as known today (a text or a list)."),
                ImportField("location", "Geographic: where that answer holds (stage 2 checks it)."),
            ),
            example=question_lines[0].strip(),
            sample=_sample(question_lines),
            sample_items=2 + runs_both,
        ),
        ImportFormat(
            key="nq_open",
            title="NQ-open questions (JSON lines, or DPR's tab-separated .csv)",
            extension="jsonl",
            description=(
                "Google's NQ-open {question, answer: [...]} lines (an id is kept, as in "
                "SituatedQA's temp_splits files), or DPR's qas/nq-*.csv (question, a tab, a "
                "Python list of answers; no header). Every question goes to every variant "
                "the project runs, with its answers as the NQ answers."
            ),
            fields=(
                ImportField("question", "The question.", True),
                ImportField("answer", "Its NQ answers (a list).", True),
                ImportField("id", "An id (kept when present)."),
            ),
            example=nq_lines[0].strip(),
            sample=_sample(nq_lines),
            sample_items=len(nq_lines) * runs_both,
        ),
    ]


SITUATEDQA = SituatedQATaskType()
