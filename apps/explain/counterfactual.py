"""The counterfactual design (StylEx-style, PROTOCOLS §5b): does a person see what changed?

A researcher's explainer changes one attribute of an image (StylEx flips a StyleSpace
coordinate) and the classifier's probability moves. Participants watch the original and the
counterfactual flicker in place and pick which of two descriptions the change belongs to:
the true attribute or a distractor. If the explanation is interpretable, they pick the true
one more often than chance (0.5), tested per attribute with an exact binomial test.

With the setting ``counterfactual_answer = "describe"`` they instead say in a few words what
changed, scored against the pair's keywords (``describe.py``: matching rule, no chance rate).

Item payload: ``pair_id``, ``attribute``, ``distractor_attribute`` ("" allowed in a describe
study), ``keywords`` (optional list), ``p_original``, ``p_counterfactual``, ``width``,
``height``; media keys ``original`` and ``counterfactual``. The choose answer: ``choice``
(``first``/``second``, as shown), ``order`` (``ad`` when the attribute was offered first) and
``correct`` (the side-corrected verdict, set by the task type); the describe answer: ``text``
and ``correct``.
"""

from __future__ import annotations

import csv
import io
import random
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from typing import IO

import numpy as np
from django.core.files.base import ContentFile
from django.db import transaction
from scipy.stats import binomtest

from apps.core.media import media_storage
from apps.core.models import Item, ItemMedia, Project
from apps.core.registry import ImportReport, Metric, Results, Table
from apps.core.results import BarFigure, BarSeries, ReferenceLine
from apps.core.ziputil import max_unpacked_bytes

from . import describe, images
from .schemas import config_of

MANIFEST = "manifest.csv"
COLUMNS = (
    "pair_id",
    "original",
    "counterfactual",
    "p_original",
    "p_counterfactual",
    "attribute",
    "distractor_attribute",
)
OPTIONAL_COLUMNS = ("keywords",)
CHANCE = 0.5


@dataclass(frozen=True)
class Pair:
    pair_id: str
    original: np.ndarray  # (H, W, 3) uint8
    counterfactual: np.ndarray
    p_original: float
    p_counterfactual: float
    attribute: str
    distractor_attribute: str
    keywords: tuple[str, ...] = ()


def describing(project: Project) -> bool:
    return config_of(project).counterfactual_answer == "describe"


def has_manifest(upload: IO[bytes]) -> bool:
    """Whether a zip upload is a counterfactual one (a ``manifest.csv`` at its top)."""
    try:
        with zipfile.ZipFile(upload) as archive:
            return MANIFEST in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    finally:
        upload.seek(0)


def pairs_import(*, project: Project, upload: IO[bytes]) -> ImportReport:
    """Import every pair of the zip's manifest, or none (errors name the manifest line)."""
    report = ImportReport()
    with zipfile.ZipFile(upload) as archive:
        if sum(i.file_size for i in archive.infolist()) > max_unpacked_bytes():
            report.error(0, f"The zip unpacks to more than {max_unpacked_bytes() // 2**20} MB.")
            return report
        text = archive.read(MANIFEST).decode("utf-8-sig")
        pairs = _read_pairs(archive, text, report, describing=describing(project))
    if report.errors:
        return report
    report.created = pairs_store(project=project, pairs=pairs)
    report.notes.append(f"{len(pairs)} counterfactual pairs.")
    return report


def _read_pairs(
    archive: zipfile.ZipFile, text: str, report: ImportReport, *, describing: bool = False
) -> list[Pair]:
    reader = csv.DictReader(io.StringIO(text))
    needed = [c for c in COLUMNS if not (describing and c == "distractor_attribute")]
    missing = [c for c in needed if c not in (reader.fieldnames or [])]
    if missing:
        report.error(1, f"{MANIFEST} lacks the column(s) {', '.join(missing)}.")
        return []
    names, pairs, seen = set(archive.namelist()), [], set()
    for line, row in enumerate(reader, start=2):
        try:
            pairs.append(_pair(archive, names, row, describing=describing))
        except ValueError as exc:
            report.error(line, str(exc))
            continue
        if row["pair_id"] in seen:
            report.error(line, f"pair_id {row['pair_id']!r} appears twice.")
        seen.add(row["pair_id"])
    if not pairs and not report.errors:
        report.error(1, f"{MANIFEST} has no pairs.")
    return pairs


