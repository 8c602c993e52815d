"""The text half of the results page: rationales against attributions, the ERASER way.

One table puts each attribution method (Integrated Gradients, shown to participants;
attention rollout) beside the people's own rationales:

* **plausibility** (DeYoung et al., ACL 2020) of a method: token F1 and IOU F1 of its top
  ``k`` words against each human rationale, ``k`` the mean human rationale length, and
  AUPRC of its word scores; for people, their agreement with each other (mean pairwise F1,
  Krippendorff's α over word-level highlights);
* **faithfulness**, asked of the classifier stored with the project (``textmodel.py``):
  comprehensiveness ``p(y|x) − p(y|x∖r)`` and sufficiency ``p(y|x) − p(y|r)`` of the
  rationale ``r`` — a method's top ``k`` words, or a person's highlight — and, for the
  methods' soft scores, both as AOPC over the top 1/5/10/20/50 % of words. ``y`` is
  "humorous", the class the attributions explain.

Every number averages over the rationales used (a post counts once per person who highlighted
it), so the columns compare the same posts with the same weights. Below the table, a few posts
show the share of people who highlighted each word above each method's top ``k`` words.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from apps.core.models import Item, Project
from apps.core.registry import Metric, Results, Table
from apps.core.results import HighlightedPassage, HighlightLayer, TextHighlightFigure
from ml.explain_text import (
    AOPC,
    Agreement,
    Faithfulness,
    Plausibility,
    aopc,
    faithfulness,
    memoised,
    plausibility,
    rationale_agreement,
    split_words,
    top_k_tokens,
)

from .selectors import Answer
from .textmodel import PredictProba, one_torch_thread, text_model_proba

HUMOROUS = 1  # the class every stored attribution explains
EXAMPLES = 4
METHOD_LABELS = {
    "integrated_gradients": "Integrated Gradients",
    "attention_rollout": "Attention rollout",
}


def top_words(k: int) -> str:
    return "top word" if k == 1 else f"top {k} words"


def method_label(method: str) -> str:
    return METHOD_LABELS.get(method, method.replace("_", " ").capitalize())


@dataclass(frozen=True)
class MethodScores:
    method: str
    n: int  # rationales of posts that have this method's scores
    plausibility: Plausibility
    faithfulness: Faithfulness | None  # of the top-k words; None without a model
    aopc: AOPC | None


@dataclass(frozen=True)
class Summary:
    n: int
    k: int
    shown: str  # the method participants rated
    methods: list[MethodScores]
    human: Faithfulness | None
    agreement: Agreement
    mean_rating: float
    model_note: str  # which model answered, or why none did
    predict_proba: PredictProba | None


def _k(answers: Sequence[Answer]) -> int:
    """ERASER's k: the mean human rationale length, rounded, at least 1."""
    return max(1, round(sum(len(a.value["words"]) for a in answers) / len(answers)))


def summarise(answers: Sequence[Answer], predict_proba: PredictProba | None, note: str) -> Summary:
    """Everything the table shows, from the used rationale answers (at least one)."""
    k = _k(answers)
    methods: list[str] = list(dict.fromkeys(m for a in answers for m in a.attributions))
    cached = memoised(predict_proba) if predict_proba is not None else None
    scored = []
    for method in methods:
        rows = [a for a in answers if method in a.attributions]
        scores = [a.attributions[method] for a in rows]
        texts = [a.text for a in rows]
        faith = spread = None
        if cached is not None:
            tops = [top_k_tokens(s, k) for s in scores]
            faith = faithfulness(cached, texts, tops, target=HUMOROUS)
            spread = aopc(cached, texts, scores, target=HUMOROUS)
        found = plausibility([a.value["words"] for a in rows], scores, k=k)
        scored.append(MethodScores(method, len(rows), found, faith, spread))
    human = None
    if cached is not None:
        human = faithfulness(
            cached, [a.text for a in answers], [a.value["words"] for a in answers], target=HUMOROUS
        )
    per_item: dict[int, dict[Hashable, list[int]]] = defaultdict(dict)
    n_words: dict[int, int] = {}
    for a in answers:
        per_item[a.item][a.participant] = a.value["words"]
        n_words[a.item] = len(split_words(a.text))
    items = sorted(per_item)
    agreement = rationale_agreement([per_item[i] for i in items], [n_words[i] for i in items])
    return Summary(
        n=len(answers),
        k=k,
        shown=methods[0] if methods else "",
        methods=scored,
        human=human,
        agreement=agreement,
        mean_rating=sum(a.value["score"] for a in answers) / len(answers),
        model_note=note,
        predict_proba=cached,
    )


def _fmt(value: float | None, digits: int = 3) -> str:
    return (
        "—"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else (f"{value:.{digits}f}")
    )


