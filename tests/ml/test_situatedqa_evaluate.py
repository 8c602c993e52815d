"""SituatedQA EM: SQuAD normalisation, the paper's breakdowns, and prediction files matched to gold."""

from __future__ import annotations

import json
import random
import re
import string
import unicodedata

import pytest

from ml.situatedqa import evaluate as E
from ml.situatedqa import formats as F

from .situatedqa_data import demo_file, full_files

FULL = full_files()

# Fixed prediction files: (line of the shipped qa subset, pred_answer, EM vs answer, EM vs any_answer),
# each verdict worked out by hand from the gold answers quoted in the comment.
TEMP_PREDICTIONS = [
    (1, "2018.", True, True),  # sampled_year, ["2018", "2018"]: punctuation goes
    (5, "1990", False, True),  # start, ["2018", "2018"]; any_answer has "1990"
    (7, "The Chihuahuense", True, True),  # orig, ["Chihuahuense"]: the article goes
    (22, "social   PROTECTION", True, True),  # sampled_year: case and spaces
    (39, "RDC", False, True),  # sampled_date, ["BSD"]; any has "RDC"
    (40, "B.S.D.", True, True),  # sampled_date, ["BSD"]: dots removed, "bsd"
    (41, "", False, False),  # sampled_date, ["RDC"]: an empty answer
    (45, "BSD", True, True),  # start, ["BSD"]
    (240, "Garbiñe Muguruza", False, False),  # orig, gold is the mojibake "GarbiÃ±e", kept raw
]
TEMP_EXPECTED = {
    "static": "1 / 2 = 50.0",  # lines 7 ✓, 240 ✗
    "sampled": "3 / 5 = 60.0",  # 1 ✓, 22 ✓, 39 ✗, 40 ✓, 41 ✗
    "start": "1 / 2 = 50.0",  # 5 ✗, 45 ✓
    "total": "5 / 9 = 55.6",
    "any": "7 / 9 = 77.8",
}
GEO_PREDICTIONS = [
    (1, "10 grams or less", True, True),  # maryland (rare)
    (2, "0 - illegal for recreational use", True, True),  # Texas (common)
    (6, "1909", True, True),  # uk (common)
    (73, "Lech Wałęsa", True, True),  # poland (rare): gold has e + U+0328, NFD makes them equal
    (74, "Lech Wałęsa", False, True),  # Colombia (rare), ["César Gaviria"]
    (110, "Justin Trudeau", False, False),  # Canada (common): one name of an 11-name list
]
GEO_EXPECTED = {
    "common": "2 / 3 = 66.7",
    "rare": "2 / 3 = 66.7",
    "total": "4 / 6 = 66.7",
    "any": "5 / 6 = 83.3",
}


def _gold(variant):
    return F.read_official(demo_file("qa", variant), layout="qa", variant=variant)


def _prediction_file(gold, picks):
    lines = [json.dumps({**gold[line - 1], "pred_answer": pred}) for line, pred, *_ in picks]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize(
    ("variant", "picks", "expected"),
    [("temp", TEMP_PREDICTIONS, TEMP_EXPECTED), ("geo", GEO_PREDICTIONS, GEO_EXPECTED)],
)
def test_em_on_a_fixed_prediction_file_equals_the_hand_computation(variant, picks, expected):
    gold = _gold(variant)
    chosen = [gold[line - 1] for line, *_ in picks]
    preds = E.read_predictions(_prediction_file(gold, picks), variant=variant, gold=chosen)
    assert not preds.missing and not preds.unknown
    for row, (_, _, right, right_any) in zip(preds.rows, picks, strict=True):
        assert E.exact_match(row["pred_answer"], row["answer"]) is right
        assert E.exact_match(row["pred_answer"], row["any_answer"]) is right_any
    cells = E.report(preds.rows, variant=variant)
    assert {name: str(score) for name, score in cells.items()} == expected
    assert E.format_report(cells).splitlines()[-1] == f"any: {expected['any']}"
    # Scoring the uploaded rows themselves (no gold given) gives the same table.
    alone = E.read_predictions(_prediction_file(gold, picks), variant=variant)
    assert {n: str(s) for n, s in E.report(alone.rows, variant=variant).items()} == expected


def _other_normalize(text):
    """The same SQuAD rule written another way, to cross-check ``normalize_answer``."""
    text = unicodedata.normalize("NFD", text).lower()
    text = re.sub("[" + re.escape(string.punctuation) + "]", "", text)
    words = [w for w in re.split(r"\s+", text) if w and w not in ("a", "an", "the")]
    return " ".join(words)


def test_normalize_answer_agrees_with_an_independent_writing_on_perturbed_answers():
    rng = random.Random(3)
    answers = [a for r in _gold("temp") + _gold("geo") for a in r["answer"]]
    for answer in answers:
        noisy = "".join(
            c.upper() if rng.random() < 0.3 else c for c in f"The {answer}, {rng.choice('.!?')}"
        )
        assert E.normalize_answer(noisy) == _other_normalize(noisy)
        assert E.exact_match(noisy, [answer]) == (
            _other_normalize(noisy) == _other_normalize(answer)
        )


def test_normalize_answer_examples():
    assert E.normalize_answer("  The  Beatles!! ") == "beatles"
    assert E.normalize_answer("an apple a day") == "apple day"
    assert E.normalize_answer("theatre") == "theatre"  # only whole-word articles go
    assert E.normalize_answer("U.S.") == "us"
    assert E.exact_match(None, ["x"]) is False