def _pair(archive: zipfile.ZipFile, names: set[str], row: dict, *, describing: bool) -> Pair:
    pair_id = (row.get("pair_id") or "").strip()
    if not pair_id:
        raise ValueError("pair_id is empty.")
    rgbs = []
    for column in ("original", "counterfactual"):
        name = (row.get(column) or "").strip()
        if name not in names:
            raise ValueError(f"{pair_id}: {column} image {name!r} is not in the zip.")
        rgbs.append(images.read_rgb(archive.read(name), name))
    if rgbs[0].shape != rgbs[1].shape:
        raise ValueError(f"{pair_id}: the two images differ in size; a flicker needs one size.")
    probabilities = []
    for column in ("p_original", "p_counterfactual"):
        try:
            p = float(row.get(column) or "")
        except ValueError:
            raise ValueError(f"{pair_id}: {column} is not a number.") from None
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{pair_id}: {column} must lie in [0, 1].")
        probabilities.append(p)
    attribute = (row.get("attribute") or "").strip()
    distractor = (row.get("distractor_attribute") or "").strip()
    keywords = describe.parse_keywords(row.get("keywords") or "")
    if not attribute:
        raise ValueError(f"{pair_id}: attribute is empty.")
    if not describing and (not distractor or attribute == distractor):
        raise ValueError(f"{pair_id}: attribute and distractor_attribute must be two descriptions.")
    if describing and not describe.keywords_of({"attribute": attribute, "keywords": keywords}):
        raise ValueError(f"{pair_id}: the attribute and its keywords have no words to match.")
    original, counterfactual = rgbs
    p_original, p_counterfactual = probabilities
    return Pair(
        pair_id,
        original,
        counterfactual,
        p_original,
        p_counterfactual,
        attribute,
        distractor,
        keywords,
    )


def pairs_store(*, project: Project, pairs: list[Pair]) -> int:
    """One item per pair with its two images; all or nothing (written files removed again)."""
    saved: list[str] = []
    try:
        with transaction.atomic():
            for pair in pairs:
                _item_for(project, pair, saved)
    except Exception:
        for name in saved:
            media_storage.delete(name)
        raise
    return len(pairs)


def _item_for(project: Project, pair: Pair, saved: list[str]) -> None:
    height, width = pair.original.shape[:2]
    item = Item.objects.create(
        project=project,
        external_id=pair.pair_id,
        payload={
            "pair_id": pair.pair_id,
            "attribute": pair.attribute,
            "distractor_attribute": pair.distractor_attribute,
            **({"keywords": list(pair.keywords)} if pair.keywords else {}),
            "p_original": pair.p_original,
            "p_counterfactual": pair.p_counterfactual,
            "width": width,
            "height": height,
        },
    )
    for key, rgb in (("original", pair.original), ("counterfactual", pair.counterfactual)):
        content = images.png_bytes(rgb)
        row = ItemMedia(item=item, key=key, content_type="image/png", size=len(content))
        row.file.save(f"{key}.png", ContentFile(content), save=False)
        saved.append(row.file.name)
        row.save()


