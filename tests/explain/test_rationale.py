"""The text design: posts with word attributions, highlighted through the HTTP flow, and the
ERASER table and highlighted posts recomputed here from the stored rationales: plausibility
(token F1, IOU F1, AUPRC) by hand and scikit-learn, agreement with krippendorff, and
faithfulness by asking the classifier stored with the project about texts cut by hand."""

from __future__ import annotations

import io
import json
import math
import re
import tempfile
import zipfile
from itertools import combinations
from pathlib import Path

import krippendorff
import numpy as np
import pytest
import torch
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from sklearn.metrics import average_precision_score

from apps.core.demo import demo_answers_simulate
from apps.core.models import Annotation, Assignment, Item, Participant, Project
from apps.explain import text
from apps.explain.tasktype import EXPLAIN
from ml.humor.predict import Predictor
from tests.crowd.test_flow import form_of, start

pytestmark = pytest.mark.django_db

POSTS = [
    {"id": "p1", "text": "my cat stole the seat haha", "scores": [0, 0.1, 0.3, 0, 0.2, 0.9]},
    {"id": "p2", "text": "lol the fridge has a plant", "scores": [0.8, 0, 0.4, 0, 0, 0.1]},
    {"id": "p3", "text": "the council approved the budget", "scores": [0, 0.2, 0.1, 0, 0.3]},
]


def _jsonl(rows) -> SimpleUploadedFile:
    return SimpleUploadedFile("posts.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())


def _live(client, owner, explain_project) -> Project:
    project = explain_project("rationale")
    client.force_login(owner)
    response = client.post(reverse("dashboard:data", args=[project.slug]), {"file": _jsonl(POSTS)})
    assert response.status_code == 200
    project.status = Project.Status.LIVE
    project.save(update_fields=["status"])
    return project


def test_posts_with_the_wrong_number_of_scores_are_refused_by_line(client, owner, explain_project):
    project = explain_project("rationale")
    client.force_login(owner)
    bad = [POSTS[0], {**POSTS[1], "scores": [1, 2]}]
    response = client.post(reverse("dashboard:data", args=[project.slug]), {"file": _jsonl(bad)})
    assert response.status_code == 400
    assert "2 scores for the 6 words" in response.content.decode()
    assert not Item.objects.filter(project=project).exists()


def test_a_rationale_is_highlighted_and_rated_through_http(client, owner, explain_project):
    project = _live(client, owner, explain_project)
    assert Item.objects.filter(project=project).count() == 3
    participant_client = Client()
    page = start(participant_client, project)
    html = page.content.decode()
    assert html.count('name="word"') >= 5 and "data-weight" in html
    assignment = Assignment.objects.select_related("item").get(
        participant=Participant.objects.get(project=project), status=Assignment.Status.RESERVED
    )
    n_words = len(assignment.item.payload["words"])
    action, token = form_of(page)
    for words, message in (
        ("", "Highlight at least one word."),
        (str(n_words), "not in this post"),
    ):
        refused = participant_client.post(
            action, {"words": words, "score": "3", "client_token": token}, HTTP_HX_REQUEST="true"
        )
        assert message in refused.content.decode()
        action, token = form_of(refused)
    assert not Annotation.objects.exists()
    participant_client.post(action, {"words": "3,1,1", "score": "4", "client_token": token})
    assert Annotation.objects.get(assignment=assignment).value == {"words": [1, 3], "score": 4}


# --- the ERASER table, each number recomputed here --------------------------------------------

BINS = (0.01, 0.05, 0.1, 0.2, 0.5)


def _top_words(k: int) -> str:
    return "top word" if k == 1 else f"top {k} words"


def _top(scores, k: int) -> set[int]:
    return set(np.argsort(-np.asarray(scores, dtype=float), kind="stable")[:k].tolist())


def _f1(a: set[int], b: set[int]) -> float:
    hit = len(a & b)
    return 0.0 if hit == 0 else 2 * hit / (len(a) + len(b))


def _runs(indices: set[int]) -> list[tuple[int, int]]:
    runs: list[list[int]] = []
    for i in sorted(indices):
        if runs and runs[-1][1] == i:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1])
    return [(a, b) for a, b in runs]


