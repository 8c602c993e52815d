"""Agreement and aggregation over a project's answers, from well-kept libraries.

Only regular items and answers of non-blocked participants count (blocked participants'
answers stay in the database but are excluded here). Labels come from the task type's
``label_of``; a ``None`` label (no categorical answer) is left out.
"""

from __future__ import annotations

import functools
import gc
import json
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, NamedTuple

import krippendorff
import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from scipy import sparse
from statsmodels.stats.proportion import proportion_confint

from . import registry
from .models import Annotation, Item, Participant, Project

# Within :func:`shared_reads` (the worker's results task), a project's answers are read once
# and each aggregation computed once, however many figure sets ask for them.
_SHARED: ContextVar[dict | None] = ContextVar("quality_shared_reads", default=None)


@contextmanager
def shared_reads() -> Iterator[None]:
    """Read each project's answers once, and aggregate them once per method, inside the block
    (nested blocks share the outer one's reads).

    Python's cyclic garbage collector is paused inside: a million answers make millions of
    small objects (one aggregate per item), none in a cycle, and each collection walks them
    all again, which cost three quarters of an aggregation's time. Reference counting still
    frees everything; the collector runs again when the block ends.
    """
    if _SHARED.get() is not None:
        yield
        return
    token = _SHARED.set({})
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        _SHARED.reset(token)
        if collecting:
            gc.enable()


def _memo(key: tuple, compute: Callable[[], Any]) -> Any:
    shared = _SHARED.get()
    if shared is None:
        return compute()
    if key not in shared:
        shared[key] = compute()
    return shared[key]


def streamed() -> AbstractContextManager:
    """Where a large read's server-side cursor streams: in a transaction (outside one Django
    declares it WITH HOLD, and PostgreSQL copies the whole result before the first row). An
    open transaction is used as it is."""
    return nullcontext() if connection.in_atomic_block else transaction.atomic()


# Up to this many gold/attention items are left out of the answers read by id; more, by a join.
_CONTROLS_BY_ID = 5000


class _Decoded(dict):
    """An answer's JSON text → its label, decoded once per distinct text."""

    def __init__(self, label_of: Callable[[Any], Any]):
        super().__init__()
        self.label_of = label_of

    def __missing__(self, text: str) -> Any:
        label = self[text] = self.label_of(json.loads(text))
        return label


def _answers_read(project: Project) -> pd.DataFrame:
    """Every answer to a regular item, in one streamed query (a server-side cursor on
    PostgreSQL): ``id``, ``task``, ``worker``, ``label`` (None: no categorical answer),
    ``duration_ms`` and ``blocked`` (the participant is blocked).

    The value comes as its JSON text and ``label_of`` runs once per distinct text, so a
    million answers of a few distinct values decode a few values, not a million.
    """
    task_type = registry.get(project.task_type)
    blocked = set(
        Participant.objects.filter(project=project, status=Participant.Status.BLOCKED).values_list(
            "pk", flat=True
        )
    )
    # The few gold and attention items are left out by id: joining a million answers to the
    # items to test their kind costs PostgreSQL four times the scan (a hash spilled to disk).
    controls = list(
        Item.objects.filter(project=project)
        .exclude(kind=Item.Kind.REGULAR)
        .values_list("pk", flat=True)[: _CONTROLS_BY_ID + 1]
    )
    answers = Annotation.objects.filter(project=project)
    if len(controls) > _CONTROLS_BY_ID:
        answers = answers.filter(item__kind=Item.Kind.REGULAR)
    elif controls:
        answers = answers.exclude(item_id__in=controls)
    sql, params = (
        answers.annotate(value_text=Cast("value", TextField()))
        .values_list("id", "item_id", "participant_id", "value_text", "duration_ms")
        .query.sql_with_params()
    )
    decoded = _Decoded(task_type.label_of)
    # Machine integers, not a list of Python ints: 8 bytes an answer and column, not 36.
    ids, tasks, workers, durations = (array("q") for _ in range(4))
    labels: list[Any] = []
    # In a transaction Django's server-side cursor streams; outside one it is WITH HOLD, which
    # PostgreSQL copies whole before the first row. Rows come in chunks, split into columns
    # with zip (no Python code per answer).
    with streamed(), connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(20000):
            pk, item_id, participant_id, text, duration = zip(*chunk, strict=True)
            ids.extend(pk)
            tasks.extend(item_id)
            workers.extend(participant_id)
            labels.extend(map(decoded.__getitem__, text))
            durations.extend(duration)
    frame = pd.DataFrame(
        {
            "id": np.array(ids, dtype=np.int64),
            "task": np.array(tasks, dtype=np.int64),
            "worker": np.array(workers, dtype=np.int64),
            "label": pd.Series(labels, dtype=object),
            "duration_ms": np.array(durations, dtype=np.int64),
        }
    )
    frame["blocked"] = frame["worker"].isin(blocked) if blocked else False
    return frame


