"""ERASER-style rationale metrics (DeYoung et al., ACL 2020), over word indices.

A rationale is a set of word indices into :func:`~ml.explain_text.words.split_words` of the
text; attribution scores are one float per word. Three families:

* **plausibility** — how well the top-k attributed words agree with a human rationale:
  token-level F1, IOU-F1 over contiguous spans, and AUPRC of the soft scores;
* **faithfulness** — whether the model actually relies on a rationale: comprehensiveness
  ``p(y|x) − p(y|x∖r)`` and sufficiency ``p(y|x) − p(y|r)``, and both as AOPC over the
  top 1/5/10/20/50 % of words; the model is only a ``predict_proba(texts) -> (n, classes)``
  callable, so any classifier (or a toy one in a test) fits;
* **human–human agreement** — mean pairwise token F1 and Krippendorff's α over word-level
  highlight/no-highlight labels.

Dataset averages follow the ERASER reference code: token F1 is the mean of instance F1s,
IOU-F1 is the F1 of the mean instance precision and recall, and AUPRC skips instances whose
rationale is empty or covers every word (average precision is undefined there).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from .words import only_words, split_words, top_k_tokens, without_words

PredictProba = Callable[[Sequence[str]], "np.ndarray | Sequence[Sequence[float]]"]
AOPC_BINS = (0.01, 0.05, 0.1, 0.2, 0.5)
IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class PRF:
    precision: float
    recall: float
    f1: float


def _f1(precision: float, recall: float) -> float:
    return 0.0 if precision == 0 or recall == 0 else 2 * precision * recall / (precision + recall)


# --- plausibility -------------------------------------------------------------------------


def token_prf(human: Iterable[int], predicted: Iterable[int]) -> PRF:
    """Precision/recall/F1 of the predicted word set against the human one (0 when either is empty)."""
    truth, pred = set(human), set(predicted)
    hit = len(truth & pred)
    precision = hit / len(pred) if pred else 0.0
    recall = hit / len(truth) if truth else 0.0
    return PRF(precision, recall, _f1(precision, recall))


def token_f1(human: Iterable[int], predicted: Iterable[int]) -> float:
    return token_prf(human, predicted).f1


def spans(indices: Iterable[int]) -> list[tuple[int, int]]:
    """Contiguous runs of word indices as ``(start, end)`` with ``end`` exclusive."""
    out: list[tuple[int, int]] = []
    for i in sorted(set(indices)):
        if out and out[-1][1] == i:
            out[-1] = (out[-1][0], i + 1)
        else:
            out.append((i, i + 1))
    return out


def _iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - inter
    return inter / union if union else 0.0


def iou_prf(
    human: Iterable[int], predicted: Iterable[int], threshold: float = IOU_THRESHOLD
) -> PRF:
    """ERASER's partial-match score: a predicted span counts if its best IOU with a human span ≥ threshold.

    Precision is matched predicted spans over predicted spans; recall is the same count over
    human spans, capped at 1 (the reference code lets two halves of one human span push it
    past 1, which is no recall).
    """
    truth, pred = spans(human), spans(predicted)
    matched = sum(1 for p in pred if max((_iou(p, t) for t in truth), default=0.0) >= threshold)
    precision = matched / len(pred) if pred else 0.0
    recall = min(1.0, matched / len(truth)) if truth else 0.0
    return PRF(precision, recall, _f1(precision, recall))


def iou_f1(
    human: Iterable[int], predicted: Iterable[int], threshold: float = IOU_THRESHOLD
) -> float:
    return iou_prf(human, predicted, threshold).f1


def auprc(human: Iterable[int], scores: Sequence[float]) -> float:
    """Average precision (sklearn) of the word scores against the human rationale; NaN if one-class."""
    from sklearn.metrics import average_precision_score

    truth = set(human)
    labels = [1 if i in truth else 0 for i in range(len(scores))]
    if not scores or all(labels) or not any(labels):
        return math.nan
    return float(average_precision_score(labels, np.asarray(scores, dtype=float)))


@dataclass(frozen=True)
class Plausibility:
    """Dataset plausibility of attributions against one human rationale per text."""

    token_f1: float
    iou_f1: float
    auprc: float
    k: int | None  # the fixed k used, or None when each text used its own
    n: int
    per_item_token_f1: list[float] = field(default_factory=list)


def _mean(values: Iterable[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return float(sum(kept) / len(kept)) if kept else math.nan


def plausibility(
    humans: Sequence[Iterable[int]],
    scores: Sequence[Sequence[float]],
    *,
    k: int | None = None,
    iou_threshold: float = IOU_THRESHOLD,
) -> Plausibility:
    """Token F1, IOU-F1 and AUPRC of ``scores`` (per text, per word) against ``humans``.

    The hard rationale is the top ``k`` words of each text; ``k=None`` takes ERASER's choice,
    the mean human rationale length over the dataset (rounded, at least 1).
    """
    truths = [set(h) for h in humans]
    if len(truths) != len(scores):
        raise ValueError(f"{len(truths)} rationales but {len(scores)} score lists.")
    if not truths:
        return Plausibility(math.nan, math.nan, math.nan, k, 0)
    k_used = k if k is not None else max(1, round(sum(len(h) for h in truths) / len(truths)))
    predicted = [set(top_k_tokens(s, k_used)) for s in scores]
    f1s = [token_f1(h, p) for h, p in zip(truths, predicted, strict=True)]
    ious = [iou_prf(h, p, iou_threshold) for h, p in zip(truths, predicted, strict=True)]
    iou = _f1(_mean(r.precision for r in ious), _mean(r.recall for r in ious))
    aps = [auprc(h, s) for h, s in zip(truths, scores, strict=True)]
    return Plausibility(_mean(f1s), iou, _mean(aps), k_used, len(truths), f1s)


# --- faithfulness -------------------------------------------------------------------------


def _probabilities(predict_proba: PredictProba, texts: Sequence[str]) -> np.ndarray:
    probs = np.asarray(predict_proba(list(texts)), dtype=float)
    if probs.ndim != 2 or probs.shape[0] != len(texts):
        raise ValueError(
            f"predict_proba must return an (n, classes) array; got shape {probs.shape} "
            f"for {len(texts)} texts."
        )
    return probs


def memoised(predict_proba: PredictProba) -> Callable[[Sequence[str]], np.ndarray]:
    """``predict_proba`` that asks the model once per distinct text (ERASER's variants repeat:
    the full text for every rationale of a post, the same top-k text for every reader)."""
    memo: dict[str, np.ndarray] = {}

    def call(texts: Sequence[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in memo]
        if todo:
            memo.update(zip(todo, _probabilities(predict_proba, todo), strict=True))
        if not texts:
            return np.zeros((0, 2))
        return np.stack([memo[t] for t in texts])

    return call


def _targets(full: np.ndarray, target: int | None) -> np.ndarray:
    """The explained class per text: ``target`` for all, or (ERASER) the predicted class."""
    if target is None:
        return full.argmax(axis=1)
    return np.full(full.shape[0], target)


@dataclass(frozen=True)
class Faithfulness:
    """Mean comprehensiveness and sufficiency, with the per-text values behind them."""

    comprehensiveness: float
    sufficiency: float
    per_item_comprehensiveness: list[float]
    per_item_sufficiency: list[float]
    p_full: list[float]  # p(y | x) of the explained class, per text


def faithfulness(
    predict_proba: PredictProba,
    texts: Sequence[str],
    rationales: Sequence[Iterable[int]],
    *,
    target: int | None = None,
) -> Faithfulness:
    """Comprehensiveness ``p(y|x) − p(y|x∖r)`` and sufficiency ``p(y|x) − p(y|r)`` per text.

    ``y`` is ``target`` or, when None, the class the model predicts on the full text (as in
    ERASER). High comprehensiveness and low sufficiency mean the rationale is what the
    model used. All variants go to ``predict_proba`` in one call.
    """
    rationales = [set(r) for r in rationales]
    if len(texts) != len(rationales):
        raise ValueError(f"{len(texts)} texts but {len(rationales)} rationales.")
    if not texts:
        return Faithfulness(math.nan, math.nan, [], [], [])
    variants = []
    for text, rationale in zip(texts, rationales, strict=True):
        words = split_words(text)
        variants += [without_words(text, words, rationale), only_words(text, words, rationale)]
    probs = _probabilities(predict_proba, [*texts, *variants])
    n = len(texts)
    full, rest = probs[:n], probs[n:]
    y = _targets(full, target)
    rows = np.arange(n)
    p_full = full[rows, y]
    comp = p_full - rest[0::2][rows, y]
    suff = p_full - rest[1::2][rows, y]
    return Faithfulness(
        float(comp.mean()), float(suff.mean()), comp.tolist(), suff.tolist(), p_full.tolist()
    )


def bin_size(fraction: float, n_words: int) -> int:
    """Words in a top-``fraction`` bin: ``ceil(fraction · n)``, so a short post keeps one word."""
    return min(n_words, math.ceil(fraction * n_words - 1e-9))


@dataclass(frozen=True)
class AOPC:
    """Comprehensiveness and sufficiency averaged over the bins (the area over the curve)."""

    comprehensiveness: float
    sufficiency: float
    bins: tuple[float, ...]
    per_bin_comprehensiveness: list[float]  # mean over texts, one per bin
    per_bin_sufficiency: list[float]


def aopc(
    predict_proba: PredictProba,
    texts: Sequence[str],
    scores: Sequence[Sequence[float]],
    *,
    bins: Sequence[float] = AOPC_BINS,
    target: int | None = None,
) -> AOPC:
    """ERASER's AOPC: for each bin, the top ``bin_size`` words by score are the rationale.

    The AOPC values are the means over texts and bins of comprehensiveness and sufficiency
    (the two averages commute, as the reference code notes). Scores must have one value per
    word of :func:`split_words`.
    """
    if len(texts) != len(scores):
        raise ValueError(f"{len(texts)} texts but {len(scores)} score lists.")
    per_bin = []
    for fraction in bins:
        rationales = []
        for text, s in zip(texts, scores, strict=True):
            n_words = len(split_words(text))
            if len(s) != n_words:
                raise ValueError(f"{len(s)} scores for {n_words} words in {text[:40]!r}.")
            rationales.append(top_k_tokens(s, bin_size(fraction, n_words)))
        per_bin.append(faithfulness(predict_proba, texts, rationales, target=target))
    comp = [f.comprehensiveness for f in per_bin]
    suff = [f.sufficiency for f in per_bin]
    return AOPC(_mean(comp), _mean(suff), tuple(bins), comp, suff)


# --- human-human agreement ----------------------------------------------------------------


def _pair_f1(a: set[int], b: set[int]) -> float:
    # Two people who both highlight nothing agree completely; token F1 alone would say 0.
    return 1.0 if not a and not b else token_f1(a, b)


def pairwise_f1(rationales: Iterable[Iterable[int]]) -> float:
    """Mean token F1 over all pairs of one text's rationales (symmetric); NaN under two."""
    sets = [set(r) for r in rationales]
    pairs = [_pair_f1(a, b) for a, b in combinations(sets, 2)]
    return float(sum(pairs) / len(pairs)) if pairs else math.nan