def _iou_f1(pairs: list[tuple[set[int], set[int]]]) -> float:
    """ERASER's dataset IOU F1: the F1 of the mean span precision and recall at IoU 0.5."""
    precisions, recalls = [], []
    for human, predicted in pairs:
        truth, pred = _runs(human), _runs(predicted)

        def iou(p, t):
            inter = max(0, min(p[1], t[1]) - max(p[0], t[0]))
            return inter / ((p[1] - p[0]) + (t[1] - t[0]) - inter)

        matched = sum(1 for p in pred if max(iou(p, t) for t in truth) >= 0.5)
        precisions.append(matched / len(pred))
        recalls.append(min(1.0, matched / len(truth)))
    p, r = np.mean(precisions), np.mean(recalls)
    return 0.0 if p == 0 or r == 0 else 2 * p * r / (p + r)


def _auprc(pairs) -> float:
    aps = [
        average_precision_score([int(i in h) for i in range(len(s))], s)
        for h, s in pairs
        if 0 < len(h) < len(s)
    ]
    return float(np.mean(aps))


def _alpha(answers) -> float:
    people = sorted({a.participant_id for a in answers})
    items = sorted({a.item_id for a in answers})
    sizes = {a.item_id: len(a.item.payload["words"]) for a in answers}
    offsets = dict(zip(items, np.cumsum([0] + [sizes[i] for i in items[:-1]]), strict=True))
    matrix = np.full((len(people), sum(sizes.values())), np.nan)
    for a in answers:
        start = offsets[a.item_id]
        row = matrix[people.index(a.participant_id)]
        row[start : start + sizes[a.item_id]] = 0
        for w in a.value["words"]:
            row[start + w] = 1
    return float(krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"))


def _pairwise_f1(answers) -> float:
    per_post = []
    for item in sorted({a.item_id for a in answers}):
        sets = [set(a.value["words"]) for a in answers if a.item_id == item]
        if len(sets) > 1:
            per_post.append(np.mean([_f1(x, y) for x, y in combinations(sets, 2)]))
    return float(np.mean(per_post))


def _stored_model(project):
    """p(humorous | text), straight from the checkpoint stored with the project."""
    name = project.derived["text_model"]["file"]
    with default_storage.open(name, "rb") as handle, tempfile.TemporaryDirectory() as tmp:
        zipfile.ZipFile(io.BytesIO(handle.read())).extractall(tmp)
        predictor = Predictor(Path(tmp), torch.device("cpu"))

    seen: dict[str, float] = {}

    @torch.no_grad()
    def p_humorous(text: str) -> float:
        if text not in seen:
            batch = predictor.tokenizer([text], return_tensors="pt")
            logits = predictor.model(batch["input_ids"], batch["attention_mask"])
            seen[text] = float(logits.softmax(-1)[0, 1])
        return seen[text]

    return p_humorous


def _without(words: list[str], r: set[int]) -> str:
    return " ".join(w for i, w in enumerate(words) if i not in r)


def _only(words: list[str], r: set[int]) -> str:
    return " ".join(w for i, w in enumerate(words) if i in r)


def _table(project):
    results = EXPLAIN.results(project)
    table = next(t for t in results.tables if t.title.startswith("Rationales against"))
    return results, table, {row[0]: row[1:] for row in table.rows}


def test_imported_posts_get_plausibility_and_agreement_and_no_faithfulness_without_a_model(
    client, owner, explain_project
):
    project = _live(client, owner, explain_project)
    project.overlap = 3
    project.save(update_fields=["overlap"])
    demo_answers_simulate(project=project, participants=3)
    answers = list(Annotation.objects.filter(project=project).select_related("item"))
    assert len(answers) == 9
    humans = [set(a.value["words"]) for a in answers]
    scores = [a.item.payload["attribution"]["scores"] for a in answers]
    k = max(1, round(np.mean([len(h) for h in humans])))
    tops = [_top(s, k) for s in scores]
    page = client.get(reverse("dashboard:results", args=[project.slug]))
    assert page.status_code == 200 and "Rationales against attributions" in page.content.decode()
    results, table, rows = _table(project)
    assert table.columns == [
        "Measure",
        f"Integrated Gradients (shown): {_top_words(k)}",
        "People's rationales",
    ]
    token = np.mean([_f1(h, t) for h, t in zip(humans, tops, strict=True)])
    assert rows["Token F1 with people's rationales (people: with each other)"] == [
        f"{token:.3f}",
        f"{_pairwise_f1(answers):.3f}",
    ]
    assert rows["IOU F1 (spans matched at IoU ≥ 0.5)"][0] == (
        f"{_iou_f1(list(zip(humans, tops, strict=True))):.3f}"
    )
    assert rows["AUPRC of the word scores"][0] == f"{_auprc(zip(humans, scores, strict=True)):.3f}"
    assert rows["Krippendorff's α of the highlights (word level)"][1] == f"{_alpha(answers):.3f}"
    rating = np.mean([a.value["score"] for a in answers])
    assert rows["Mean rating of the shown highlighting (1–5)"][0] == f"{rating:.2f}"
    assert results.value("mean_rating") == pytest.approx(rating)
    assert results.value("rationale_k") == k and results.value("rationales") == 9
    for measure in ("Comprehensiveness p(y|x) − p(y|x∖r) ↑", "Sufficiency p(y|x) − p(y|r) ↓"):
        assert rows[measure] == ["—", "—"]
    assert "imported with their scores and no model" in table.note


def test_the_text_demo_table_and_examples_recompute_with_the_stored_model(explain_project):
    project = explain_project("rationale", status="live")
    EXPLAIN.seed_demo(project)
    project.refresh_from_db()
    demo_answers_simulate(project=project, participants=8)
    answers = list(Annotation.objects.filter(project=project).select_related("item"))
    assert len(answers) == 8 * project.items_per_participant
    p_humorous = _stored_model(project)
    humans = [set(a.value["words"]) for a in answers]
    k = max(1, round(np.mean([len(h) for h in humans])))
    words = {a.item_id: [w["text"] for w in a.item.payload["words"]] for a in answers}
    full = {a.item_id: p_humorous(a.item.payload["text"]) for a in answers}

    def comp_suff(a, r: set[int]) -> tuple[float, float]:
        w = words[a.item_id]
        return full[a.item_id] - p_humorous(_without(w, r)), full[a.item_id] - p_humorous(
            _only(w, r)
        )

    results, table, rows = _table(project)
    assert table.columns[1:] == [
        f"Integrated Gradients (shown): {_top_words(k)}",
        f"Attention rollout: {_top_words(k)}",
        "People's rationales",
    ]
    expected: dict[str, list[str]] = {m: [] for m in rows}
    for method in ("integrated_gradients", "attention_rollout"):
        if method == "integrated_gradients":
            scores = [a.item.payload["attribution"]["scores"] for a in answers]
        else:
            scores = [a.item.payload["attributions"][method]["scores"] for a in answers]
        tops = [_top(s, k) for s in scores]
        faith = np.array([comp_suff(a, t) for a, t in zip(answers, tops, strict=True)])
        curves = np.array(
            [
                [comp_suff(a, _top(s, math.ceil(f * len(s) - 1e-9))) for f in BINS]
                for a, s in zip(answers, scores, strict=True)
            ]
        )  # (answers, bins, 2)
        pairs = list(zip(humans, tops, strict=True))
        for measure, value in (
            (
                "Token F1 with people's rationales (people: with each other)",
                np.mean([_f1(h, t) for h, t in pairs]),
            ),
            ("IOU F1 (spans matched at IoU ≥ 0.5)", _iou_f1(pairs)),
            ("AUPRC of the word scores", _auprc(zip(humans, scores, strict=True))),
            ("Comprehensiveness p(y|x) − p(y|x∖r) ↑", faith[:, 0].mean()),
            ("Sufficiency p(y|x) − p(y|r) ↓", faith[:, 1].mean()),
            ("AOPC comprehensiveness (top 1–50 % of words)", curves[:, :, 0].mean()),
            ("AOPC sufficiency (top 1–50 % of words)", curves[:, :, 1].mean()),
        ):
            expected[measure].append(f"{value:.3f}")
    human = np.array([comp_suff(a, h) for a, h in zip(answers, humans, strict=True)])
    for measure, value in (
        ("Token F1 with people's rationales (people: with each other)", _pairwise_f1(answers)),
        ("Comprehensiveness p(y|x) − p(y|x∖r) ↑", human[:, 0].mean()),
        ("Sufficiency p(y|x) − p(y|r) ↓", human[:, 1].mean()),
    ):
        expected[measure].append(f"{value:.3f}")
    for cells in expected.values():
        if len(cells) == 2:
            cells.append("—")
    expected["Krippendorff's α of the highlights (word level)"] = [
        "—",
        "—",
        f"{_alpha(answers):.3f}",
    ]
    rating = np.mean([a.value["score"] for a in answers])
    expected["Mean rating of the shown highlighting (1–5)"] = [f"{rating:.2f}", "—", "—"]
    assert rows == expected
    # The toy model needs its cue words: people (who highlight them) are faithful rationales.
    assert float(rows["Comprehensiveness p(y|x) − p(y|x∖r) ↑"][2]) > 0.3

    figure = results.figure("highlighted-posts")
    assert len(figure.passages) == 4
    by_post = {a.item.external_id: [b for b in answers if b.item_id == a.item_id] for a in answers}
    for passage in figure.passages:
        post = passage.caption.split(" · ")[0]
        rows_of = by_post[post]
        first = rows_of[0].item.payload
        assert passage.words == [w["text"] for w in first["words"]]
        shares = [
            sum(i in a.value["words"] for a in rows_of) / len(rows_of)
            for i in range(len(passage.words))
        ]
        people, ig, rolled = passage.layers
        assert (people.name, people.weights) == ("People", pytest.approx(shares))
        assert ig.name == f"Integrated Gradients: {_top_words(k)}"
        assert {i for i, w in enumerate(ig.weights) if w} == _top(first["attribution"]["scores"], k)
        assert {i for i, w in enumerate(rolled.weights) if w} == _top(
            first["attributions"]["attention_rollout"]["scores"], k
        )
        p = p_humorous(first["text"])
        assert passage.caption == f"{post} · {len(rows_of)} people · model p(humorous) = {p:.2f}"


def test_the_results_page_draws_the_examples_with_the_words_escaped(client, owner, explain_project):
    project = explain_project("rationale", status="live")
    text_ = "<b>haha</b> & lol"  # words: < b > haha </ b > & lol
    post = {"id": "p-1", "text": text_, "scores": [0, 0, 0, 0.9, 0, 0, 0, 0, 0.5]}
    assert EXPLAIN.import_items(project, _jsonl([post])).ok
    demo_answers_simulate(project=project, participants=2)
    client.force_login(owner)
    html = client.get(reverse("dashboard:results", args=[project.slug])).content.decode()
    start = html.index('aria-label="Highlighted posts: people and the model"')
    svg = html[start : html.index("</svg>", start)]
    assert ">haha<" in svg and ">&lt;/<" in svg and ">&amp;<" in svg
    assert "<b>" not in html and "</b>" not in html


def test_a_stored_model_that_cannot_be_loaded_is_named_and_the_rest_still_shows(explain_project):
    project = explain_project("rationale", status="live")
    assert EXPLAIN.import_items(project, _jsonl(POSTS)).ok
    project.derived = {"text_model": {"file": "explain/text-models/gone.zip", "title": "gone"}}
    project.save(update_fields=["derived"])
    demo_answers_simulate(project=project, participants=2)
    _, table, rows = _table(project)
    assert "could not be loaded" in table.note
    assert rows["Comprehensiveness p(y|x) − p(y|x∖r) ↑"] == ["—", "—"]
    assert rows["AUPRC of the word scores"][0] != "—"


def test_the_text_demo_attributes_the_joke_to_its_cue_word(explain_project):
    project = explain_project("rationale", status="live")
    EXPLAIN.seed_demo(project)
    item = Item.objects.get(project=project, external_id="post-1")
    words = [w["text"] for w in item.payload["words"]]
    scores = item.payload["attribution"]["scores"]
    assert words[int(np.argmax(scores))] == "haha"
    assert re.match(r"integrated_gradients", item.payload["attribution"]["method"])
    rollout = item.payload["attributions"]["attention_rollout"]["scores"]
    assert len(rollout) == len(words)
    # Each simulated person does a few posts, and a visitor still finds work after 20.
    assert demo_answers_simulate(project=project, participants=20) == 20 * 3
    assert project.overlap * len(text.DEMO_POSTS) > 20 * 3