def answers_read(project: Project) -> pd.DataFrame:
    """:func:`_answers_read`, shared within :func:`shared_reads`."""
    return _memo(("answers", project.pk), lambda: _answers_read(project))


def answers_frame(project: Project, *, include_blocked: bool = False) -> pd.DataFrame:
    """One row per counted answer: ``task`` (item id), ``worker`` (participant id), ``label``."""

    def compute() -> pd.DataFrame:
        frame = answers_read(project)
        keep = frame["label"].notna()
        if not include_blocked:
            keep &= ~frame["blocked"]
        return frame.loc[keep, ["task", "worker", "label"]].reset_index(drop=True)

    return _memo(("frame", project.pk, include_blocked), compute)


def krippendorff_alpha(frame: pd.DataFrame, level: str = "nominal") -> float | None:
    """Krippendorff's alpha for the frame's labels; None when there is too little overlap.

    The library gets the per-item counts of each value (``value_counts``): items × values, not
    the annotators × items matrix, which at a million answers would not fit. A participant
    who answered an item twice counts once (their first answer).
    """
    if frame.empty:
        return None
    frame = frame.drop_duplicates(["task", "worker"])
    task_codes, tasks = pd.factorize(frame["task"])
    if np.bincount(task_codes).max() < 2:
        return None
    if level == "nominal":
        domain = sorted(frame["label"].unique(), key=str)
        label_codes = pd.Categorical(frame["label"], categories=domain).codes
        value_domain = np.arange(len(domain), dtype=float)
    else:
        values = frame["label"].astype(float).to_numpy()
        value_domain = np.unique(values)
        label_codes = np.searchsorted(value_domain, values)
    if len(value_domain) < 2:
        return 1.0
    width = len(value_domain)
    counts = np.bincount(task_codes * width + label_codes, minlength=len(tasks) * width).reshape(
        len(tasks), width
    )
    counts = counts[counts.sum(axis=1) >= 2]  # items with one answer pair with nothing
    if not len(counts):
        return None
    alpha = float(
        krippendorff.alpha(
            value_counts=counts,
            value_domain=value_domain,
            level_of_measurement=level,  # type: ignore[arg-type]
        )
    )
    return alpha if np.isfinite(alpha) else None  # no disagreement to expect: undefined


class Aggregate(NamedTuple):
    """One item's aggregated label (a tuple: a third of a million of them are built at once)."""

    label: Any
    confidence: float
    n: int
    tie: bool = False  # two or more labels share the top score; ``label`` sorts first of them


# crowd-kit's floor on probabilities and error rates (``dawid_skene._EPS``).
_EPS = 1e-10


@dataclass(frozen=True)
class _Coded:
    """A frame's answers as integer codes, and the items × (worker, label) count matrix."""

    tasks: np.ndarray  # item id per row of the matrices
    labels: list  # label per column
    votes: np.ndarray  # items × labels vote counts
    answers: sparse.csr_matrix  # items × (worker · labels + label): how often each was given
    n: int


