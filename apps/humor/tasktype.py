"""The humor TaskType (CHoRaL): the adapter the platform calls; the work is in the services.

Facebook posts labelled by their reactions (HS, NS, reaction labels) and by people
("Is this post meant to be funny?"). Schemas and constants are in ``schemas.py``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from apps.core.jobs import job_create, job_enqueue
from apps.core.registry import ImportFormat, ImportReport, PydanticTaskType, RecordSet, Results
from apps.core.selectors import job_number

from . import exports, selectors, services
from .importing import display_parts, import_formats
from .schemas import EXPORT_COLUMNS, SCORING_KEYS, Answer, Config

DEMO_DIR = Path(__file__).resolve().parent / "demo"


class HumorTaskType(PydanticTaskType):
    key = "humor"
    title = "Humor reaction labeling"
    description = (
        "Read a social-media post and say whether it is meant to be funny. Posts also carry "
        "reaction-derived humor scores (CHoRaL)."
    )
    Config = Config
    Answer = Answer
    label_field = "funny"
    answer_messages = {"funny": "Choose Yes or No (or skip the post)."}
    form_template = "humor/annotate.html"
    level_of_measurement = "nominal"
    allow_skip = True
    skip_label = "Not English / can't tell"
    citation = """@inproceedings{yang-etal-2021-choral,
  title = "{CH}o{R}a{L}: Collecting Humor Reaction Labels from Millions of Social Media Users",
  author = "Yang, Zixiaofan and Hooshmand, Shayan and Hirschberg, Julia",
  booktitle = "Proceedings of the 2021 Conference on Empirical Methods in Natural Language
    Processing",
  pages = "4429--4435",
  year = "2021",
  publisher = "Association for Computational Linguistics"
}"""

    def config_saved(self, project, before: dict) -> str | None:
        """Settings behind the scores changed: recompute them on the worker.

        The study sample is drawn again only while nobody has answered yet; after that the
        items' priorities (and any set by active learning) are kept.
        """
        old = {k: v for k, v in before.items() if k in SCORING_KEYS}
        new = {k: v for k, v in (project.config or {}).items() if k in SCORING_KEYS}
        if old == new or not project.items.exists():
            return None
        from .tasks import scores_recompute

        resample = not project.annotations.exists()
        job = job_create(kind="humor_rescore", project=project, params={"resample": resample})
        job_enqueue(job, scores_recompute)
        return (
            "Scores, reaction labels and the split are being recomputed on the worker "
            f"(rescoring #{job_number(job)}); the Results tab shows them when it is done."
        )

    def item_context(self, item, participant) -> dict:
        payload = item.payload or {}
        return {
            "post_parts": display_parts(payload.get("message") or payload.get("text") or ""),
            "question": "Is this post meant to be funny?",
            "choices": [("yes", "Yes"), ("no", "No")],
        }

    def import_formats(self) -> list[ImportFormat]:
        return import_formats()

    def import_items(self, project, upload) -> ImportReport:
        return services.posts_import(project=project, upload=upload)

    def seed_demo(self, project) -> None:
        services.demo_seed(project=project)

    def simulate_answer(self, item, rng: random.Random) -> dict[str, Any]:
        return services.answer_simulate(item=item, rng=rng)

    def results(self, project) -> Results:
        return selectors.humor_results(project=project)

    def exports(self) -> list[RecordSet]:
        return [
            RecordSet(
                key="records",
                title="CHoRaL posts",
                description="One CHoRaL-style record per post: reactions, HS, NS, reaction "
                "label, split, the human answers and their aggregates.",
                columns=EXPORT_COLUMNS,
                records=lambda project: exports.post_records(project=project),
            )
        ]


HUMOR = HumorTaskType()
