"""The results page and exports, each number recomputed here from the database rows and the
uploaded files: the automatic rows against ``ml.explain.wsol.normalisation_table`` on the raw
heatmaps, the human rows from the stored answers (counts, crowd-kit, numpy, IoU by hand)."""

from __future__ import annotations

import random
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import BradleyTerry
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.core.demo import demo_answers_simulate
from apps.core.models import Annotation, ItemMedia, Project
from apps.core.uploads import items_import_upload
from apps.explain import exports
from apps.explain.tasktype import EXPLAIN
from ml.explain.saliency import NORMALISATIONS
from ml.explain.wsol import normalisation_table
from tests.explain.layouts import layout_zip

pytestmark = pytest.mark.django_db
ORDER = list(NORMALISATIONS)


def _answered(explain_project, design: str, *, masks: bool = False, people: int = 3, **config):
    project = explain_project(design, **config)
    content, samples, heatmaps = layout_zip(5, masks=masks)
    report = items_import_upload(
        project=project, upload=SimpleUploadedFile("run.zip", content), name="run.zip"
    )
    assert report.ok, report.errors
    project.status = Project.Status.LIVE
    project.overlap = max(1, people)
    project.save(update_fields=["status", "overlap"])
    if people:
        demo_answers_simulate(project=project, participants=people)
    return project, samples, heatmaps


def _table(project):
    results = EXPLAIN.results(project)
    table = results.tables[0]
    assert table.columns == ["Metric", "MinMax", "Max", "PaS", "IVR"]
    return {row[0]: row[1:] for row in table.rows}, results


def _rows(project):
    return list(Annotation.objects.filter(project=project).select_related("item").order_by("id"))


@pytest.mark.parametrize("masks", [False, True])
def test_the_automatic_rows_equal_wsolevaluation_on_the_raw_heatmaps(explain_project, masks):
    project, samples, heatmaps = _answered(
        explain_project, "plausibility", masks=masks, people=0, ivr_percentile=0.3
    )
    expected = normalisation_table(
        [heatmaps[s.image_id] for s in samples],
        [[s.box] for s in samples],
        [s.mask for s in samples] if masks else None,
        percentile=0.3,
    )
    rows, _ = _table(project)
    for key, label in (
        ("max_box_acc", "MaxBoxAcc (IoU 0.5, %)"),
        ("max_box_acc_v2", "MaxBoxAccV2 (IoU 0.3/0.5/0.7, %)"),
        ("pxap", "PxAP (%)"),
    ):
        if key == "pxap" and not masks:
            assert label not in rows
            continue
        assert rows[label] == [f"{expected[m][key]:.1f}" for m in ORDER]
    exported = {r["normalisation"]: r for r in exports.automatic_records(project)}
    for m in ORDER:
        assert exported[m]["max_box_acc_v2"] == pytest.approx(
            expected[m]["max_box_acc_v2"], abs=1e-4
        )
        assert exported[m]["images"] == 5
    # The maps really differ under the normalisations, or the table would say nothing.
    assert len({expected[m]["max_box_acc_v2"] for m in ORDER}) > 1


def test_pairwise_win_rates_and_bradley_terry_recomputed_from_the_answers(explain_project):
    project, _, _ = _answered(explain_project, "pairwise", people=4)
    rows, results = _table(project)
    points, shown = defaultdict(float), defaultdict(int)
    records = []
    for a in _rows(project):
        first, second = a.item.payload["normalisations"]
        best = {"a": first, "b": second}.get(a.value["preferred"])
        for m in (first, second):
            shown[m] += 1
            points[m] += 1.0 if best == m else (0.5 if best is None else 0.0)
        if best is not None:
            records.append((a.participant_id, first, second, best))
    assert rows["Human: pairwise win rate (%)"] == [
        f"{points[m] / shown[m] * 100:.1f}" for m in ORDER
    ]
    frame = pd.DataFrame(records, columns=["worker", "left", "right", "label"])
    scores = BradleyTerry(n_iter=100).fit(frame).scores_
    bt = rows["Human: Bradley–Terry score (95% CI)"]
    by_person = defaultdict(list)
    for record in records:
        by_person[record[0]].append(record)
    people = sorted({a.participant_id for a in _rows(project)})
    rng, draws = random.Random(7), defaultdict(list)
    for _ in range(200):
        sample = [r for p in rng.choices(people, k=len(people)) for r in by_person[p]]
        fit = BradleyTerry(n_iter=100).fit(pd.DataFrame(sample, columns=frame.columns)).scores_
        for m in fit.index:
            draws[m].append(fit[m])
    for m, cell in zip(ORDER, bt, strict=True):
        low, high = np.percentile(draws[m], [2.5, 97.5])
        assert cell == f"{scores[m]:.3f} ({low:.3f}–{high:.3f})"
    assert results.value("answers") == len(_rows(project)) == 4 * 5 * 6
    assert results.value("participants") == 4


def test_mean_plausibility_recomputed_from_the_answers(explain_project):
    project, _, _ = _answered(explain_project, "plausibility")
    rows, _ = _table(project)
    scores = defaultdict(list)
    for a in _rows(project):
        scores[a.item.payload["normalisation"]].append(a.value["score"])
    assert rows["Human: mean plausibility (1–5)"] == [f"{np.mean(scores[m]):.2f}" for m in ORDER]


def _iou(box, gt) -> float:
    """Inclusive-pixel IoU, written out."""
    ix = max(0, min(box[2], gt[2]) - max(box[0], gt[0]) + 1)
    iy = max(0, min(box[3], gt[3]) - max(box[1], gt[1]) + 1)
    area = lambda b: (b[2] - b[0] + 1) * (b[3] - b[1] + 1)  # noqa: E731
    return ix * iy / (area(box) + area(gt) - ix * iy)


def test_mean_box_iou_recomputed_from_the_answers_and_exported_per_answer(explain_project):
    project, _, _ = _answered(explain_project, "box")
    rows, _ = _table(project)
    ious = defaultdict(list)
    by_id = {}
    for a in _rows(project):
        box = [a.value[k] for k in ("x0", "y0", "x1", "y1")]
        value = _iou(box, a.item.payload["boxes"][0])
        ious[a.item.payload["normalisation"]].append(value)
        by_id[a.pk] = (a.item.payload["image_id"], a.item.payload["normalisation"], box, value)
    label = "Human: mean IoU of drawn boxes with the GT"
    assert rows[label] == [f"{np.mean(ious[m]):.3f}" for m in ORDER]
    records = list(exports.answer_records(project))
    assert len(records) == len(by_id)
    for record in records:
        image_id, method, box, value = by_id[record["annotation_id"]]
        assert (record["image_id"], record["normalisation"], record["box"]) == (
            image_id,
            method,
            box,
        )
        assert record["box_iou"] == pytest.approx(value, abs=1e-4)


def test_the_gallery_shows_stored_overlays_of_every_normalisation(explain_project):
    project, _, _ = _answered(explain_project, "pairwise", people=0)
    gallery = EXPLAIN.results(project).figure("overlays")
    names = {m.file.name: m.key for m in ItemMedia.objects.filter(item__project=project)}
    keys = [names[image.name] for image in gallery.images]
    assert keys[:5] == ["image", *ORDER]
    assert len(keys) == 5 * 5
