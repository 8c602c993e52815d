"""The BM25 baseline: passages read from JSONL or DPR TSV, top titles as answers, scored by EM."""

from __future__ import annotations

import json

import pytest

from ml.situatedqa import formats as F
from ml.situatedqa.retrieval import (
    BM25Retriever,
    Passage,
    bm25_predictions,
    bm25_report,
    read_passages,
)

PASSAGES = [
    Passage("p1", "France", "France won the 2018 FIFA World Cup and were champions in 2019."),
    Passage("p2", "Germany", "Germany won the 2014 World Cup, champions through 2015."),
    Passage("p3", "Peru", "The president of Peru in 2021 is Pedro Castillo."),
    Passage("p4", "Greg Abbott", "Greg Abbott is the governor of Texas."),
    Passage("p5", "Mike DeWine", "Mike DeWine is the governor of Ohio."),
]


def _temp(question, id, date, date_type, answer, any_answer):
    return F.qa_rows_from_raw(
        {
            "question": question,
            "id": id,
            "context_answer_pairs": [
                F.context_pair(
                    variant="temp",
                    question=question,
                    context=date,
                    answers=answer,
                    date_type=date_type,
                )
            ],
        },
        variant="temp",
    )[0] | {"any_answer": any_answer}


def _geo(question, id, location, answer):
    pair = F.context_pair(variant="geo", question=question, context=location, answers=answer)
    raw = {"question": question, "id": id, "context_answer_pairs": [pair]}
    return F.qa_rows_from_raw(raw, variant="geo")[0]


def test_the_top_passage_title_is_the_answer_and_the_official_breakdown_scores_it():
    rows = [
        _temp("who won the world cup", 1, "2019", "sampled_year", ["France"], ["France"]),
        _temp("who won the world cup", 1, "2015", "start", ["Germany"], ["France", "Germany"]),
        _temp("who is the president of peru", 2, "2021", "orig", ["Pedro Castillo"], ["Castillo"]),
    ]
    predicted = bm25_predictions(rows, PASSAGES)
    assert [p["pred_answer"] for p in predicted] == ["France", "Germany", "Peru"]
    assert [p["pred_passage_id"] for p in predicted] == ["p1", "p2", "p3"]
    assert all(p["pred_score"] > 0 for p in predicted)
    assert {k: v for k, v in predicted[0].items() if not k.startswith("pred_")} == rows[0]
    cells = {k: str(v) for k, v in bm25_report(rows, PASSAGES, variant="temp").items()}
    assert cells == {
        "static": "0 / 1 = 0.0",
        "sampled": "1 / 1 = 100.0",
        "start": "1 / 1 = 100.0",
        "total": "2 / 3 = 66.7",
        "any": "2 / 3 = 66.7",
    }


def test_geographic_rows_split_into_common_and_rare_places():
    rows = [
        _geo("who is the governor", 1, "Texas", ["Greg Abbott"]),
        _geo("who is the governor", 1, "Ohio", ["Mike DeWine"]),
        _geo("who is the governor", 1, "Tasmania", ["Jeremy Rockliff"]),
    ]
    predicted = bm25_predictions(rows, PASSAGES)
    assert [p["pred_answer"] for p in predicted[:2]] == ["Greg Abbott", "Mike DeWine"]
    cells = {k: str(v) for k, v in bm25_report(rows, PASSAGES, variant="geo").items()}
    assert cells["common"] == "2 / 2 = 100.0" and cells["rare"] == "0 / 1 = 0.0"
    assert cells["total"] == "2 / 3 = 66.7"


def test_a_query_sharing_no_word_with_the_passages_gets_no_answer():
    assert BM25Retriever(PASSAGES).top("xylophone quokka") is None
    # "in narnia" would match the passages' "in"; a bare question matches nothing.
    row = _geo("xylophone quokka", 9, "Narnia", ["Aslan"]) | {"edited_question": "xylophone quokka"}
    [row] = bm25_predictions([row], PASSAGES)
    assert row["pred_answer"] == "" and row["pred_passage_id"] is None


def test_passages_read_from_jsonl_and_from_dpr_tsv():
    jsonl = b"".join(
        json.dumps({"id": i, "title": p.title, "text": p.text}).encode() + b"\n"
        for i, p in enumerate(PASSAGES[:2], start=1)
    )
    assert read_passages(jsonl, name="wiki.jsonl") == [
        Passage("1", "France", PASSAGES[0].text),
        Passage("2", "Germany", PASSAGES[1].text),
    ]
    tsv = b'id\ttext\ttitle\n1\t"Aaron is a prophet"\tAaron\n2\tAbba are a band\tABBA\n'
    assert read_passages(tsv, name="psgs_w100.tsv") == [
        Passage("1", "Aaron", "Aaron is a prophet"),
        Passage("2", "ABBA", "Abba are a band"),
    ]


def test_bad_passage_files_name_every_bad_line():
    bad = b'{"id": "1", "title": "A", "text": "a"}\n{"id": "2", "text": "b"}\nnot json\n'
    with pytest.raises(F.FormatError) as caught:
        read_passages(bad, name="wiki.jsonl")
    assert str(caught.value) == (
        'wiki.jsonl: 2 bad lines:\n  line 2: missing "title"\n'
        "  line 3: not valid JSON (Expecting value)"
    )
    with pytest.raises(F.FormatError, match="line 1: the header must be id, text, title"):
        read_passages(b"id\ttitle\ttext\n", name="p.tsv")
    with pytest.raises(F.FormatError, match="line 3: expected 3 tab-separated cells, got 2"):
        read_passages(b"id\ttext\ttitle\n1\ta\tA\n2\tb\n", name="p.tsv")
    with pytest.raises(F.FormatError, match="no passages"):
        read_passages(b"\n", name="p.jsonl")
    with pytest.raises(ValueError, match="use .jsonl or .tsv"):
        read_passages(b"", name="p.csv")