def _coded(frame: pd.DataFrame) -> _Coded:
    task_codes, tasks = pd.factorize(frame["task"], sort=True)
    worker_codes, workers = pd.factorize(frame["worker"])
    label_codes, labels = pd.factorize(frame["label"])
    width = len(labels)
    votes = np.bincount(task_codes * width + label_codes, minlength=len(tasks) * width)
    pairs = worker_codes * width + label_codes
    answers = sparse.csr_matrix(
        (np.ones(len(frame)), (task_codes, pairs)), shape=(len(tasks), len(workers) * width)
    )
    return _Coded(
        tasks=np.asarray(tasks),
        labels=list(labels),
        votes=votes.reshape(len(tasks), width).astype(float),
        answers=answers,
        n=len(frame),
    )


def _dawid_skene(coded: _Coded, *, n_iter: int = 100, tol: float = 1e-5) -> np.ndarray:
    """Items × labels posteriors of Dawid and Skene's EM, step for step crowd-kit's
    ``DawidSkene(n_iter=100, tol=1e-5)`` (majority-vote start, error floor ``_EPS``, the same
    evidence lower bound per answer and stopping rule), computed with one sparse product per
    step instead of pandas joins: crowd-kit 1.4 needs ~0.35 s per iteration at a million
    answers and often 90 iterations, this ~10 ms. ``tests/core/test_quality.py`` checks it
    against crowd-kit.
    """
    width = len(coded.labels)
    answers, answers_t = coded.answers, coded.answers.T.tocsr()
    given = np.asarray(answers.sum(axis=0)).ravel() > 0  # (worker, label) pairs seen
    per_item = np.asarray(answers.sum(axis=1)).ravel()

    def m_step(probas: np.ndarray) -> np.ndarray:
        errors = answers_t @ probas  # (worker · labels + label) × true label
        errors[given] = np.maximum(errors[given], _EPS)
        errors = errors.reshape(-1, width, width)
        errors /= errors.sum(axis=1, keepdims=True)
        return errors.reshape(-1, width)

    def log_errors(errors: np.ndarray) -> np.ndarray:
        logs = np.zeros_like(errors)
        np.log(errors, out=logs, where=errors > 0)  # pairs never given never enter a sum
        return logs

    # Reductions along the short label axis of an items × labels array are numpy's slow case
    # (12 ms at 333k items against 0.4 ms as a product with ones), so rows go through BLAS.
    ones_labels, ones_items = np.ones(width), np.ones(len(per_item))

    def row_max(x: np.ndarray) -> np.ndarray:
        return functools.reduce(np.maximum, x.T)

    probas = coded.votes / (coded.votes @ ones_labels)[:, None]
    priors = (ones_items @ probas) / len(per_item)
    errors = m_step(probas)
    evidence = answers @ log_errors(errors)  # items × true label: log P(answers | label)
    loss = -np.inf
    for _ in range(n_iter):
        log_prior = np.log(np.maximum(priors, _EPS))
        likelihood = evidence + log_prior
        likelihood = np.exp(likelihood - row_max(likelihood)[:, None])
        probas = likelihood / (likelihood @ ones_labels)[:, None]
        priors = (ones_items @ probas) / len(per_item)
        errors = m_step(probas)
        evidence = answers @ log_errors(errors)  # this ELBO's, and the next e-step's
        joint = float(
            (probas * evidence).sum() + (per_item @ probas) @ np.log(np.maximum(priors, _EPS))
        )
        probas = np.maximum(probas, _EPS)
        entropy = float(-(np.log(probas) * probas).sum())
        new_loss = (joint + entropy) / coded.n
        if new_loss - loss < tol:
            break
        loss = new_loss
    return probas


