"""The MOS TaskType: listening tests for TTS (ACR, CMOS, A/B, MUSHRA); the adapter the
platform calls. Schemas and the data layout are in ``schemas.py``; writes in ``services.py``.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import pydantic
from django.urls import reverse

from apps.core.media import media_urls
from apps.core.models import Item
from apps.core.plays import plays_missing
from apps.core.qualification import Qualification
from apps.core.registry import (
    AggregationMethod,
    ImportField,
    ImportFormat,
    ImportReport,
    InvalidValue,
    PydanticTaskType,
    RecordSet,
    Results,
)

from . import exports, services
from . import results as results_page
from .qualification import HEADPHONE_CHECK
from .schemas import (
    ACR_SCALE,
    ANSWERS,
    CCR_SCALE,
    MUSHRA_BANDS,
    AcrAnswer,
    Config,
    config_of,
)

ANSWER_MESSAGES = {
    "score": "Choose a rating.",
    "shown": "Choose how the second sample compares with the first.",
    "choice": "Choose which sample you prefer.",
    "scores": "Rate every sample on its slider.",
}


def _flipped(item: Item, participant) -> bool:
    """Whether this participant hears the item's pair the other way round: a stable coin per
    (item, participant), so a reload shows the same order and the listeners are balanced."""
    digest = hashlib.md5(f"{item.pk}:{participant.pk}".encode()).digest()
    return bool(digest[0] & 1)


def _design(item: Item) -> str:
    return config_of(item.project).design


class MosTaskType(PydanticTaskType):
    key = "mos"
    title = "MOS listening test"
    description = (
        "Listen to synthetic speech and rate it: ACR naturalness (MOS), CMOS against a "
        "reference, A/B preference or MUSHRA, with P.808 quality control."
    )
    Config = Config
    Answer = AcrAnswer  # the ACR design's; each project's design picks its own (``ANSWERS``)
    label_field = "score"
    level_of_measurement = "ordinal"
    citation = """@inproceedings{kim2021vits,
  title = {Conditional Variational Autoencoder with Adversarial Learning for End-to-End
           Text-to-Speech},
  author = {Kim, Jaehyeon and Kong, Jungil and Son, Juhee},
  booktitle = {Proceedings of the 38th International Conference on Machine Learning (ICML)},
  year = {2021}
}
@inproceedings{naderi2020p808,
  title = {An Open Source Implementation of {ITU-T} Recommendation {P.808} with Validation},
  author = {Naderi, Babak and Cutler, Ross},
  booktitle = {Proc. Interspeech},
  year = {2020}
}"""
    aggregation_methods = [AggregationMethod("majority", "Most frequent rating")]
    imports_zip = True
    shuffle_items = True  # each listener in their own order (VITS: randomly selected)
    qualification: ClassVar[Qualification | None] = HEADPHONE_CHECK

    # data in
    def import_formats(self) -> list[ImportFormat]:
        manifest = services.manifest_text(services.SAMPLE_ROWS)
        return [
            ImportFormat(
                key="stimuli",
                title="Stimuli zip: manifest.csv and the audio it names",
                extension="zip",
                description=(
                    "A zip holding manifest.csv beside the audio files (WAV, FLAC, OGG/Opus or "
                    "MP3). Every file is decoded and checked (silent, clipped, too short or "
                    "long, sample rate) before anything is stored; listeners hear "
                    "loudness-normalised copies under names that do not reveal the system. "
                    "Trapping clips are made from your clips; a row with gold_score is a gold "
                    "clip. The sample holds 4 real clips: 2 systems × 2 sentences."
                ),
                fields=(
                    ImportField("system", "The system (condition) that made the clip.", True),
                    ImportField(
                        "utterance_id",
                        "The sentence; a listener hears each sentence once across systems.",
                        True,
                    ),
                    ImportField("file", "The audio file's path inside the zip.", True),
                    ImportField("text", "The sentence's text (kept for the exports)."),
                    ImportField(
                        "gold_score", "Makes the row a gold clip whose answer is this (1–5)."
                    ),
                ),
                example=manifest.splitlines()[1],
                sample=manifest,
                sample_zip=lambda: services.stimuli_zip_bytes(services.SAMPLE_ROWS),
                sample_items=len(services.SAMPLE_ROWS) * 2,  # each clip, and as many traps
            )
        ]

    def import_items(self, project, upload) -> ImportReport:
        return services.stimuli_import(project=project, upload=upload)

    def seed_demo(self, project) -> None:
        services.demo_seed(project=project)

    def simulate_answer(self, item: Item, rng: random.Random) -> dict[str, Any]:
        return services.answer_simulate(item=item, rng=rng)

    # the listener
    def form_template_for(self, item: Item) -> str:
        return f"mos/{_design(item)}.html"

    def must_play(self, item: Item) -> list[str]:
        design = _design(item)
        if design == "acr":
            return ["audio"]
        if design == "ccr":
            return ["reference", "audio"]
        if design == "ab":
            return ["a", "b"]
        return sorted((item.payload or {}).get("conditions", {}))

    def item_context(self, item: Item, participant) -> dict:
        config = config_of(item.project)
        urls = media_urls(item=item, participant=participant)
        slug = item.project.slug
        assignment = item.assignments.filter(participant=participant).first()
        assignment_id = assignment.pk if assignment else 0
        required = self.must_play(item)
        unheard = set(plays_missing(assignment=assignment, keys=required)) if assignment else set()

        def clip(key: str, label: str) -> dict:
            return {
                "key": key,
                "label": label,
                "url": urls[key],
                "played_url": reverse("crowd:media_played", args=[slug, assignment_id, key]),
                "duration_s": (item.payload.get("clips", {}).get(key) or {}).get("duration_s"),
                "heard": key in required and key not in unheard,
                "score": None,
            }

        context: dict[str, Any] = {
            "question": config.question_text(),
            "design": config.design,
            "all_heard": not unheard,
        }
        flipped = _flipped(item, participant)
        if config.design == "acr":
            context["clips"] = [clip("audio", "Sample")]
            context["scale"] = ACR_SCALE
        elif config.design == "ccr":
            keys = ["audio", "reference"] if flipped else ["reference", "audio"]
            context["clips"] = [clip(keys[0], "First sample"), clip(keys[1], "Second sample")]
            context["order"] = "pr" if flipped else "rp"
            context["scale"] = [
                (value, f"{value:+d}".replace("-", "\u2212") if value else "0", label)
                for value, label in CCR_SCALE
            ]
        elif config.design == "ab":
            keys = ["b", "a"] if flipped else ["a", "b"]
            context["clips"] = [clip(keys[0], "Sample A"), clip(keys[1], "Sample B")]
            context["order"] = "ba" if flipped else "ab"
            context["allow_none"] = config.allow_no_preference
        else:
            conditions = sorted(item.payload.get("conditions", {}))
            random.Random(f"{item.pk}:{participant.pk}").shuffle(conditions)
            context["reference"] = {**clip("reference", "Reference"), "optional": True}
            context["clips"] = [
                clip(key, f"Sample {n}") for n, key in enumerate(conditions, start=1)
            ]
            context["bands"] = sorted(MUSHRA_BANDS)  # left to right, as the sliders run
        return context

    def value_from_form(self, item: Item, data: Mapping[str, Any]) -> Any:
        design = _design(item)
        if design == "acr":
            return {"score": data.get("score")}
        if design == "ccr":
            return {"shown": data.get("shown"), "order": data.get("order")}
        if design == "ab":
            return {"choice": data.get("choice"), "order": data.get("order")}
        conditions = item.payload.get("conditions", {})
        return {
            "scores": {
                system: data.get(key)
                for key, system in conditions.items()
                if data.get(key) not in (None, "")
            }
        }

    def form_data_for(self, item: Item, value: Mapping[str, Any]) -> dict[str, str]:
        design = _design(item)
        if design == "mushra":
            keys = {system: key for key, system in item.payload.get("conditions", {}).items()}
            return {keys[system]: str(score) for system, score in value["scores"].items()}
        fields = {"acr": ("score",), "ccr": ("shown", "order"), "ab": ("choice", "order")}
        return {name: str(value[name]) for name in fields[design]}

    def validate(self, item: Item, value: Any) -> dict:
        design = _design(item)
        value = dict(value) if isinstance(value, Mapping) else {}
        if design == "ccr" and value.get("order") in ("rp", "pr"):
            # The listener rated the second sample against the first; "pr" played the system
            # first, so the sign flips to keep "system vs reference".
            try:
                shown = int(value.get("shown"))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                shown = None
            if shown is not None:
                value["score"] = shown if value["order"] == "rp" else -shown
        elif design == "ab" and value.get("order") in ("ab", "ba"):
            first, second = ("a", "b") if value["order"] == "ab" else ("b", "a")
            value["preferred"] = {"first": first, "second": second, "none": "none"}.get(
                str(value.get("choice")), ""
            )
            if value.get("choice") == "none" and not config_of(item.project).allow_no_preference:
                raise InvalidValue({"choice": ["Choose sample A or sample B."]})
        elif design == "mushra":
            self._mushra_complete(item, value)
        try:
            return ANSWERS[design].model_validate(value).model_dump(mode="json")
        except pydantic.ValidationError as exc:
            raise InvalidValue.from_pydantic(exc, ANSWER_MESSAGES) from None

    def _mushra_complete(self, item: Item, value: dict) -> None:
        conditions = set(item.payload.get("conditions", {}).values())
        given = value.get("scores")
        scores: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
        unknown = set(scores) - conditions
        if unknown or set(scores) != conditions:
            missing = len(conditions - set(scores))
            raise InvalidValue(
                {
                    "scores": [
                        f"Rate every sample on its slider ({missing} not rated yet)."
                        if missing
                        else "These ratings are for another screen."
                    ]
                }
            )

    def label_of(self, value: Any) -> Any:
        if not isinstance(value, dict):
            return None
        if "preferred" in value:
            return value["preferred"]
        return value.get("score")

    def gold_correct(self, item: Item, value: Any) -> bool:
        """Trapping clips need the exact answer asked for; gold clips within the tolerance."""
        expected = (item.gold_value or {}).get("score")
        given = self.label_of(value)
        if expected is None or not isinstance(given, int | float):
            return False
        if item.kind == Item.Kind.ATTENTION:
            return given == expected
        return abs(given - expected) <= config_of(item.project).qc.gold_tolerance

    # results and data out
    def results(self, project) -> Results:
        return results_page.mos_results(project=project)

    def exports(self) -> list[RecordSet]:
        return exports.RECORD_SETS

    def aggregated_records(self, project) -> Iterator[dict]:
        """Per clip: MOS of the screened votes with the P.808 and t intervals (the Hugging
        Face export's ``aggregated`` config)."""
        yield from exports.clip_aggregates(project)


MOS = MosTaskType()