def reliability_matrix(
    items: Sequence[Mapping[Hashable, Iterable[int]]], n_words: Sequence[int]
) -> tuple[list[Hashable], np.ndarray]:
    """``(annotators, matrix)``: one row per annotator, one column per (text, word) unit.

    A cell is 1 if the annotator highlighted that word, 0 if not, NaN if they did not
    annotate that text — the layout ``krippendorff.alpha`` reads as ``reliability_data``.
    """
    if len(items) != len(n_words):
        raise ValueError(f"{len(items)} items but {len(n_words)} word counts.")
    annotators = sorted({a for item in items for a in item}, key=str)
    row = {a: i for i, a in enumerate(annotators)}
    matrix = np.full((len(annotators), int(sum(n_words))), np.nan)
    offset = 0
    for item, n in zip(items, n_words, strict=True):
        for annotator, rationale in item.items():
            marks = np.zeros(n)
            marks[[i for i in set(rationale) if 0 <= i < n]] = 1.0
            matrix[row[annotator], offset : offset + n] = marks
        offset += n
    return annotators, matrix


@dataclass(frozen=True)
class Agreement:
    mean_pairwise_f1: float  # mean over texts (with ≥ 2 rationales) of their mean pairwise F1
    alpha: float  # Krippendorff's α, nominal, over word-level highlight labels; NaN if undefined
    n_items: int  # texts with at least two rationales
    n_annotators: int


def rationale_agreement(
    items: Sequence[Mapping[Hashable, Iterable[int]]], n_words: Sequence[int]
) -> Agreement:
    """Human–human agreement on rationales: ``items[i]`` maps annotator → word indices of text i."""
    import krippendorff

    per_item = [pairwise_f1(item.values()) for item in items]
    annotators, matrix = reliability_matrix(items, n_words)
    try:
        alpha = float(krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"))
    except ValueError:
        # krippendorff refuses data with a single value or no pairable unit: α is undefined.
        alpha = math.nan
    return Agreement(
        _mean(per_item), alpha, sum(1 for v in per_item if not math.isnan(v)), len(annotators)
    )
