"""The words of a post: the unit that people highlight and that attributions are scored on.

Words are defined here, by a regular expression over the original text, and not by a
tokenizer: the annotation page must render the same clickable words without loading a
model, and a human rationale (a set of word indices) must mean the same thing whichever
encoder produced the attributions. Sub-word tokens are mapped onto these words through
their character offsets (:func:`token_words`).

A word is a run of letters/digits with inner apostrophes or hyphens ("it's", "well-known"),
or a run of other non-space characters ("!!", an emoji), so punctuation can be left out of
a rationale.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

WORD_RE = re.compile(r"\w+(?:['’\-]\w+)*|[^\w\s]+")


@dataclass(frozen=True)
class Word:
    """One word of the text: ``text[start:end] == word.text`` (character offsets, end exclusive)."""

    index: int
    text: str
    start: int
    end: int

    def to_dict(self) -> dict:
        return {"index": self.index, "text": self.text, "start": self.start, "end": self.end}


def split_words(text: str) -> list[Word]:
    """The words of ``text`` in order, with character offsets into ``text``."""
    return [Word(i, m.group(), m.start(), m.end()) for i, m in enumerate(WORD_RE.finditer(text))]


def token_words(offsets: Sequence[tuple[int, int]], words: Sequence[Word]) -> list[int | None]:
    """For each token's ``(start, end)`` character span, the index of the word it falls in.

    Special tokens carry the empty span ``(0, 0)`` and map to ``None``. A token that overlaps
    several words (a tokenizer that merges across a boundary) goes to the first one; a
    token that overlaps none (only whitespace) maps to ``None``. Offsets are assumed to be
    sorted, as tokenizers emit them, so one pass over the words suffices.
    """
    out: list[int | None] = []
    w = 0
    for start, end in offsets:
        if end <= start:
            out.append(None)
            continue
        while w < len(words) and words[w].end <= start:
            w += 1
        out.append(words[w].index if w < len(words) and words[w].start < end else None)
    return out


def without_words(text: str, words: Sequence[Word], removed: Iterable[int]) -> str:
    """``text`` with the characters of the ``removed`` words cut out (the rest kept as is).

    This is ERASER's "x without the rationale": the surrounding whitespace stays, which a
    tokenizer ignores, so the model sees exactly the remaining words in their order.
    """
    drop = set(removed)
    pieces, cursor = [], 0
    for word in words:
        if word.index in drop:
            pieces.append(text[cursor : word.start])
            cursor = word.end
    pieces.append(text[cursor:])
    return "".join(pieces)


def only_words(text: str, words: Sequence[Word], kept: Iterable[int]) -> str:
    """The ``kept`` words alone, in text order, joined by single spaces (ERASER's "rationale only")."""
    keep = set(kept)
    return " ".join(word.text for word in words if word.index in keep)


def top_k_tokens(scores: Sequence[float], k: int) -> list[int]:
    """Indices of the ``k`` highest-scoring words, best first; ties go to the earlier word.

    Signed scores, not magnitudes: a rationale is the evidence *for* the explained class,
    and a word pushing towards the other class is not part of it. ``k`` past the number of
    words returns them all; ``k <= 0`` returns none.
    """
    order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))
    return order[: max(k, 0)]
