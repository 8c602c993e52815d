"""The rules that turn answers into decisions and rows (no database)."""

from __future__ import annotations

import random

import pytest

from apps.situatedqa import contexts
from apps.situatedqa.contexts import Timeline, When, parse_date
from apps.situatedqa.selectors import (
    DEPENDENT,
    MALFORMED,
    NOT_DEPENDENT,
    decision_of,
    outcome_of,
)


@pytest.mark.parametrize(
    ("text", "when"),
    [
        ("2018", When(2018)),
        ("July 11, 2018", When(2018, 7, 11)),
        ("11 July 2018", When(2018, 7, 11)),
        ("Sept. 3rd, 1999", When(1999, 9, 3)),
        ("2018-07-11", When(2018, 7, 11)),
        ("March 2018", When(2018, 3)),
        ("2003–05", When(2003)),
        ("31 June 2020", When(2020, 6)),  # no such day: the month is kept
        ("in May 2019", When(2019, 5)),
        ("last summer", None),
        ("'18", None),
    ],
)
def test_a_date_is_read_for_its_year_month_and_day(text, when):
    assert parse_date(text) == when


def test_a_date_is_written_as_the_release_writes_it():
    assert parse_date("April 7, 2019").text == "April 07, 2019"
    assert parse_date("March 2018").text == "2018"  # no day: the release writes the year
    assert When(2019, 4, 7).as_raw() == {"year": 2019, "month": 4, "date": 7}


@pytest.mark.parametrize(
    ("labels", "wanted", "decision"),
    [
        (["yes", "yes", "no"], 3, DEPENDENT),
        (["yes", "no", "maybe"], 3, NOT_DEPENDENT),
        (["yes", "no"], 2, DEPENDENT),  # a tie goes on to collection
        (["malformed", "malformed", "yes"], 3, MALFORMED),
        (["malformed", "yes"], 2, DEPENDENT),  # half malformed is not a majority
        (["yes", "yes"], 3, None),  # not complete yet
        ([], 1, None),
    ],
)
def test_stage_one_decides_by_the_documented_rule(labels, wanted, decision):
    assert decision_of(labels, wanted) == decision


def test_stage_three_accepts_corrects_or_rejects():
    fix = {"cur_answer": "x"}
    assert outcome_of([{"correct": "yes"}], complete=True) == ("accepted", None)
    assert outcome_of([{"correct": "no", "correction": fix}], complete=True) == ("corrected", fix)
    assert outcome_of([{"correct": "no", "correction": None}], complete=True) == ("rejected", None)
    tie = [{"correct": "yes"}, {"correct": "no", "correction": fix}]
    assert outcome_of(tie, complete=True) == ("corrected", fix)
    assert outcome_of([{"correct": "yes"}], complete=False) == ("pending", None)


ENGLAND = Timeline(
    cur_answer="2018",
    cur_start=When(2018),
    cur_full="2018",
    prev_answer="1990",
    prev_start=When(1990),
    prev_full="1990",
)


def test_a_timeline_makes_sampled_and_start_contexts_as_the_release_does():
    pairs = contexts.temporal_pairs(
        question="when did england last get to the semi final of a world cup",
        timelines=[ENGLAND, ENGLAND],
        present_year=2021,
        per_answer=2,
        rng=random.Random(1),
    )
    types = [p["date_type"] for p in pairs]
    assert types == ["sampled_year"] * 4 + ["start", "start"]
    cur, prev = pairs[:2], pairs[2:4]
    assert all(2018 < int(p["date"]) <= 2021 and p["answers"] == ["2018", "2018"] for p in cur)
    assert all(1990 < int(p["date"]) < 2018 and p["answers"] == ["1990", "1990"] for p in prev)
    assert [(p["date"], p["answers"]) for p in pairs[4:]] == [
        ("2018", ["2018", "2018"]),
        ("1990", ["1990", "1990"]),
    ]
    assert pairs[4]["edited_question"].endswith(" as of 2018")
    assert list(pairs[0]) == ["edited_question", "answers", "date", "date_type"]


def test_full_dates_are_sampled_as_full_dates_and_compared_by_day():
    t = Timeline(
        cur_answer="BSD",
        cur_start=When(2019, 4, 7),
        cur_full="7 April 2019",
        prev_answer="RDC",
        prev_start=When(2018, 3, 24),
        prev_full="24 March 2018",
    )
    pairs = contexts.temporal_pairs(
        question="q", timelines=[t], present_year=2021, per_answer=2, rng=random.Random(3)
    )
    sampled = [p for p in pairs if p["date_type"] == "sampled_date"]
    assert len(sampled) == 4
    for p in sampled:
        when = parse_date(p["date"])
        assert p["answers"] == [
            "BSD" if (when.year, when.month, when.day) >= (2019, 4, 7) else "RDC"
        ]
    assert [p["date"] for p in pairs if p["date_type"] == "start"] == [
        "April 07, 2019",
        "March 24, 2018",
    ]
    assert t.answer_at(When(2019)) == "BSD"  # a year is compared by year


def test_a_span_too_short_to_sample_makes_only_its_start():
    t = Timeline(
        cur_answer="6",
        cur_start=When(1998),
        cur_full="1998",
        prev_answer="5",
        prev_start=When(1997),
        prev_full="1997",
    )
    pairs = contexts.temporal_pairs(
        question="q", timelines=[t], present_year=2021, per_answer=2, rng=random.Random(0)
    )
    assert [p["date_type"] for p in pairs].count("sampled_year") == 2  # only the current span
    assert {p["date"]: p["answers"] for p in pairs if p["date_type"] == "start"} == {
        "1998": ["6"],
        "1997": ["5"],
    }


def test_a_static_question_gets_one_orig_row_with_its_nq_answers():
    (pair,) = contexts.static_pairs(
        question="who wrote hamlet",
        nq_answers=["Shakespeare"],
        present_year=2021,
        rng=random.Random(0),
    )
    assert pair["date_type"] == "orig" and 2019 <= int(pair["date"]) <= 2021
    assert pair["answers"] == ["Shakespeare"]
    assert (
        contexts.static_pairs(question="q", nq_answers=[], present_year=2021, rng=random.Random(0))
        == []
    )


def test_geographic_pairs_merge_one_location_and_keep_the_valid_given_pair():
    given = {"location": "maryland", "answers": ["10 grams or less"]}
    pairs = contexts.geo_pairs(
        question="what is the legal amount of weed",
        given=given,
        given_valid=True,
        new_pairs=[("Texas", "0"), ("South Africa", "A"), ("south africa", "B"), ("Texas", "0")],
    )
    assert [(p["location"], p["answers"]) for p in pairs] == [
        ("maryland", ["10 grams or less"]),
        ("Texas", ["0"]),
        ("South Africa", ["A", "B"]),
    ]
    assert pairs[1]["edited_question"] == "what is the legal amount of weed in texas"
    invalid = contexts.geo_pairs(question="q", given=given, given_valid=False, new_pairs=[])
    assert invalid == []
