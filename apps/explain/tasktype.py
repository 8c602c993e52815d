"""The explain TaskType: people inspect saliency maps under four normalisations (pairwise,
plausibility 1–5, draw the box), word attributions (rationales) or counterfactual pairs
(choose or describe the change); the adapter the platform calls. Schemas and the data layout
are in ``schemas.py``; writes in ``services.py`` and ``importing.py``.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping
from typing import Any

import pydantic

from apps.core.media import media_urls
from apps.core.models import Item
from apps.core.registry import (
    AggregationMethod,
    DemoProject,
    ImportField,
    ImportFormat,
    ImportReport,
    InvalidValue,
    PydanticTaskType,
    RecordSet,
    Results,
)

from . import counterfactual, describe, exports, importing, services, text
from . import results as results_page
from .schemas import (
    ANSWERS,
    DESCRIBE_MAX_CHARS,
    DESCRIBE_MAX_WORDS,
    NORMALISATION_LABELS,
    PLAUSIBILITY_SCALE,
    Config,
    PlausibilityAnswer,
    config_of,
)

ANSWER_MESSAGES = {
    "choice": "Choose map A, map B or \u201cabout the same\u201d.",
    "score": "Choose a rating from 1 to 5.",
    "x0": "Draw a box on the image.",
    "y0": "Draw a box on the image.",
    "x1": "Draw a box on the image.",
    "y1": "Draw a box on the image.",
    "words": "Highlight at least one word.",
    "text": "Describe the change in a few words.",
}
BOX_FIELDS = ("x0", "y0", "x1", "y1")


def _flipped(item: Item, participant) -> bool:
    """Whether this participant sees the item's pair the other way round: a stable coin per
    (item, participant), so a reload shows the same order and the sides are balanced."""
    digest = hashlib.md5(f"{item.pk}:{participant.pk}".encode()).digest()
    return bool(digest[0] & 1)


def _design(item: Item) -> str:
    """The form an item gets: a post is always a rationale item; an image follows the
    project's design (plausibility if the design is the text one)."""
    if "text" in (item.payload or {}):
        return "rationale"
    if "pair_id" in (item.payload or {}):
        # A pair without a distractor can only be described.
        if counterfactual.describing(item.project) or not item.payload.get("distractor_attribute"):
            return "describe"
        return "counterfactual"
    design = config_of(item.project).design
    return "plausibility" if design == "rationale" else design


