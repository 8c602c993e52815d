"""The official SituatedQA layouts: read as found, written back byte for byte, rows built as released."""

from __future__ import annotations

import io
import json
import random

import pytest

from ml.situatedqa import formats as F

from .situatedqa_data import KINDS, demo_file, full_files

FULL = full_files()
needs_full = pytest.mark.skipif(
    not FULL, reason="the full SituatedQA release is not on this machine"
)


def _read(layout, variant, path):
    return F.read_official(path, layout=layout, variant=variant)


@pytest.mark.parametrize(("layout", "variant"), KINDS)
def test_a_shipped_dev_file_rewrites_to_the_same_bytes(layout, variant):
    path = demo_file(layout, variant)
    rows = _read(layout, variant, path)
    assert len(rows) == path.read_bytes().count(b"\n") > 0
    assert F.dumps_official(rows, layout=layout, variant=variant) == path.read_bytes()


@needs_full
@pytest.mark.parametrize(("layout", "variant", "path"), FULL, ids=[str(p) for *_, p in FULL])
def test_a_full_official_file_rewrites_to_the_same_bytes(layout, variant, path):
    rows = _read(layout, variant, path)
    assert F.dumps_official(rows, layout=layout, variant=variant) == path.read_bytes()


@pytest.mark.parametrize(("layout", "variant"), KINDS)
def test_the_writer_restores_the_official_key_order_of_shuffled_rows(layout, variant):
    # A database JSON column need not keep key order; the export must not depend on it.
    path = demo_file(layout, variant)
    rng = random.Random(7)
    shuffled = []
    for row in _read(layout, variant, path):
        items = list(row.items())
        rng.shuffle(items)
        shuffled.append(dict(items))
    assert F.dumps_official(shuffled, layout=layout, variant=variant) == path.read_bytes()


def test_a_null_timelines_is_written_after_prev_answers_as_the_release_does():
    rows = _read("raw", "temp", demo_file("raw", "temp"))
    with_null = next(r for r in rows if r["timelines"] is None)
    with_list = next(r for r in rows if r["timelines"] is not None)
    keys_null = list(F.official_order(with_null, layout="raw", variant="temp"))
    keys_list = list(F.official_order(with_list, layout="raw", variant="temp"))
    assert keys_null.index("timelines") == keys_null.index("prev_answers") + 1
    assert keys_list.index("timelines") == keys_list.index("nq_answers") + 1


def test_values_keep_the_types_and_mojibake_found():
    rows = _read("qa", "temp", demo_file("qa", "temp"))
    assert all(type(r["id"]) is int for r in rows)
    mojibake = [r for r in rows if any("Ã" in a for a in r["answer"])]
    assert mojibake, "the shipped subset keeps a mojibake answer"
    line = F.dump_line(mojibake[0])
    assert "\\u00c3" in line and "Ã" not in line  # ensure_ascii, as the release
    raw = _read("raw", "temp", demo_file("raw", "temp"))
    assert {type(r["is_dependent"]) for r in raw} == {bool}


def _official_pairs(variant, raw_rows):
    for row in raw_rows:
        for pair in row["context_answer_pairs"]:
            yield row, pair


def _edited_question_checks(layout, variant, rows):
    key = "date" if variant == "temp" else "location"
    if layout == "qa":
        return [
            (F.edited_question(r["question"], variant, r[key]), r["edited_question"]) for r in rows
        ]
    return [
        (F.edited_question(r["question"], variant, p[key]), p["edited_question"])
        for r, p in _official_pairs(variant, rows)
    ]


@pytest.mark.parametrize(("layout", "variant"), [k for k in KINDS if k[0] != "id"])
def test_edited_question_equals_the_official_field_on_every_shipped_row(layout, variant):
    checks = _edited_question_checks(
        layout, variant, _read(layout, variant, demo_file(layout, variant))
    )
    assert checks and all(ours == theirs for ours, theirs in checks)


@needs_full
def test_edited_question_equals_the_official_field_on_every_full_release_row():
    total = 0
    for layout, variant, path in FULL:
        if layout == "id":
            continue
        checks = _edited_question_checks(layout, variant, _read(layout, variant, path))
        bad = [c for c in checks if c[0] != c[1]]
        assert not bad, f"{path}: {bad[:3]}"
        total += len(checks)
    assert total > 0