def aggregate(frame: pd.DataFrame, method: str = "majority") -> dict[int, Aggregate]:
    """One label per item with its confidence: ``majority`` vote (vote shares) or
    ``dawid_skene`` (crowd-kit's algorithm, :func:`_dawid_skene`).

    Ties (majority: equal vote counts) go to the label that sorts first; the confidence shows
    the tie (0.5 for two labels).
    """
    if method not in {"majority", "dawid_skene"}:
        raise KeyError(method)
    if frame.empty:
        return {}
    coded = _coded(frame)
    if method == "majority":
        scores = coded.votes / coded.votes.sum(axis=1, keepdims=True)
    else:
        scores = _dawid_skene(coded)
    # One tie rule for every caller (results, exports, training labels): a tie goes to the
    # label that sorts first, whatever order the answers were read in.
    order = sorted(range(len(coded.labels)), key=lambda i: str(coded.labels[i]))
    columns = [coded.labels[i] for i in order]
    scores = scores[:, order]
    best = scores.argmax(axis=1)  # the first of equal maxima: the label that sorts first
    top = scores[np.arange(len(scores)), best]
    ties = (scores >= top[:, None] - 1e-12).sum(axis=1) > 1
    counts = coded.votes.sum(axis=1)
    chosen = [columns[b] for b in best.tolist()]
    built = map(
        Aggregate._make,
        zip(chosen, top.tolist(), counts.astype(int).tolist(), ties.tolist(), strict=True),
    )
    return dict(zip(coded.tasks.astype(np.int64).tolist(), built, strict=True))


def project_aggregate(project: Project, method: str = "majority") -> dict[int, Aggregate]:
    """The project's counted answers aggregated by ``method`` (shared in :func:`shared_reads`)."""
    return _memo(
        ("aggregate", project.pk, method), lambda: aggregate(answers_frame(project), method)
    )