class ExplainTaskType(PydanticTaskType):
    key = "explain"
    title = "Explanation inspection"
    description = (
        "Inspect a classifier's CAM heatmaps under the MinMax, Max, PaS and IVR normalisations: "
        "pick the better of two maps, rate one 1–5, or draw the box it points at; the "
        "WSOL metrics (MaxBoxAcc, MaxBoxAccV2, PxAP) beside the human numbers. Or highlight "
        "the words that make a post funny against a humor classifier's word attributions "
        "(ERASER plausibility and faithfulness), or say what a counterfactual image changed."
    )
    Config = Config
    Answer = PlausibilityAnswer  # the plausibility design's; each design has its own (ANSWERS)
    label_field = "score"
    level_of_measurement = "ordinal"
    citation = """@inproceedings{kim2021normalization,
  title = {Normalization Matters in Weakly Supervised Object Localization},
  author = {Kim, Jeesoo and Choe, Junsuk and Yun, Sangdoo and Kwak, Nojun},
  booktitle = {Proceedings of the IEEE/CVF International Conference on Computer Vision (ICCV)},
  year = {2021}
}
@inproceedings{choe2020evaluating,
  title = {Evaluating Weakly Supervised Object Localization Methods Right},
  author = {Choe, Junsuk and Oh, Seong Joon and Lee, Seungho and Chun, Sanghyuk and
            Akata, Zeynep and Shim, Hyunjung},
  booktitle = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern
               Recognition (CVPR)},
  year = {2020}
}"""
    aggregation_methods = [AggregationMethod("majority", "Most frequent answer")]
    imports_zip = True
    shuffle_items = True  # each participant sees the images in an order of their own

    # data in
    def import_formats(self) -> list[ImportFormat]:
        ids = importing.sample_image_ids()
        return [
            ImportFormat(
                key="wsol",
                title="Images and heatmaps in the wsolevaluation layout (zip)",
                extension="zip",
                description=(
                    "One zip as clovaai/wsolevaluation lays a split out: the metadata folder "
                    "(image_ids.txt, class_labels.txt, image_sizes.txt, localization.txt with "
                    "boxes or OpenImages-style masks; class_names.txt optional), images/ and "
                    "heatmaps/<image id>.npy (one raw 2-D map per image, for the GT class). Each "
                    "map is normalised four ways and scored (MaxBoxAcc, MaxBoxAccV2, PxAP with "
                    "masks); a missing or unreadable heatmap is refused by its image id and "
                    "nothing is imported. The sample holds 3 generated images with boxes; the "
                    "pairwise design makes 6 items of each."
                ),
                fields=(
                    ImportField(
                        "image_ids.txt", "One image id (a path under images/) a line.", True
                    ),
                    ImportField("class_labels.txt", "image_id,label (an integer).", True),
                    ImportField("image_sizes.txt", "image_id,width,height.", True),
                    ImportField(
                        "localization.txt",
                        "image_id,x0,y0,x1,y1 per GT box, or image_id,mask_path,ignore_path.",
                        True,
                    ),
                    ImportField("heatmaps/", "<image id without extension>.npy per image.", True),
                    ImportField("class_names.txt", "label,name: the class word participants read."),
                    ImportField("masks/", "The mask PNGs a mask layout names."),
                ),
                example=ids[0],
                sample="image_ids.txt\n" + "".join(f"{i}\n" for i in ids),
                sample_zip=importing.sample_zip_bytes,
                sample_items=len(ids) * 6,  # pairwise by default: 6 pairs of 4 maps per image
            ),
            self._posts_format(),
            self._pairs_format(),
        ]

    def _pairs_format(self) -> ImportFormat:
        manifest = counterfactual.sample_manifest()
        return ImportFormat(
            key="counterfactual",
            title="Counterfactual image pairs with a CSV manifest (zip)",
            extension="zip",
            description=(
                "For the counterfactual design (StylEx-style): a zip with manifest.csv at its "
                "top and the images it names. Each row is one pair: the original, the image "
                "with one attribute changed, the classifier's probability on each, the "
                "attribute changed and a distractor description. Participants see the two "
                "flicker and pick which description the change belongs to; a row with a "
                "missing image or a probability outside [0, 1] is refused by its line and "
                "nothing is imported."
            ),
            fields=tuple(
                ImportField(name, help_text, True)
                for name, help_text in (
                    ("pair_id", "Unique name of the pair in this project."),
                    ("original", "Path of the original image in the zip (PNG or JPEG)."),
                    ("counterfactual", "Path of the changed image (the same size)."),
                    ("p_original", "The classifier's probability on the original, 0–1."),
                    ("p_counterfactual", "Its probability on the counterfactual, 0–1."),
                    ("attribute", "What the change alters, as participants read it."),
                    ("distractor_attribute", "A plausible description of something else."),
                )
            ),
            example=manifest.splitlines()[1],
            sample=manifest,
            sample_zip=counterfactual.sample_zip_bytes,
        )

    def _posts_format(self) -> ImportFormat:
        lines = [json.dumps(row) for row in text.SAMPLE_POSTS]
        return ImportFormat(
            key="posts",
            title="Posts with word attributions (JSON lines)",
            extension="jsonl",
            description=(
                "For the text design: one post a line with one attribution score per word "
                "(words as ml/explain_text/words.py cuts them: runs of letters and digits, "
                "punctuation apart). Participants highlight the words that make the post "
                "funny and rate the attribution shown; a row with the wrong number of scores "
                "is refused by its line and nothing is imported."
            ),
            fields=(
                ImportField("id", "Unique name of the post in this project.", True),
                ImportField("text", "The post as participants read it.", True),
                ImportField("scores", "One number per word, e.g. Integrated Gradients.", True),
                ImportField("method", "The attribution's name (integrated_gradients)."),
            ),
            example=lines[0],
            sample="\n".join(lines) + "\n",
        )

    def import_items(self, project, upload) -> ImportReport:
        if str(getattr(upload, "name", "")).lower().endswith(".zip"):
            if counterfactual.has_manifest(upload):
                return counterfactual.pairs_import(project=project, upload=upload)
            return importing.layout_import(project=project, upload=upload)
        return text.posts_import(project=project, upload=upload)

    def demo_projects(self) -> list[DemoProject]:
        """One demo per kind of explanation: image maps (pairwise), text (rationales), and
        counterfactual pairs answered both ways."""
        return [
            DemoProject(title="Demo: saliency maps under four normalisations (pairwise)"),
            DemoProject(
                suffix="text",
                title="Demo: word attributions and human rationales (ERASER)",
                config={"design": "rationale"},
            ),
            DemoProject(
                suffix="counterfactual",
                title="Demo: counterfactual pairs, pick the attribute",
                config={"design": "counterfactual"},
            ),
            DemoProject(
                suffix="describe",
                title="Demo: counterfactual pairs, describe the change",
                config={"design": "counterfactual", "counterfactual_answer": "describe"},
            ),
        ]

    def seed_demo(self, project) -> None:
        services.demo_seed(project=project)

    def simulate_answer(self, item: Item, rng: random.Random) -> dict[str, Any]:
        if _design(item) == "rationale":
            return text.answer_simulate(item=item, rng=rng)
        if _design(item) in ("counterfactual", "describe"):
            return counterfactual.answer_simulate(
                item=item, rng=rng, describing=_design(item) == "describe"
            )
        return services.answer_simulate(item=item, rng=rng)

    # the participant
    def form_template_for(self, item: Item) -> str:
        return f"explain/{_design(item)}.html"

    def item_context(self, item: Item, participant) -> dict:
        if _design(item) == "rationale":
            return self._rationale_context(item)
        if _design(item) in ("counterfactual", "describe"):
            return self._counterfactual_context(item, participant)
        config = config_of(item.project)
        payload = item.payload or {}
        urls = media_urls(item=item, participant=participant)
        thing = config.class_shown(payload.get("class_name", "object"))
        context: dict[str, Any] = {
            "design": _design(item),
            "thing": thing,
            "width": payload.get("width"),
            "height": payload.get("height"),
            "image_url": urls.get("image"),
        }
        if _design(item) == "pairwise":
            a, b = payload["normalisations"]
            flipped = _flipped(item, participant)
            first, second = (b, a) if flipped else (a, b)
            context["question"] = f"Which map better covers the {thing}?"
            context["order"] = "ba" if flipped else "ab"
            context["maps"] = [
                {"label": "Map A", "url": urls.get(first)},
                {"label": "Map B", "url": urls.get(second)},
            ]
        else:
            method = payload["normalisation"]
            context["overlay_url"] = urls.get(method)
            context["method_label"] = NORMALISATION_LABELS.get(method, method)
            if _design(item) == "plausibility":
                context["question"] = f"How well does the heatmap cover the {thing}?"
                context["scale"] = PLAUSIBILITY_SCALE
            else:
                context["question"] = (
                    f"Draw the box around what the heatmap points at (the {thing})."
                )
        return context

    def _counterfactual_context(self, item: Item, participant) -> dict:
        """The flicker of the pair, and the two descriptions in this participant's order."""
        payload = item.payload
        urls = media_urls(item=item, participant=participant)
        context = {
            "design": _design(item),
            "question": "The picture flickers between two versions. What changed?",
            "width": payload.get("width"),
            "height": payload.get("height"),
            "original_url": urls.get("original"),
            "counterfactual_url": urls.get("counterfactual"),
        }
        if context["design"] == "describe":
            context["max_chars"] = DESCRIBE_MAX_CHARS
            context["max_words"] = DESCRIBE_MAX_WORDS
            return context
        flipped = _flipped(item, participant)
        options = [payload["attribute"], payload["distractor_attribute"]]
        context["order"] = "da" if flipped else "ad"
        context["options"] = options[::-1] if flipped else options
        return context

    def _rationale_context(self, item: Item) -> dict:
        payload = item.payload
        scores = payload["attribution"]["scores"]
        peak = max((abs(s) for s in scores), default=0.0) or 1.0
        return {
            "design": "rationale",
            "question": "Highlight the words that make this post funny, then rate the "
            "highlighting the model gives.",
            "words": [
                {**w, "weight": round(max(0.0, s) / peak, 2)}
                for w, s in zip(payload["words"], scores, strict=True)
            ],
            "scale": PLAUSIBILITY_SCALE,
        }

    def value_from_form(self, item: Item, data: Mapping[str, Any]) -> Any:
        design = _design(item)
        if design == "rationale":
            words = data.get("words")
            if not words and hasattr(data, "getlist"):  # the checkboxes, when no script ran
                words = ",".join(data.getlist("word"))
            return {"words": words, "score": data.get("score")}
        if design in ("pairwise", "counterfactual"):
            return {"choice": data.get("choice"), "order": data.get("order")}
        if design == "describe":
            return {"text": data.get("text")}
        if design == "plausibility":
            return {"score": data.get("score")}
        return {name: data.get(name) for name in BOX_FIELDS}

    def form_data_for(self, item: Item, value: Mapping[str, Any]) -> dict[str, str]:
        if _design(item) == "rationale":
            return {"words": ",".join(str(i) for i in value["words"]), "score": str(value["score"])}
        fields = {
            "pairwise": ("choice", "order"),
            "counterfactual": ("choice", "order"),
            "describe": ("text",),
            "plausibility": ("score",),
            "box": BOX_FIELDS,
        }
        return {name: str(value[name]) for name in fields[_design(item)]}

    def validate(self, item: Item, value: Any) -> dict:
        design = _design(item)
        value = dict(value) if isinstance(value, Mapping) else {}
        if design == "pairwise" and value.get("order") in ("ab", "ba"):
            first, second = ("a", "b") if value["order"] == "ab" else ("b", "a")
            value["preferred"] = {"first": first, "second": second, "same": "same"}.get(
                str(value.get("choice")), ""
            )
        if design == "counterfactual":
            value["correct"] = counterfactual.corrected(value)
        if design == "describe":
            value["text"] = describe.description_check(value.get("text"))
            value["correct"] = (
                describe.matches(value["text"], describe.keywords_of(item.payload)) is not None
            )
        if design == "box":
            value = {k: (None if v in ("", None) else v) for k, v in value.items()}
        try:
            clean = ANSWERS[design].model_validate(value).model_dump(mode="json")
        except pydantic.ValidationError as exc:
            raise InvalidValue.from_pydantic(exc, ANSWER_MESSAGES) from None
        if design == "box":
            self._inside(item, clean)
        if design == "rationale":
            n_words = len(item.payload["words"])
            if any(not 0 <= i < n_words for i in clean["words"]):
                raise InvalidValue({"words": ["These words are not in this post."]})
        return clean

    def _inside(self, item: Item, box: dict) -> None:
        width, height = (item.payload or {}).get("width"), (item.payload or {}).get("height")
        if width and height and (box["x1"] >= width or box["y1"] >= height):
            raise InvalidValue(
                {"": [f"The box must lie inside the image ({width} × {height} pixels)."]}
            )

    def label_of(self, value: Any) -> Any:
        if not isinstance(value, dict):
            return None
        if "preferred" in value:
            return value["preferred"]
        if "text" in value and "correct" in value:
            return "attribute" if value["correct"] else "other"
        if "correct" in value:
            return "attribute" if value["correct"] else "distractor"
        if "x0" in value:
            return ",".join(str(value[k]) for k in BOX_FIELDS)
        return value.get("score")

    # results and data out
    def results(self, project) -> Results:
        return results_page.explain_results(project=project)

    def exports(self) -> list[RecordSet]:
        return exports.RECORD_SETS


EXPLAIN = ExplainTaskType()
