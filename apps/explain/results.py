"""The explain results page: the normalisation table laid out like "Normalization Matters in
WSOL" (MinMax | Max | PaS | IVR), automatic and human numbers in one table, and a gallery;
the text design's ERASER table and highlighted posts (``text_results.py``); the counterfactual
design's accuracies (``counterfactual.py``).

Automatic rows come from the items' per-image scores (``metrics.set_scores``), human rows from
the answers of participants who are not blocked (``stats.py``).
"""

from __future__ import annotations

from apps.core.models import Project
from apps.core.registry import Metric, Results, Table
from apps.core.results import GridImage, ImageGridFigure
from ml.explain.saliency import NORMALISATIONS

from . import counterfactual, metrics, selectors, stats, text_results
from .schemas import NORMALISATION_LABELS, config_of

GALLERY_IMAGES = 8
AUTOMATIC_ROWS = (
    ("max_box_acc", "MaxBoxAcc (IoU 0.5, %)"),
    ("max_box_acc_v2", "MaxBoxAccV2 (IoU 0.3/0.5/0.7, %)"),
    ("pxap", "PxAP (%)"),
)


def automatic_table(project: Project) -> dict[str, dict[str, float | None]]:
    """``{normalisation: {metric: value}}`` over the project's images."""
    per_image = list(selectors.image_scores(project).values())
    return {m: metrics.set_scores([image[m] for image in per_image]) for m in NORMALISATIONS}


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None or value != value else f"{value:.{digits}f}"


def _human_rows(project: Project, design: str, used: list[selectors.Answer]) -> list[list]:
    config = config_of(project)
    if design == "pairwise":
        percent = {m: None if r is None else r * 100 for m, r in stats.win_rates(used).items()}
        scores = stats.bradley_terry(used)
        intervals = stats.bradley_terry_intervals(
            used,
            samples=config.statistics.bootstrap_samples,
            seed=config.statistics.seed,
            confidence=config.statistics.confidence,
        )
        bt_cells = []
        for m in NORMALISATIONS:
            ci = intervals[m]
            bt_cells.append(
                _fmt(scores[m], 3) + ("" if ci is None else f" ({ci.low:.3f}–{ci.high:.3f})")
            )
        return [
            [
                "Human: pairwise win rate (%)",
                *(_fmt(percent[m]) for m in NORMALISATIONS),
            ],
            [f"Human: Bradley–Terry score ({config.statistics.confidence:.0%} CI)", *bt_cells],
        ]
    if design == "plausibility":
        means = stats.mean_plausibility(used)
        return [["Human: mean plausibility (1–5)", *(_fmt(means[m][0], 2) for m in NORMALISATIONS)]]
    ious = stats.mean_box_iou(used)
    return [
        [
            "Human: mean IoU of drawn boxes with the GT",
            *(_fmt(ious[m][0], 3) for m in NORMALISATIONS),
        ]
    ]


def _gallery(project: Project) -> ImageGridFigure | None:
    files = selectors.overlay_files(project)
    image_ids = sorted({image_id for image_id, _ in files})[:GALLERY_IMAGES]
    grid = []
    for image_id in image_ids:
        for key in ("image", *NORMALISATIONS):
            if (image_id, key) in files:
                label = "Image" if key == "image" else NORMALISATION_LABELS[key]
                grid.append(
                    GridImage(
                        name=files[(image_id, key)],
                        caption=f"{label} · {image_id.rsplit('/', 1)[-1]}",
                        alt=f"{image_id}: {'the image' if key == 'image' else label + ' map overlay'}",
                    )
                )
    if not grid:
        return None
    return ImageGridFigure(
        key="overlays",
        title="Overlays under each normalisation",
        images=grid,
        columns=5,
        note="The image, then its CAM under MinMax, Max, PaS and IVR (jet colours over the image).",
    )


def explain_results(*, project: Project) -> Results:
    everyone = selectors.used_answers(project)
    design = config_of(project).design
    if design == "counterfactual":
        return counterfactual.results(project=project, answers=everyone)
    texts = [a for a in everyone if a.is_text]
    if design == "rationale" and not selectors.image_scores(project):
        results = Results()
    else:
        results = _image_results(project, [a for a in everyone if not a.is_text], everyone)
    if texts or design == "rationale":
        text_results.add(results, project=project, answers=texts)
        results.notes[:] = [n for n in results.notes if not n.startswith("No images")]
    return results


def _image_results(
    project: Project, used: list[selectors.Answer], everyone: list[selectors.Answer]
) -> Results:
    design = config_of(project).design
    auto = automatic_table(project)
    rows = [
        [label, *(_fmt(auto[m][key]) for m in NORMALISATIONS)]
        for key, label in AUTOMATIC_ROWS
        if any(auto[m][key] is not None for m in NORMALISATIONS)
    ]
    if used and design != "rationale":
        rows += _human_rows(project, design, used)
    images = len(selectors.image_scores(project))
    group = "Images and answers"
    results = Results(
        metrics=[
            Metric(key="images", label="Images", value=images, group=group),
            Metric(key="answers", label="Answers used", value=len(everyone), group=group),
            Metric(
                key="participants",
                label="Participants",
                value=len({a.participant for a in everyone}),
                group=group,
            ),
        ]
    )
    if images:
        results.tables.append(
            Table(
                title="Which normalisation localises best? (automatic and human)",
                columns=["Metric", *(NORMALISATION_LABELS[m] for m in NORMALISATIONS)],
                rows=rows,
                note="Laid out as Kim et al. (ICCV 2021): CAMs for the ground-truth class, "
                "thresholds 0–0.99 in steps of 0.01 (wsolevaluation). Win rate counts a "
                "\u201csame\u201d as half a win; Bradley–Terry uses the decisive choices, its "
                "interval resamples participants (seeded bootstrap).",
            )
        )
    else:
        results.notes.append("No images yet: import a wsolevaluation zip on the Data tab.")
    if not used and design != "rationale":
        results.notes.append("No answers yet: the human rows fill in as participants answer.")
    gallery = _gallery(project)
    if gallery is not None:
        results.figures.append(gallery)
    return results
