"""A BM25 retrieval baseline: the top passage for each ``edited_question``, its title the answer.

The paper's retrieval baseline is DPR over a 2021 Wikipedia dump (PROTOCOLS.md §4.4); this
is the sparse stand-in a researcher can run over passages of their own, with no index to
download. For every qa_data row the question *with its context* (``edited_question``, e.g.
"… as of 2019", "… in texas") is the query; the passages are ranked by Okapi BM25
(``rank_bm25.BM25Okapi``, k1 = 1.5, b = 0.75) and the best one's **title** is the
predicted answer, since SituatedQA's answers are mostly entities, dates and numbers that
name a Wikipedia article (a title is an exact-match answer; a passage's text never is).
A query sharing no word with any passage gets the empty answer (wrong under exact match).
The rows come back in the predictions format (dataset row + ``pred_answer``), plus
``pred_passage_id`` and ``pred_score``, ready for :func:`ml.situatedqa.evaluate.report`.

Passages: JSONL lines ``{"id", "title", "text"}``, or DPR's ``psgs_w100.tsv`` layout (a
header ``id<TAB>text<TAB>title``, then one passage per line).
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from rank_bm25 import BM25Okapi

from .evaluate import Score, report
from .formats import FormatError, LineProblem, Source, Variant, iter_lines, source_name

_WORD = re.compile(r"\w+")
PASSAGE_FIELDS = ("id", "title", "text")


@dataclass(frozen=True)
class Passage:
    id: str
    title: str
    text: str


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens (Unicode letters and digits), accents kept as written (NFKC)."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def _passage(line: int, obj: Any, problems: list[LineProblem]) -> Passage | None:
    if not isinstance(obj, Mapping):
        problems.append(LineProblem(line, "each line must be a JSON object"))
        return None
    found = []
    for name in PASSAGE_FIELDS:
        value = obj.get(name)
        if name == "id" and isinstance(value, int) and not isinstance(value, bool):
            continue
        if not isinstance(value, str) or (name != "id" and not value.strip()):
            found.append(
                f'"{name}" must be a non-empty string' if name in obj else f'missing "{name}"'
            )
    problems.extend(LineProblem(line, p) for p in found)
    if found:
        return None
    return Passage(str(obj["id"]), obj["title"], obj["text"])


def read_passages(source: Source, *, name: str | None = None) -> list[Passage]:
    """Passages from a ``.jsonl`` or DPR ``.tsv`` file; every bad line named in one ``FormatError``."""
    label = name or source_name(source)
    problems: list[LineProblem] = []
    passages: list[Passage] = []
    if label.lower().endswith(".tsv"):
        lines = list(iter_lines(source))
        header = lines[0][1].split("\t") if lines else []
        if [h.strip().lower() for h in header] != ["id", "text", "title"]:
            raise FormatError([LineProblem(1, "the header must be id, text, title")], name=label)
        for number, text in lines[1:]:
            if not text.strip():
                continue
            cells = next(csv.reader(io.StringIO(text), delimiter="\t"))
            if len(cells) != 3:
                problems.append(
                    LineProblem(number, f"expected 3 tab-separated cells, got {len(cells)}")
                )
                continue
            passage = _passage(
                number, dict(zip(("id", "text", "title"), cells, strict=True)), problems
            )
            passages += [passage] if passage else []
    elif label.lower().endswith((".jsonl", ".ndjson")):
        for number, text in iter_lines(source):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                problems.append(LineProblem(number, f"not valid JSON ({exc.msg})"))
                continue
            passage = _passage(number, obj, problems)
            passages += [passage] if passage else []
    else:
        raise ValueError(f"unknown passage file type {label!r}: use .jsonl or .tsv")
    if problems:
        raise FormatError(problems, name=label)
    if not passages:
        raise FormatError([LineProblem(1, "no passages in the file")], name=label)
    return passages


class BM25Retriever:
    """Okapi BM25 over passage titles and texts (the title counts as part of the passage)."""

    def __init__(self, passages: Sequence[Passage], *, k1: float = 1.5, b: float = 0.75):
        if not passages:
            raise ValueError("BM25 needs at least one passage.")
        self.passages = list(passages)
        corpus = [tokenize(f"{p.title} {p.text}") for p in self.passages]
        if not any(corpus):
            raise ValueError("The passages hold no words to index.")
        self.index = BM25Okapi(corpus, k1=k1, b=b)

    def top(self, query: str) -> tuple[Passage, float] | None:
        """The best passage and its score (the first in file order on a tie); None if no match."""
        words = [w for w in tokenize(query) if w in self.index.idf]
        if not words:
            return None
        scores = np.asarray(self.index.get_scores(words))
        best = int(scores.argmax())
        return self.passages[best], float(scores[best])


def bm25_predictions(
    rows: Sequence[Mapping[str, Any]], passages: Sequence[Passage]
) -> list[dict[str, Any]]:
    """Each qa row with ``pred_answer`` (the top passage's title), ``pred_passage_id``, ``pred_score``."""
    retriever = BM25Retriever(passages)
    out = []
    for row in rows:
        hit = retriever.top(row["edited_question"])
        passage, score = hit if hit else (None, None)
        out.append(
            {
                **row,
                "pred_answer": passage.title if passage else "",
                "pred_passage_id": passage.id if passage else None,
                "pred_score": score,
            }
        )
    return out


def bm25_report(
    rows: Sequence[Mapping[str, Any]], passages: Sequence[Passage], *, variant: Variant
) -> dict[str, Score]:
    """The official breakdown (static/sampled/start/total/any, or common/rare/total/any)."""
    return report(bm25_predictions(rows, passages), variant=variant)