def test_edited_question_lowercases_only_the_location_and_strips_nothing():
    assert F.edited_question("what is the legal amount of weed", "geo", "Texas") == (
        "what is the legal amount of weed in texas"
    )
    assert F.edited_question("Who", "geo", "India ") == "Who in india "
    assert (
        F.edited_question("who won", "temp", "December 29, 2020")
        == "who won as of December 29, 2020"
    )
    with pytest.raises(ValueError):
        F.edited_question("who", "time", "2020")


def _date_type_mismatches(raw_rows):
    bad = []
    for row, pair in _official_pairs("temp", raw_rows):
        starts = {
            F.format_date(t[k]) for t in row["timelines"] or [] for k in ("cur_start", "prev_start")
        }
        from_start = pair["date_type"] == F.START
        if from_start and pair["date"] not in starts:
            bad.append((row["id"], pair["date"], "start date is none of the timeline's starts"))
        ours = F.date_type(dependent=row["is_dependent"], from_start=from_start, date=pair["date"])
        if ours != pair["date_type"]:
            bad.append((row["id"], pair["date"], ours, pair["date_type"]))
    return bad


def test_date_type_and_start_dates_follow_the_release_on_shipped_rows():
    rows = _read("raw", "temp", demo_file("raw", "temp"))
    assert not _date_type_mismatches(rows)


@needs_full
def test_date_type_and_start_dates_follow_the_release_on_the_full_release():
    for layout, variant, path in FULL:
        if (layout, variant) == ("raw", "temp"):
            assert not _date_type_mismatches(_read(layout, variant, path))


def test_format_date_writes_a_year_or_a_zero_padded_full_date():
    assert F.format_date({"year": 2018, "month": None, "date": None}) == "2018"
    assert F.format_date({"year": 2019, "month": 4, "date": 7}) == "April 07, 2019"
    assert F.format_date(None) is None
    assert F.date_type(dependent=False, from_start=False, date="2020") == "orig"
    assert F.date_type(dependent=True, from_start=False, date="2020") == "sampled_year"
    assert F.date_type(dependent=True, from_start=False, date="May 28, 2019") == "sampled_date"
    assert F.date_type(dependent=True, from_start=True, date="2020") == "start"


@pytest.mark.parametrize("variant", ["temp", "geo"])
def test_qa_rows_rebuilt_from_raw_equal_the_qa_file_but_for_any_answer_order(variant):
    raw = _read("raw", variant, demo_file("raw", variant))
    qa = _read("qa", variant, demo_file("qa", variant))
    rebuilt = [row for r in raw for row in F.qa_rows_from_raw(r, variant=variant)]
    assert len(rebuilt) == len(qa)
    for ours, theirs in zip(rebuilt, qa, strict=True):
        assert set(ours["any_answer"]) == set(theirs["any_answer"])
        assert {**ours, "any_answer": None} == {**theirs, "any_answer": None}
        assert list(F.official_order(ours, layout="qa", variant=variant)) == list(theirs)


def test_builders_reproduce_official_lines():
    id_line = demo_file("id", "temp").read_text().splitlines(keepends=True)[0]
    row = json.loads(id_line)
    built = F.id_row(
        variant="temp",
        question=row["question"],
        id=row["id"],
        is_dependent=row["is_dependent"] == "yes",
        source_dataset=row["source_dataset"],
    )
    assert F.dump_line(built) == id_line
    raw = _read("raw", "geo", demo_file("raw", "geo"))[0]
    pair = raw["context_answer_pairs"][1]
    rebuilt = F.context_pair(
        variant="geo", question=raw["question"], context=pair["location"], answers=pair["answers"]
    )
    assert F.dump_line(rebuilt) == F.dump_line(pair)


MALFORMED = (
    b'{"question": "who won", "is_dependent": "yes", "id": 1}\n'
    b'{"question": "who lost", "is_dependent": "no", "id": 2}\n'
    b'{"question": "broken", "is_dependent": \n'
    b"\n"
    b'{"is_dependent": "no", "id": 5}\n'
    b'{"question": "typed", "is_dependent": true, "id": 6}\n'
    b"[1, 2]\n"
)


