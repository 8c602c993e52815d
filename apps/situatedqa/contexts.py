"""From accepted answers to the (context, answer) pairs of the release: pure functions.

The release's rules (PROTOCOLS.md §4.2, ``ml/situatedqa/formats.py``), as followed here:

- a **temporal** question judged dependent has, for each accepted timeline (one stage-2
  response, or its correction): contexts *sampled* while each answer held — years strictly
  inside the span when the start is a year (``sampled_year``), full dates when the start is
  a full date (``sampled_date``) — and the *start* date of each answer (``start``), written
  as ``formats.format_date`` writes them ("2018", "April 07, 2019"). A context's answers are
  every timeline's answer at that date (the release's ``["2018", "2018"]`` of two
  collectors). Rows are ordered as the release orders them: each timeline's samples (current
  span, then previous; a span two collectors share is sampled once), then every timeline's
  starts; ``date_type`` is ``formats.date_type``.
- a temporal question judged **not** dependent that has NQ answers gets one static row
  (``orig``): a year sampled after NQ's collection, answered by the NQ answers.
- a **geographic** question judged dependent has the given (location, answers) pair when the
  collectors found it right, then every new pair, one context per location (answers of the
  same location from several collectors are merged, as "South Africa": [two answers]).

Dates are compared at the coarser of the two granularities: "2019" is after a start of
"April 07, 2019" (same year), "May 28, 2019" is. Samples are drawn with a seeded
``random.Random`` per question, so the rows are the same every time they are built.
"""

from __future__ import annotations

import calendar
import datetime as dt
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ml.situatedqa import formats
from ml.situatedqa.evaluate import normalize_answer

from .schemas import YEAR_IN_DATE

_MONTHS = {name.lower(): n for n, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): n for n, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9
_MONTH = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
_DAY_MONTH = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH + r"\b", re.I)
_MONTH_DAY = re.compile(r"\b" + _MONTH + r"\s+(\d{1,2})(?:st|nd|rd|th)?\b(?!\d)", re.I)
_MONTH_ONLY = re.compile(r"\b" + _MONTH + r"\b", re.I)
_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})(?:-(\d{1,2}))?(?!\d)")


@dataclass(frozen=True)
class When:
    """A date as a collector wrote it: a year, and the month and day when the text had them."""

    year: int
    month: int | None = None
    day: int | None = None

    @property
    def full(self) -> bool:
        return self.month is not None and self.day is not None

    def as_raw(self) -> dict[str, int | None]:
        """The release's ``{"year", "month", "date"}`` (raw_data ``cur_start``)."""
        return {"year": self.year, "month": self.month, "date": self.day}

    @property
    def text(self) -> str:
        """As the release writes a qa ``date``: "2018" or "April 07, 2019"."""
        text = formats.format_date(self.as_raw() if self.full else {"year": self.year})
        assert text is not None
        return text

    @property
    def as_date(self) -> dt.date:
        return dt.date(self.year, self.month or 1, self.day or 1)

    @property
    def decimal_year(self) -> float:
        """For plots: 2019.0 for "2019", 2019.26 for "April 07, 2019"."""
        if not self.full:
            return float(self.year)
        start = dt.date(self.year, 1, 1)
        days = 366 if calendar.isleap(self.year) else 365
        return self.year + (self.as_date - start).days / days


def has_year(text: str | None) -> bool:
    """The official form's check: the date contains four digits in a row."""
    return bool(text and YEAR_IN_DATE.search(text))


def parse_date(text: str | None) -> When | None:
    """The year (the first four digits), and the month and day if the text names them.

    "2018" → 2018; "July 11, 2018", "11 July 2018", "2018-07-11" → 2018-07-11; "2003–05" →
    2003. None when there is no 4-digit year (the form refuses such a date).
    """
    if not has_year(text):
        return None
    assert text is not None
    iso = _ISO.search(text)
    if iso and 1 <= int(iso.group(2)) <= 12:
        year, month = int(iso.group(1)), int(iso.group(2))
        day = int(iso.group(3)) if iso.group(3) else None
        return _checked(year, month, day)
    match = YEAR_IN_DATE.search(text)
    assert match is not None
    year = int(match.group(0))
    for pattern, month_group, day_group in ((_MONTH_DAY, 1, 2), (_DAY_MONTH, 2, 1)):
        found = pattern.search(text)
        if found:
            month = _MONTHS[found.group(month_group).lower().rstrip(".")[:3]]
            return _checked(year, month, int(found.group(day_group)))
    only = _MONTH_ONLY.search(text)
    if only:
        return When(year, _MONTHS[only.group(1).lower().rstrip(".")[:3]])
    return When(year)


def _checked(year: int, month: int, day: int | None) -> When:
    """A day that does not exist in that month (31 June) keeps the year and month only."""
    if day is not None and not 1 <= day <= calendar.monthrange(year, month)[1]:
        day = None
    return When(year, month, day)


def _holds_since(start: When, at: When) -> bool:
    if start.full and at.full:
        return at.as_date >= start.as_date
    return at.year >= start.year