def _table(summary: Summary) -> Table:
    columns = ["Measure"]
    for m in summary.methods:
        shown = " (shown)" if m.method == summary.shown else ""
        columns.append(f"{method_label(m.method)}{shown}: {top_words(summary.k)}")
    columns.append("People's rationales")
    dash = ["—"] * len(summary.methods)

    def per_method(get) -> list[str]:
        return [get(m) for m in summary.methods]

    def faith(m: MethodScores, name: str) -> str:
        return "—" if m.faithfulness is None else _fmt(getattr(m.faithfulness, name))

    def spread(m: MethodScores, name: str) -> str:
        return "—" if m.aopc is None else _fmt(getattr(m.aopc, name))

    human = summary.human
    rows = [
        [
            "Token F1 with people's rationales (people: with each other)",
            *per_method(lambda m: _fmt(m.plausibility.token_f1)),
            _fmt(summary.agreement.mean_pairwise_f1),
        ],
        [
            "IOU F1 (spans matched at IoU ≥ 0.5)",
            *per_method(lambda m: _fmt(m.plausibility.iou_f1)),
            "—",
        ],
        ["AUPRC of the word scores", *per_method(lambda m: _fmt(m.plausibility.auprc)), "—"],
        [
            "Comprehensiveness p(y|x) − p(y|x∖r) ↑",
            *per_method(lambda m: faith(m, "comprehensiveness")),
            "—" if human is None else _fmt(human.comprehensiveness),
        ],
        [
            "Sufficiency p(y|x) − p(y|r) ↓",
            *per_method(lambda m: faith(m, "sufficiency")),
            "—" if human is None else _fmt(human.sufficiency),
        ],
        [
            "AOPC comprehensiveness (top 1–50 % of words)",
            *per_method(lambda m: spread(m, "comprehensiveness")),
            "—",
        ],
        [
            "AOPC sufficiency (top 1–50 % of words)",
            *per_method(lambda m: spread(m, "sufficiency")),
            "—",
        ],
        ["Krippendorff's α of the highlights (word level)", *dash, _fmt(summary.agreement.alpha)],
        [
            "Mean rating of the shown highlighting (1–5)",
            *per_method(
                lambda m: _fmt(summary.mean_rating, 2) if m.method == summary.shown else "—"
            ),
            "—",
        ],
    ]
    faithful = (
        f"Faithfulness asks {summary.model_note}: y is \u201chumorous\u201d, r the method's "
        f"{top_words(summary.k)} or a person's highlight; high comprehensiveness and low sufficiency "
        "mean the model relies on r. AOPC averages both over the top 1, 5, 10, 20 and 50 % of "
        "each post's words."
        if summary.predict_proba is not None
        else summary.model_note
    )
    return Table(
        title="Rationales against attributions (ERASER)",
        columns=columns,
        rows=rows,
        note=f"DeYoung et al. (ACL 2020), over {summary.n} rationales on "
        f"{summary.agreement.n_items} posts with two or more (each post counted once per "
        f"rationale). A method's rationale is its {top_words(summary.k)} (k = {summary.k}, the "
        "mean human rationale length); IOU F1 matches a span at IoU ≥ 0.5. " + faithful,
    )


def _examples(summary: Summary, answers: Sequence[Answer]) -> TextHighlightFigure | None:
    """The posts with the most rationales: the share of people who highlighted each word,
    above each method's top k words."""
    by_item: dict[int, list[Answer]] = defaultdict(list)
    for a in answers:
        by_item[a.item].append(a)
    chosen = sorted(by_item, key=lambda i: (-len(by_item[i]), i))[:EXAMPLES]
    passages = []
    for item in chosen:
        rows = by_item[item]
        words = [w.text for w in split_words(rows[0].text)]
        counts = [0] * len(words)
        for a in rows:
            for i in a.value["words"]:
                counts[i] += 1
        layers = [HighlightLayer(name="People", weights=[c / len(rows) for c in counts])]
        for method, scores in rows[0].attributions.items():
            top = set(top_k_tokens(scores, summary.k))
            layers.append(
                HighlightLayer(
                    name=f"{method_label(method)}: {top_words(summary.k)}",
                    weights=[1.0 if i in top else 0.0 for i in range(len(words))],
                )
            )
        caption = f"{rows[0].image_id} · {len(rows)} {'person' if len(rows) == 1 else 'people'}"
        if summary.predict_proba is not None:
            p = float(summary.predict_proba([rows[0].text])[0][HUMOROUS])
            caption += f" · model p(humorous) = {p:.2f}"
        passages.append(HighlightedPassage(caption=caption, words=words, layers=layers))
    if not passages:
        return None
    return TextHighlightFigure(
        key="highlighted-posts",
        title="Highlighted posts: people and the model",
        passages=passages,
        note="People: the darker the word, the larger the share of participants who "
        "highlighted it (the data table gives each share). Each method's row marks its "
        f"{top_words(summary.k)} by attribution. Posts with the most rationales first.",
    )


def add(results: Results, *, project: Project, answers: Sequence[Answer]) -> None:
    """Append the text part to ``results``: its metrics, the ERASER table, the examples."""
    group = "Posts and rationales"
    posts = Item.objects.filter(project=project, payload__has_key="text").count()
    results.metrics.append(Metric(key="posts", label="Posts", value=posts, group=group))
    results.metrics.append(
        Metric(key="rationales", label="Rationales used", value=len(answers), group=group)
    )
    if not answers:
        results.notes.append("No rationales yet: the table fills in as participants answer.")
        return
    predict_proba, note = text_model_proba(project)
    if predict_proba is None:
        summary = summarise(answers, None, note)
    else:
        with one_torch_thread():
            summary = summarise(answers, predict_proba, note)
    results.metrics += [
        Metric(
            key="readers",
            label="Readers",
            value=len({a.participant for a in answers}),
            group=group,
        ),
        Metric(
            key="rationale_k",
            label="k (mean rationale length)",
            value=summary.k,
            group=group,
            help="A method's rationale is its top k words, k the mean number of words people "
            "highlighted (ERASER).",
        ),
        Metric(
            key="mean_rating",
            label="Mean rating of the shown highlighting (1–5)",
            value=summary.mean_rating,
            digits=2,
            group=group,
        ),
    ]
    results.tables.append(_table(summary))
    examples = _examples(summary, answers)
    if examples is not None:
        results.figures.append(examples)