def test_malformed_jsonl_raises_one_error_naming_every_bad_line():
    with pytest.raises(F.FormatError) as caught:
        F.read_official(io.BytesIO(MALFORMED), layout="id", variant="geo")
    problems = caught.value.problems
    assert [p.line for p in problems] == [3, 5, 6, 7]
    assert problems[1].message == 'missing "question"'
    assert "not valid JSON" in problems[0].message
    assert '"is_dependent" must be "yes" or "no"' == problems[2].message
    text = str(caught.value)
    assert text.startswith("4 bad lines") and "line 3:" in text and "line 5:" in text


def test_non_utf8_bytes_name_their_line():
    with pytest.raises(F.FormatError) as caught:
        F.read_official(
            b"".join(MALFORMED.splitlines(keepends=True)[:2]) + b'{"question": "caf\xe9"}\n',
            layout="id",
            variant="geo",
        )
    assert caught.value.problems[0].line == 3


def test_the_writer_refuses_rows_the_reader_would_refuse():
    with pytest.raises(F.FormatError) as caught:
        F.dumps_official([{"question": "q", "id": 1}], layout="id", variant="temp")
    assert [p.message for p in caught.value.problems] == [
        'missing "source_dataset"',
        'missing "is_dependent"',
    ]


def test_guess_kind_reads_official_paths():
    assert F.guess_kind("data/qa_data/temp.test.jsonl") == ("qa", "temp")
    assert F.guess_kind("raw_data/geo.dev.jsonl") == ("raw", "geo")
    assert F.guess_kind("questions.jsonl") == (None, None)


def test_question_lists_read_from_jsonl_csv_and_text():
    jsonl = b'{"question": "who won", "id": 7, "answer": "A"}\n{"question": "why", "answers": ["x", "y"]}\n'
    assert F.read_questions(jsonl, name="q.jsonl") == [
        F.QuestionRow(1, "who won", 7, ("A",)),
        F.QuestionRow(2, "why", None, ("x", "y")),
    ]
    csv_bytes = b'Question,id,answer\n"who, really",-12,"[""a"", ""b""]"\nwhere,abc,\n'
    assert F.read_questions(csv_bytes, name="q.csv") == [
        F.QuestionRow(2, "who, really", -12, ("a", "b")),
        F.QuestionRow(3, "where", "abc", ()),
    ]
    assert F.read_questions(b"\xef\xbb\xbfone\n\ntwo\n", name="q.txt") == [
        F.QuestionRow(1, "one"),
        F.QuestionRow(3, "two"),
    ]


def test_a_bad_question_list_names_every_bad_line():
    jsonl = b'{"question": "ok"}\n{"id": 3}\n{"question": "", "id": 4}\n{"question": "q", "answer": 5}\n'
    with pytest.raises(F.FormatError) as caught:
        F.read_questions(jsonl, name="q.jsonl")
    assert [(p.line, p.message) for p in caught.value.problems] == [
        (2, 'missing "question"'),
        (3, '"question" must be a non-empty string'),
        (4, '"answer" must be a string or a list of strings'),
    ]
    with pytest.raises(F.FormatError):
        F.read_questions(b"text,id\nq,1\n", name="q.csv")


def test_nq_open_files_read_as_google_jsonl_and_dpr_tsv():
    path = demo_file("id", "temp").parents[1] / "temp_splits" / "pre_2019.dev.jsonl"
    rows = F.read_nq_open(path)
    first = json.loads(path.read_text().splitlines()[0])
    assert len(rows) == 20
    assert rows[0] == F.QuestionRow(1, first["question"], first["id"], tuple(first["answer"]))
    dpr = "who got the first nobel prize in physics\t['Wilhelm Conrad Röntgen']\nbad line\n"
    with pytest.raises(F.FormatError) as caught:
        F.read_nq_open(dpr.encode(), name="nq-test.csv")
    assert [p.line for p in caught.value.problems] == [2]
    good = F.read_nq_open(dpr.splitlines(keepends=True)[0].encode(), name="nq-test.csv")
    assert good == [
        F.QuestionRow(
            1, "who got the first nobel prize in physics", None, ("Wilhelm Conrad Röntgen",)
        )
    ]