# --- against a reference, and per annotator ----------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """Predicted labels against reference labels on the items both have.

    With ``positive`` set, precision/recall/F1 are those of that class (binary); otherwise they
    are macro-averaged over ``labels``. ``confusion[i][j]`` counts items whose reference is
    ``labels[i]`` and whose prediction is ``labels[j]``. Wilson 95 % intervals come with the
    positive class's precision and recall (they are proportions; F1 is not).
    """

    n: int
    labels: tuple
    positive: Any
    precision: float | None
    recall: float | None
    f1: float | None
    accuracy: float | None
    confusion: list[list[int]]
    precision_interval: tuple[float, float] | None = None
    recall_interval: tuple[float, float] | None = None


def proportion_interval(successes: int, trials: int, confidence: float = 0.95):
    """Wilson score interval of a proportion (statsmodels' ``proportion_confint``, the same
    bounds as scipy's ``binomtest(...).proportion_ci(method="wilson")`` at a seventh of the
    cost, which counts when every annotator of a large project gets two), held inside [0, 1]
    and around the rate itself; None without trials."""
    if trials <= 0:
        return None
    rate = successes / trials
    low, high = proportion_confint(
        int(successes), int(trials), alpha=1 - confidence, method="wilson"
    )
    return (float(min(max(low, 0.0), rate)), float(max(min(high, 1.0), rate)))


def _label_codes(
    values: Sequence[Any] | np.ndarray, labels: tuple
) -> tuple[np.ndarray, np.ndarray]:
    """Each value's code among all the values (equal JSON values, equal codes) and its index in
    ``labels`` (-1: not one of them); ``json_ready`` runs once per distinct value."""
    codes, uniques = pd.factorize(pd.Series(list(values), dtype=object), use_na_sentinel=False)
    index = {label: i for i, label in enumerate(labels)}
    ready = [registry.json_ready(u) for u in uniques]
    merged: dict[Any, int] = {}
    same = np.empty(len(ready), dtype=np.int64)
    inside = np.empty(len(ready), dtype=np.int64)
    for i, value in enumerate(ready):
        try:  # Python's equality, as ``t == p`` (1 == 1.0)
            same[i] = merged.setdefault(value, len(merged))
            inside[i] = index.get(value, -1)
        except TypeError:  # an unhashable value (a list) is no label
            same[i] = merged.setdefault(json.dumps(value, sort_keys=True), len(merged))
            inside[i] = -1
    return same[codes], inside[codes]


def compare_to_reference(
    pred: Mapping[Any, Any],
    ref: Mapping[Any, Any],
    labels: Sequence[Any],
    *,
    positive: Any = None,
) -> Comparison:
    """Precision, recall, F1, accuracy and the confusion matrix of ``pred`` against ``ref``,
    both mappings from an item key to a label, on the keys they share. Labels outside
    ``labels`` count as wrong; a class never predicted scores 0, not an error.

    The figures are scikit-learn's (``confusion_matrix``, ``precision_recall_fscore_support``
    with ``zero_division=0``), counted here with numpy: at a third of a million items
    scikit-learn spends seconds sorting the label strings. ``tests/core/test_quality.py``
    checks them against scikit-learn.
    """
    labels = tuple(registry.json_ready(label) for label in labels)
    keys = [k for k in pred if k in ref]
    size = len(labels)
    if not keys:
        return Comparison(
            0, labels, positive, None, None, None, None, [[0] * size for _ in range(size)]
        )
    same, inside = _label_codes([ref[k] for k in keys] + [pred[k] for k in keys], labels)
    n = len(keys)
    t, p = inside[:n], inside[n:]
    accuracy = float((same[:n] == same[n:]).mean())
    both = (t >= 0) & (p >= 0)
    matrix = np.bincount(t[both] * size + p[both], minlength=size * size).reshape(size, size)
    hits = np.diag(matrix)
    said = np.bincount(p[p >= 0], minlength=size)  # every prediction of each label
    actual = np.bincount(t[t >= 0], minlength=size)

    def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.divide(a, b, out=np.zeros(len(a)), where=b > 0)

    precision, recall = ratio(hits, said), ratio(hits, actual)
    f1 = ratio(2 * hits, said + actual)
    if positive is not None:
        positive = registry.json_ready(positive)
        if positive in labels:
            i = labels.index(positive)
            tp, predicted, true = int(hits[i]), int(said[i]), int(actual[i])
            scores = (float(precision[i]), float(recall[i]), float(f1[i]))
        else:
            tp, predicted, true, scores = 0, 0, 0, (0.0, 0.0, 0.0)
        return Comparison(
            n=n,
            labels=labels,
            positive=positive,
            precision=scores[0],
            recall=scores[1],
            f1=scores[2],
            accuracy=accuracy,
            confusion=matrix.tolist(),
            precision_interval=proportion_interval(tp, predicted),
            recall_interval=proportion_interval(tp, true),
        )
    return Comparison(
        n,
        labels,
        None,
        float(precision.mean()),
        float(recall.mean()),
        float(f1.mean()),
        accuracy,
        matrix.tolist(),
    )


@dataclass(frozen=True)
class AnnotatorAgreement:
    """One annotator against the majority of the *other* annotators of the same items.

    Items where the others tie, or where nobody else answered, are left out (``compared``
    counts the rest). ``kappa`` is Cohen's kappa of the annotator's labels against the others'
    majority; None where it is undefined (both sides used one label only).
    """

    worker: int
    answers: int
    compared: int
    agreement: float | None
    kappa: float | None


def annotator_agreement(frame: pd.DataFrame) -> dict[int, AnnotatorAgreement]:
    """Per-annotator agreement with the leave-one-out majority, keyed by participant id.

    Vectorised over a million answers: the items × labels vote counts less the annotator's
    own vote give the others' counts for every answer at once.
    """
    if frame.empty:
        return {}
    answers = frame.groupby("worker").size()
    first = frame.drop_duplicates(["task", "worker"])  # the others' votes: one per person
    task_codes, tasks = pd.factorize(first["task"])
    label_codes, _ = _label_codes(first["label"].to_numpy(), ())
    width = int(label_codes.max()) + 1
    counts = np.bincount(task_codes * width + label_codes, minlength=len(tasks) * width).reshape(
        len(tasks), width
    )
    others = counts[task_codes]
    others[np.arange(len(first)), label_codes] -= 1
    top = others.max(axis=1)
    majority = others.argmax(axis=1)
    compared = (top > 0) & ((others == top[:, None]).sum(axis=1) == 1)
    worker_codes, workers = pd.factorize(first["worker"].to_numpy()[compared])
    mine, theirs = label_codes[compared], majority[compared]
    # Per annotator, their labels against the others' majority: kappa from the counts, as
    # scikit-learn's cohen_kappa_score computes it, for every annotator at once.
    cells = np.bincount(
        (worker_codes * width + mine) * width + theirs, minlength=len(workers) * width * width
    ).reshape(len(workers), width, width)
    compared_n = cells.sum(axis=(1, 2))
    observed = np.trace(cells, axis1=1, axis2=2)
    expected = (cells.sum(axis=2) * cells.sum(axis=1)).sum(axis=1) / np.maximum(compared_n, 1)
    row_of = {int(w): i for i, w in enumerate(workers)}
    result = {}
    for worker, n in answers.items():
        i = row_of.get(int(worker))
        size = 0 if i is None else int(compared_n[i])
        agreement = kappa = None
        if size:
            agreement = float(observed[i] / size)
            if size - expected[i] > 1e-9 * size:  # one label on both sides: undefined
                kappa = float((observed[i] - expected[i]) / (size - expected[i]))
        result[int(worker)] = AnnotatorAgreement(
            worker=int(worker), answers=int(n), compared=size, agreement=agreement, kappa=kappa
        )
    return result


def annotators_against_reference(
    frame: pd.DataFrame, ref: Mapping[Any, Any], labels: Sequence[Any], *, positive: Any = None
) -> dict[int, Comparison]:
    """Each annotator's own answers compared to the reference, keyed by participant id.

    With ``positive`` set (the binary case) every annotator is scored at once from their
    counts, so a thousand annotators cost one pass over the answers: the same figures as
    :func:`compare_to_reference` per annotator (``tests/core/test_quality.py`` checks it).
    """
    if positive is None or frame.empty:
        return {
            int(worker): compare_to_reference(
                dict(zip(answers["task"], answers["label"], strict=True)),
                ref,
                labels,
                positive=positive,
            )
            for worker, answers in frame.groupby("worker")
        }
    labels = tuple(registry.json_ready(label) for label in labels)
    size = len(labels)
    worker_codes, workers = pd.factorize(frame["worker"], sort=True)
    truth = frame["task"].map(ref)
    known = truth.notna().to_numpy()
    w = worker_codes[known]
    m = int(known.sum())
    same, coded = _label_codes(
        np.concatenate([truth.to_numpy()[known], frame["label"].to_numpy()[known]]), labels
    )
    t, p = coded[:m], coded[m:]
    positive = registry.json_ready(positive)
    mark = labels.index(positive) if positive in labels else -2  # -2: matches nothing
    count = len(workers)

    def per_worker(mask: np.ndarray) -> np.ndarray:
        return np.bincount(w[mask], minlength=count)

    n = np.bincount(w, minlength=count)
    correct = per_worker(same[:m] == same[m:])
    tp = per_worker((t == mark) & (p == mark))
    said = per_worker(p == mark)
    actual = per_worker(t == mark)
    inside = (t >= 0) & (p >= 0)
    cells = np.bincount(
        (w[inside] * size + t[inside]) * size + p[inside], minlength=count * size * size
    ).reshape(count, size, size)
    result = {}
    for i, worker in enumerate(workers):
        if not n[i]:
            result[int(worker)] = Comparison(
                0, labels, positive, None, None, None, None, [[0] * size for _ in range(size)]
            )
            continue
        precision = tp[i] / said[i] if said[i] else 0.0
        recall = tp[i] / actual[i] if actual[i] else 0.0
        errors = (said[i] - tp[i]) + (actual[i] - tp[i])
        result[int(worker)] = Comparison(
            n=int(n[i]),
            labels=labels,
            positive=positive,
            precision=float(precision),
            recall=float(recall),
            f1=float(2 * tp[i] / (2 * tp[i] + errors)) if tp[i] + errors else 0.0,
            accuracy=float(correct[i] / n[i]),
            confusion=cells[i].tolist(),
            precision_interval=proportion_interval(int(tp[i]), int(said[i])),
            recall_interval=proportion_interval(int(tp[i]), int(actual[i])),
        )
    return result