def test_breakdowns_count_a_hand_made_set():
    temp = [
        {"date_type": dt, "answer": [gold], "any_answer": [gold, "other"], "pred_answer": pred}
        for dt, gold, pred in [
            ("orig", "a1", "a1"),
            ("orig", "a2", "no"),
            ("sampled_year", "b1", "b1"),
            ("sampled_date", "b2", "b2"),
            ("sampled_date", "b3", "other"),
            ("start", "c1", "no"),
        ]
    ]
    cells = E.temporal_report(temp)
    assert [(n, s.correct, s.total) for n, s in cells.items()] == [
        ("static", 1, 2),
        ("sampled", 2, 3),
        ("start", 0, 1),
        ("total", 3, 6),
        ("any", 4, 6),
    ]
    geo = [
        {"location": place, "answer": ["x"], "any_answer": ["x"], "pred_answer": pred}
        for place, pred in [
            ("The United States", "x"),  # common once normalised
            ("U.S.", "y"),  # -> "us", common
            ("New York City", "x"),
            ("Washington D.C.", "x"),  # rare
            ("Poland", "y"),
        ]
    ]
    assert {n: (s.correct, s.total) for n, s in E.geographic_report(geo).items()} == {
        "common": (2, 3),
        "rare": (1, 2),
        "total": (3, 5),
        "any": (3, 5),
    }


def test_the_common_list_is_the_papers_28_locations():
    assert len(E.COMMON_LOCATIONS) == len(set(E.COMMON_LOCATIONS)) == 28
    assert E.COMMON_LOCATIONS[:3] == ("united states", "india", "united kingdom")
    assert E.COMMON_LOCATIONS[-3:] == ("new zealand", "usa", "israel")


@pytest.mark.skipif(
    not any(p.name == "geo.dev.jsonl" and p.parent.name == "qa_data" for *_, p in FULL),
    reason="the full SituatedQA release is not on this machine",
)
def test_the_full_geo_dev_split_has_699_common_and_699_rare_rows():
    path = next(p for lay, v, p in FULL if (lay, v, p.name) == ("qa", "geo", "geo.dev.jsonl"))
    rows = F.read_official(path, layout="qa", variant="geo")
    cells = E.geographic_report([{**r, "pred_answer": None} for r in rows])
    assert (cells["common"].total, cells["rare"].total) == (699, 699)  # PROTOCOLS.md §4.2


def test_scores_print_as_k_over_n_with_one_decimal():
    assert str(E.Score(2, 3)) == "2 / 3 = 66.7"
    assert str(E.Score(0, 0)) == "0 / 0 = n/a"


def test_a_prediction_file_names_missing_rows_and_unknown_ids():
    gold = _gold("temp")
    lines = [
        json.dumps(
            {
                "id": gold[0]["id"],
                "edited_question": gold[0]["edited_question"],
                "pred_answer": "2018",
            }
        ),
        json.dumps({"id": 12345, "edited_question": "who?", "pred_answer": "x"}),
        json.dumps({"id": gold[0]["id"], "edited_question": "not asked", "pred_answer": "x"}),
    ]
    preds = E.read_predictions("\n".join(lines).encode(), variant="temp", gold=gold)
    assert [(u.line, u.id, u.reason) for u in preds.unknown] == [
        (2, 12345, "unknown id"),
        (3, gold[0]["id"], "no gold row with this question, or already predicted"),
    ]
    assert [m.line for m in preds.missing] == list(range(2, len(gold) + 1))
    assert len(preds.rows) == len(gold) and preds.rows[0]["pred_answer"] == "2018"
    assert preds.rows[1]["pred_answer"] is None  # missing counts as wrong, totals stay the split's
    assert E.temporal_report(preds.rows)["total"].total == len(gold)
    assert "unknown: line 2: id 12345" in preds.problems_text()


def test_a_repeated_edited_question_is_matched_by_its_date_type():
    # Lines 23 and 24 of the dev file share id and "... as of 2019": sampled_year vs start.
    gold = _gold("temp")
    a, b = gold[22], gold[23]
    assert (a["id"], a["edited_question"]) == (b["id"], b["edited_question"])
    assert (a["date_type"], b["date_type"]) == ("sampled_year", "start")
    lines = [
        json.dumps({**b, "pred_answer": "for start"}),
        json.dumps({**a, "pred_answer": "for sampled"}),
    ]
    preds = E.read_predictions("\n".join(lines).encode(), variant="temp", gold=[a, b])
    assert [r["pred_answer"] for r in preds.rows] == ["for sampled", "for start"]
    assert not preds.unknown and not preds.missing


def test_malformed_prediction_lines_are_all_named():
    gold = _gold("geo")
    good = json.dumps({**gold[0], "pred_answer": "x"})
    text = "\n".join(
        [good, "{oops", json.dumps({"id": 1}), json.dumps({**gold[1], "pred_answer": 3})]
    )
    with pytest.raises(F.FormatError) as caught:
        E.read_predictions(text.encode(), variant="geo", gold=gold)
    assert [(p.line, p.message) for p in caught.value.problems][1:] == [
        (3, 'missing "edited_question"'),
        (3, 'missing "pred_answer"'),
        (4, '"pred_answer" must be a string'),
    ]
    assert caught.value.problems[0].line == 2
    with pytest.raises(F.FormatError) as alone:
        E.read_predictions(json.dumps({"id": 1, "pred_answer": "x"}).encode(), variant="geo")
    assert 'missing "question"' in str(alone.value)
