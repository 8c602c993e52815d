"""The counterfactual design's free-text variant: people say in a few words what changed.

StylEx ran a "verbal description" study beside its classification one (PROTOCOLS §5b): the
participant watches the flicker and describes the attribute. Here the answer is scored
against the pair's **keywords** (manifest column ``keywords``, ``;``-separated, synonyms and
spellings listed by the researcher: ``colour; color; hue``). Without keywords, the content
words of the pair's ``attribute`` are its keywords.

**Matching** (lemma-free, documented so a researcher can predict it): the answer and each
keyword are cut into words (runs of letters and digits), casefolded (``Colour`` = ``colour``),
with no stemming or lemmatisation (``colours`` does not match ``colour``: list both). A keyword
of several words ("skin tone") matches when every one of its words occurs in the answer, in any
order; the answer counts as correct when any keyword matches.

**No chance rate.** A free answer has no fixed set of options, so there is no chance level to
test against. The results report each attribute's accuracy with a Wilson score interval, and,
as an empirical baseline, the **cross-match rate**: the share of answers given to pairs of
*other* attributes that this attribute's keywords also match. Keywords that match anything
(``change``) show up as a high cross-match rate; Fisher's exact test compares the two shares.
Per attribute, the most frequent description and its share (StylEx's agreement on the modal
normalised description) and every distinct answer are listed for the researcher to read.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from scipy.stats import fisher_exact
from statsmodels.stats.proportion import proportion_confint

from apps.core.registry import InvalidValue, Table

from .schemas import DESCRIBE_MAX_CHARS, DESCRIBE_MAX_WORDS

WORD_RE = re.compile(r"[^\W_]+")
# Left out of a default keyword list and of the grouped description, never out of a match.
STOP_WORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the their this "
    "to was were with".split()
)
ANSWERS_SHOWN = 40  # distinct answers listed per attribute; the export holds all of them


def clean_description(raw: object) -> str:
    """What is stored: NFKC-normalised, control and format characters removed, every run of
    white space one space, trimmed. HTML is not interpreted here; pages escape it."""
    text = unicodedata.normalize("NFKC", str(raw or ""))
    # Tabs and line breaks (Cc) separate words; zero-width and private-use characters go.
    text = "".join(
        " " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c
        for c in text
        if unicodedata.category(c) not in ("Cf", "Co", "Cn", "Cs")
    )
    return " ".join(text.split())


def words_of(text: str) -> list[str]:
    """Casefolded words (letters and digits) of ``text``; punctuation and spaces separate."""
    return WORD_RE.findall(unicodedata.normalize("NFKC", text).casefold())


def description_check(raw: object) -> str:
    """The cleaned description, or InvalidValue naming the ``text`` field."""
    text = clean_description(raw)
    if not words_of(text):
        raise InvalidValue({"text": ["Describe the change in a few words."]})
    if len(text) > DESCRIBE_MAX_CHARS:
        raise InvalidValue(
            {"text": [f"Keep it short: at most {DESCRIBE_MAX_CHARS} characters ({len(text)} now)."]}
        )
    if len(text.split()) > DESCRIBE_MAX_WORDS:
        raise InvalidValue({"text": [f"Use at most {DESCRIBE_MAX_WORDS} words."]})
    return text


def parse_keywords(cell: str) -> tuple[str, ...]:
    """A manifest cell ``colour; color ;hue`` as ``("colour", "color", "hue")`` (blanks dropped)."""
    return tuple(k for k in (" ".join(part.split()) for part in cell.split(";")) if k)


def keywords_of(payload: dict) -> list[str]:
    """The pair's keywords: the manifest's, else the content words of its attribute."""
    given = [k for k in payload.get("keywords") or [] if words_of(k)]
    if given:
        return given
    words = words_of(payload.get("attribute", ""))
    return [w for w in dict.fromkeys(words) if w not in STOP_WORDS] or words


def matches(text: str, keywords: Iterable[str]) -> str | None:
    """The first keyword all of whose words occur in ``text`` (see the module's rule), or None."""
    present = set(words_of(text))
    for keyword in keywords:
        needed = words_of(keyword)
        if needed and all(w in present for w in needed):
            return keyword
    return None


def grouped(text: str) -> str:
    """The form under which answers are counted together: content words, casefolded."""
    words = words_of(text)
    return " ".join(w for w in words if w not in STOP_WORDS) or " ".join(words)


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proportion:
    k: int
    n: int
    low: float
    high: float

    @property
    def rate(self) -> float:
        return self.k / self.n if self.n else float("nan")


def wilson(k: int, n: int, confidence: float = 0.95) -> Proportion | None:
    if n == 0:
        return None
    low, high = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
    rate = k / n  # the interval holds it, also where rounding says otherwise
    return Proportion(k, n, min(float(low), rate), max(float(high), rate))


@dataclass(frozen=True)
class AttributeScore:
    attribute: str
    accuracy: Proportion
    cross: Proportion | None  # other attributes' answers its keywords match
    p_value: float | None  # Fisher's exact test, accuracy against the cross-match rate
    modal: str  # the most frequent grouped description
    modal_share: float
    answers: list[tuple[str, int, bool]]  # (description as typed, how many, counts as correct)


def scores(answers: Sequence, confidence: float = 0.95) -> list[AttributeScore]:
    """Per attribute (sorted): accuracy, the cross-match baseline, the answers people gave.

    ``answers`` are ``selectors.Answer`` rows of describe answers; an attribute's keywords are
    the union over its pairs."""
    by_attribute: dict[str, list] = defaultdict(list)
    keywords: dict[str, list[str]] = defaultdict(list)
    for a in answers:
        by_attribute[a.attribute].append(a)
        for k in a.keywords:
            if k not in keywords[a.attribute]:
                keywords[a.attribute].append(k)
    out = []
    for attribute in sorted(by_attribute):
        rows = by_attribute[attribute]
        k = sum(bool(a.value.get("correct")) for a in rows)
        accuracy = wilson(k, len(rows), confidence)
        assert accuracy is not None
        others = [a for a in answers if a.attribute != attribute]
        crossed = sum(matches(a.value["text"], keywords[attribute]) is not None for a in others)
        cross = wilson(crossed, len(others), confidence)
        p_value = None
        if cross is not None:
            table = [[k, len(rows) - k], [crossed, len(others) - crossed]]
            p_value = float(fisher_exact(table).pvalue)
        groups = Counter(grouped(a.value["text"]) for a in rows)
        modal, modal_count = min(groups.items(), key=lambda kv: (-kv[1], kv[0]))
        typed: dict[str, str] = {}
        for a in rows:
            typed.setdefault(grouped(a.value["text"]), a.value["text"])
        listed = sorted(groups.items(), key=lambda kv: (-kv[1], kv[0]))
        out.append(
            AttributeScore(
                attribute=attribute,
                accuracy=accuracy,
                cross=cross,
                p_value=p_value,
                modal=typed[modal],
                modal_share=modal_count / len(rows),
                answers=[
                    (typed[g], n, matches(typed[g], keywords[attribute]) is not None)
                    for g, n in listed
                ],
            )
        )
    return out


def _share(p: Proportion | None) -> str:
    return "—" if p is None else f"{p.rate:.3f}"


def _interval(p: Proportion | None) -> str:
    return "—" if p is None else f"{p.low:.3f}–{p.high:.3f}"


def tables(attributes: list[AttributeScore], confidence: float) -> list[Table]:
    level = f"{confidence:.0%}"
    summary = Table(
        title="Can people name what the counterfactual changed? (free descriptions)",
        columns=[
            "Attribute",
            "Accuracy",
            f"{level} CI (Wilson)",
            "Named / answers",
            "Other attributes' answers matching",
            "p (Fisher exact)",
            "Most frequent description (share)",
        ],
        rows=[
            [
                s.attribute,
                _share(s.accuracy),
                _interval(s.accuracy),
                f"{s.accuracy.k} / {s.accuracy.n}",
                "—" if s.cross is None else f"{s.cross.rate:.3f} ({s.cross.k} / {s.cross.n})",
                "—" if s.p_value is None else f"{s.p_value:.4g}",
                f"{s.modal} ({s.modal_share:.0%})",
            ]
            for s in attributes
        ],
        note="An answer names the attribute when it contains every word of one of the pair's "
        "keywords (casefolded words, no stemming: list \u201ccolour; color; colours\u201d). A free "
        "answer has no chance level, so accuracy comes with a Wilson interval and, as the "
        "baseline, the share of answers to other attributes' pairs that these keywords match "
        "too; p is Fisher's exact test of the two shares. Blocked participants are left out.",
    )
    listed = Table(
        title="What people wrote, per attribute",
        columns=["Attribute", "Description", "People", "Names the attribute"],
        rows=[
            [s.attribute, text, n, "yes" if named else "no"]
            for s in attributes
            for text, n, named in s.answers[:ANSWERS_SHOWN]
        ],
        note="Answers counted together when their words agree apart from case and the words "
        f"{', '.join(sorted(STOP_WORDS)[:6])}, …; the first spelling is shown. At most "
        f"{ANSWERS_SHOWN} per attribute; the Answers export holds every one.",
    )
    return [summary, listed]