@dataclass(frozen=True)
class Timeline:
    """One accepted stage-2 response of a temporal question: what holds now and since when,
    and what held before (None where the collector found none)."""

    cur_answer: str
    cur_start: When
    cur_full: str
    prev_answer: str | None = None
    prev_start: When | None = None
    prev_full: str | None = None
    list_answer: bool = False
    article_title: str = ""

    def answer_at(self, at: When) -> str | None:
        if _holds_since(self.cur_start, at):
            return self.cur_answer
        if self.prev_answer is not None and self.prev_start is not None:
            if _holds_since(self.prev_start, at):
                return self.prev_answer
        return None

    def as_raw(self) -> dict[str, Any]:
        """The release's timeline entry (raw_data ``timelines``), its keys in its order."""
        return {
            "cur_answers": [self.cur_answer],
            "cur_answers_full": self.cur_answer,
            "cur_start": self.cur_start.as_raw(),
            "prev_answers": None if self.prev_answer is None else [self.prev_answer],
            "prev_answers_full": self.prev_answer,
            "prev_start": None if self.prev_start is None else self.prev_start.as_raw(),
            "cur_start_full": self.cur_full,
            "prev_start_full": self.prev_full,
        }


def timeline_of(value: Mapping[str, Any]) -> Timeline | None:
    """The timeline of a temporal collect answer; None when its current answer is missing."""
    if value.get("cur_missing") or not value.get("cur_answer"):
        return None
    cur_start = parse_date(value.get("cur_answer_start"))
    if cur_start is None:
        return None
    prev_start = None if value.get("prev_missing") else parse_date(value.get("prev_answer_start"))
    prev_answer = value.get("prev_answer") if prev_start is not None else None
    return Timeline(
        cur_answer=value["cur_answer"],
        cur_start=cur_start,
        cur_full=value["cur_answer_start"],
        prev_answer=prev_answer,
        prev_start=prev_start if prev_answer else None,
        prev_full=value.get("prev_answer_start") if prev_answer else None,
        list_answer=bool(value.get("list_answer")),
        article_title=value.get("article_title") or "",
    )


def question_rng(*, seed: int, variant: str, question_id: Any) -> random.Random:
    return random.Random(f"{seed}:{variant}:{question_id}")


def _sample_span(
    start: When, end: When | None, *, present_year: int, count: int, rng: random.Random
) -> list[When]:
    """``count`` distinct dates strictly after ``start`` and before ``end`` (the present when
    None): years for a year start, days for a full-date start."""
    if count <= 0:
        return []
    if start.full:
        first = start.as_date + dt.timedelta(days=1)
        last = (
            dt.date(present_year, 12, 31)
            if end is None
            else (end.as_date - dt.timedelta(days=1) if end.full else dt.date(end.year - 1, 12, 31))
        )
        span = (last - first).days + 1
        if span <= 0:
            return []
        offsets = rng.sample(range(span), min(count, span))
        days = [first + dt.timedelta(days=n) for n in offsets]
        return [When(d.year, d.month, d.day) for d in days]
    top = present_year if end is None else end.year - 1
    years = list(range(start.year + 1, top + 1))
    return [When(y) for y in rng.sample(years, min(count, len(years)))] if years else []


def temporal_pairs(
    *,
    question: str,
    timelines: Sequence[Timeline],
    present_year: int,
    per_answer: int,
    rng: random.Random,
) -> list[dict[str, Any]]:
    """The context_answer_pairs of a temporal question judged dependent (see the module)."""
    contexts: list[tuple[When, bool]] = []
    spans: list[tuple[When, When | None]] = []
    for t in timelines:
        spans.append((t.cur_start, None))
        if t.prev_start is not None:
            spans.append((t.prev_start, t.cur_start))
    # Two collectors who found the same span share its samples (the release's two identical
    # timelines have 2 sampled dates per answer, each answered twice).
    for start, end in dict.fromkeys(spans):
        contexts += [
            (w, False)
            for w in _sample_span(start, end, present_year=present_year, count=per_answer, rng=rng)
        ]
    for t in timelines:
        contexts.append((t.cur_start, True))
        if t.prev_start is not None:
            contexts.append((t.prev_start, True))
    pairs = []
    seen: set[tuple[str, bool]] = set()
    for when, from_start in contexts:
        key = (when.text, from_start)
        if key in seen:
            continue
        seen.add(key)
        answers = [a for t in timelines if (a := t.answer_at(when)) is not None]
        if not answers:
            continue
        pairs.append(
            formats.context_pair(
                variant="temp",
                question=question,
                context=when.text,
                answers=answers,
                date_type=formats.date_type(dependent=True, from_start=from_start, date=when.text),
            )
        )
    return pairs


def static_pairs(
    *, question: str, nq_answers: Sequence[str], present_year: int, rng: random.Random
) -> list[dict[str, Any]]:
    """The one ``orig`` row of a question judged not time-dependent (none without answers):
    a year from the two before the present up to it (the release: 2019–2021)."""
    if not nq_answers:
        return []
    year = str(rng.randint(present_year - 2, present_year))
    return [
        formats.context_pair(
            variant="temp",
            question=question,
            context=year,
            answers=list(nq_answers),
            date_type=formats.date_type(dependent=False, from_start=False, date=year),
        )
    ]


def same_place(a: str, b: str) -> bool:
    return normalize_answer(a) == normalize_answer(b)


def geo_pairs(
    *,
    question: str,
    given: Mapping[str, Any] | None,
    given_valid: bool,
    new_pairs: Iterable[tuple[str, str]],
) -> list[dict[str, Any]]:
    """The context_answer_pairs of a geographic question judged dependent."""
    places: list[tuple[str, list[str]]] = []
    if given and given_valid and given.get("location"):
        places.append((given["location"], list(given.get("answers") or [])))
    for location, answer in new_pairs:
        for place, answers in places:
            if same_place(place, location):
                if answer not in answers:
                    answers.append(answer)
                break
        else:
            places.append((location, [answer]))
    return [
        formats.context_pair(variant="geo", question=question, context=place, answers=answers)
        for place, answers in places
        if answers
    ]