def manifest_text(pairs: list[Pair]) -> str:
    """The manifest a zip of ``pairs`` holds (images under ``images/<pair_id>-*.png``)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow((*COLUMNS, *OPTIONAL_COLUMNS))
    for p in pairs:
        writer.writerow(
            [
                p.pair_id,
                f"images/{p.pair_id}-original.png",
                f"images/{p.pair_id}-counterfactual.png",
                f"{p.p_original:.3f}",
                f"{p.p_counterfactual:.3f}",
                p.attribute,
                p.distractor_attribute,
                "; ".join(p.keywords),
            ]
        )
    return text.getvalue()


SAMPLE_PAIRS = 3


def sample_manifest() -> str:
    return manifest_text(demo_pairs()[:SAMPLE_PAIRS])


def sample_zip_bytes() -> bytes:
    """The Data tab's sample upload: the demo's first pairs with their manifest."""
    pairs = demo_pairs()[:SAMPLE_PAIRS]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(MANIFEST, manifest_text(pairs))
        for p in pairs:
            archive.writestr(f"images/{p.pair_id}-original.png", images.png_bytes(p.original))
            archive.writestr(
                f"images/{p.pair_id}-counterfactual.png", images.png_bytes(p.counterfactual)
            )
    return buffer.getvalue()


# --- the demo --------------------------------------------------------------------------------

DEMO_PAIRS = 12
COLOUR, BACKGROUND = "the colour of the object", "the brightness of the background"
DEMO_KEYWORDS = {
    COLOUR: ("colour", "color", "colours", "colors", "hue"),
    BACKGROUND: ("background", "brightness", "darker", "dimmer", "lighting"),
}
DEMO_INSTRUCTIONS = """\
Each screen shows a picture that **flickers** between two versions: something in it changes.
Pick which of the two descriptions says what changed. Go by what you see.
"""
DESCRIBE_INSTRUCTIONS = """\
Each screen shows a picture that **flickers** between two versions: something in it changes.
Say in **a few words** what changed (for example “the size of the object”). Go by
what you see.
"""


def demo_pairs() -> list[Pair]:
    """Generated objects on clutter; half change the object's colour (to another class's),
    half the background's brightness. Probabilities: a colour change moves the classifier
    (the colour is its evidence), a background change barely does."""
    from ml.explain import data

    rng = np.random.default_rng(5)
    pairs = []
    for n, sample in enumerate(data.generate("test", DEMO_PAIRS, seed=5, size=64)):
        changed = sample.image.copy()
        p_original = float(rng.uniform(0.8, 0.97))
        if n % 2 == 0:
            colour = data.CLASSES[(sample.label + 1) % len(data.CLASSES)][1]
            changed[sample.mask] = colour
            pair = (COLOUR, BACKGROUND, float(rng.uniform(0.05, 0.3)))
        else:
            background = changed[~sample.mask].astype(np.float64) * 0.55
            changed[~sample.mask] = background.astype(np.uint8)
            pair = (BACKGROUND, COLOUR, p_original - float(rng.uniform(0.0, 0.05)))
        attribute, distractor, p_cf = pair
        pairs.append(
            Pair(
                f"pair-{n:03d}",
                sample.image,
                changed,
                p_original,
                p_cf,
                attribute,
                distractor,
                DEMO_KEYWORDS[attribute],
            )
        )
    return pairs


def demo_seed(*, project: Project) -> None:
    pairs_store(project=project, pairs=demo_pairs())


# How often the simulated person names the right attribute: colour changes are easy to see.
SIMULATED_ACCURACY = {COLOUR: 0.9, BACKGROUND: 0.65}
# What a simulated person writes in the describe study: right, or about something else.
SIMULATED_DESCRIPTIONS = {
    COLOUR: ("the colour", "object colour", "its color changed", "colour of the shape", "hue"),
    BACKGROUND: ("background", "darker background", "the lighting", "brightness", "dimmer"),
    "": ("the size", "nothing", "position", "the shape", "sharper edges"),
}


def answer_simulate(*, item: Item, rng: random.Random, describing: bool = False) -> dict:
    attribute = item.payload["attribute"]
    correct = rng.random() < SIMULATED_ACCURACY.get(attribute, 0.7)
    if describing:
        pool = SIMULATED_DESCRIPTIONS.get(attribute if correct else "", ("something",))
        return {"text": rng.choice(pool)}
    order = rng.choice(["ad", "da"])
    attribute_side = "first" if order == "ad" else "second"
    other = "second" if attribute_side == "first" else "first"
    return {"choice": attribute_side if correct else other, "order": order}


def corrected(value: dict) -> bool | None:
    """Whether the side picked is the attribute's, given the order the two were offered in."""
    if value.get("order") not in ("ad", "da") or value.get("choice") not in ("first", "second"):
        return None
    return (value["choice"] == "first") == (value["order"] == "ad")


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accuracy:
    correct: int
    n: int
    p_value: float  # two-sided exact binomial test against chance
    low: float  # exact (Clopper–Pearson) interval of the accuracy
    high: float

    @property
    def rate(self) -> float:
        return self.correct / self.n if self.n else float("nan")


def accuracy(verdicts: list[bool], confidence: float = 0.95) -> Accuracy | None:
    if not verdicts:
        return None
    k = int(sum(verdicts))
    test = binomtest(k, len(verdicts), CHANCE)
    ci = test.proportion_ci(confidence_level=confidence, method="exact")
    rate = k / len(verdicts)  # the interval holds it, also where rounding says otherwise
    low, high = min(float(ci.low), rate), max(float(ci.high), rate)
    return Accuracy(k, len(verdicts), float(test.pvalue), low, high)


def accuracies(answers, confidence: float = 0.95) -> dict[str, Accuracy | None]:
    """``{"all": ..., attribute: ...}`` over the used answers (``selectors.Answer``)."""
    by_attribute: dict[str, list[bool]] = defaultdict(list)
    for a in answers:
        if a.value.get("correct") is not None:
            by_attribute[a.attribute].append(bool(a.value["correct"]))
    table = {"all": accuracy([v for vs in by_attribute.values() for v in vs], confidence)}
    table.update({k: accuracy(v, confidence) for k, v in sorted(by_attribute.items())})
    return table


def _row(label: str, acc: Accuracy | None) -> list:
    if acc is None:
        return [label, "—", "—", "0", "—"]
    return [
        label,
        f"{acc.rate:.3f}",
        f"{acc.low:.3f}–{acc.high:.3f}",
        f"{acc.correct} / {acc.n}",
        f"{acc.p_value:.4g}",
    ]


def _choose_results(out: Results, answers, confidence: float) -> None:
    table = accuracies(answers, confidence)
    level = f"{confidence:.0%}"
    overall = table.pop("all")
    out.tables.append(
        Table(
            title="Do people see what the counterfactual changed?",
            columns=[
                "Attribute",
                "Accuracy",
                f"{level} CI (exact)",
                "Correct / answers",
                "p (binomial, vs 0.5)",
            ],
            rows=[_row("All attributes", overall), *(_row(k, v) for k, v in table.items())],
            note="Each answer picks one of two descriptions, so chance is 0.5; p is the "
            "two-sided exact binomial test (scipy.stats.binomtest) of the correct count, the "
            "interval its Clopper–Pearson interval. Blocked participants are left out.",
        )
    )
    shown = {k: v for k, v in table.items() if v is not None}
    if shown:
        out.figures.append(
            BarFigure(
                key="counterfactual-accuracy",
                title="Accuracy per attribute (pick one of two)",
                categories=list(shown),
                series=[
                    BarSeries(
                        name="Accuracy",
                        values=[v.rate for v in shown.values()],
                        lower=[v.low for v in shown.values()],
                        upper=[v.high for v in shown.values()],
                    )
                ],
                y_label="Share correct",
                x_label="Attribute changed",
                y_range=(0.0, 1.0),
                references=[ReferenceLine(value=CHANCE, label="chance")],
                note=f"Whiskers: the exact {level} interval; the dashed line is chance (0.5).",
            )
        )


def _describe_results(out: Results, answers, confidence: float) -> None:
    scored = describe.scores(answers, confidence)
    out.tables.extend(describe.tables(scored, confidence))
    if not scored:
        return
    level = f"{confidence:.0%}"
    series = [
        BarSeries(
            name="Named it",
            values=[s.accuracy.rate for s in scored],
            lower=[s.accuracy.low for s in scored],
            upper=[s.accuracy.high for s in scored],
        )
    ]
    if any(s.cross is not None for s in scored):
        series.append(
            BarSeries(
                name="Baseline: other attributes' answers",
                values=[None if s.cross is None else s.cross.rate for s in scored],
                lower=[None if s.cross is None else s.cross.low for s in scored],
                upper=[None if s.cross is None else s.cross.high for s in scored],
            )
        )
    out.figures.append(
        BarFigure(
            key="counterfactual-descriptions",
            title="Accuracy per attribute (free descriptions)",
            categories=[s.attribute for s in scored],
            series=series,
            y_label="Share of answers",
            x_label="Attribute changed",
            y_range=(0.0, 1.0),
            note=f"Whiskers: Wilson {level} intervals. A free answer has no chance level; "
            "the second bar is the baseline instead: how often answers given for the other "
            "attributes match this attribute's keywords.",
        )
    )


def results(*, project: Project, answers) -> Results:
    config = config_of(project)
    confidence = config.statistics.confidence
    pairs = Item.objects.filter(project=project, payload__has_key="pair_id").count()
    chosen = [a for a in answers if "choice" in a.value]
    described = [a for a in answers if "text" in a.value]
    group = "Pairs and answers"
    out = Results(
        metrics=[
            Metric(key="pairs", label="Counterfactual pairs", value=pairs, group=group),
            Metric(key="answers", label="Answers used", value=len(answers), group=group),
            Metric(
                key="participants",
                label="Participants",
                value=len({a.participant for a in answers}),
                group=group,
            ),
        ]
    )
    # Each answer kind the study holds (a setting changed mid-study holds both).
    if chosen or config.counterfactual_answer == "choose":
        _choose_results(out, chosen, confidence)
    if described or config.counterfactual_answer == "describe":
        _describe_results(out, described, confidence)
    if not answers:
        out.notes.append("No answers yet: the table fills in as participants answer.")
    return out
