"""Each stage's form through HTTP: what a participant sees, and what the server refuses (a
date without a 4-digit year, equal answers for two places, forged or missing fields) with a
message on the page and nothing stored."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils.html import escape

from apps.core.models import Annotation, Assignment, Item
from apps.situatedqa.answers import MESSAGES
from tests.crowd.test_flow import form_of, start

from .conftest import TEMP_ANSWER, answer, person, root, shipped, upload

pytestmark = pytest.mark.django_db

ONE_EACH = {"identify_answers": 1, "collect_answers": 1, "validate_answers": 1}
ENGLAND = -7924170207595297549
WEED = 9188546442463987107


def _project(sqa_project, layout_variant=("raw", "temp"), lines=1):
    project = sqa_project(**ONE_EACH)
    layout, variant = layout_variant
    content = b"".join(shipped(layout, variant).splitlines(keepends=True)[:lines])
    assert upload(project, content, f"{variant}.dev.jsonl").ok
    return project


def _at_collect(project, variant: str, qid):
    answer(root(project, variant, qid), person(project, "identifier"), {"dependent": "yes"})
    return Item.objects.get(project=project, stage="collect")


def _served(project) -> tuple[Client, object, Assignment]:
    client = Client()
    page = start(client, project, {"PROLIFIC_PID": "p-form", "STUDY_ID": "s", "SESSION_ID": "x"})
    assert page.status_code == 200
    assignment = Assignment.objects.get(
        participant__external_id="p-form", status=Assignment.Status.RESERVED
    )
    return client, page, assignment


def _post(client, page, **data):
    action, token = form_of(page)
    return client.post(action, {"client_token": token, **data})


def _refused(response, *messages):
    assert response.status_code == 200
    html = response.content.decode()
    assert 'role="alert"' in html
    for message in messages:
        assert escape(message) in html, message
    return html


def test_the_identify_form_shows_the_question_and_the_four_choices(sqa_project):
    project = _project(sqa_project)
    client, page, assignment = _served(project)
    html = page.content.decode()
    assert "Has the answer to this question changed over time?" in html
    assert "when did england last get to the semi final of a world cup" in html
    for value in ("yes", "no", "maybe", "malformed"):
        assert f'name="dependent" value="{value}"' in html
    _refused(
        _post(client, page, dependent="perhaps"), "Choose Yes, No, Maybe or Malformed question."
    )
    assert not Annotation.objects.exists()
    assert _post(client, page, dependent="yes").status_code == 302
    assert Annotation.objects.get().value == {"dependent": "yes"}


def test_the_geographic_identify_form_asks_about_the_place(sqa_project):
    project = _project(sqa_project, ("raw", "geo"))
    _, page, _ = _served(project)
    html = page.content.decode()
    assert "Does the answer to this question depend on where it is asked?" in html
    assert "“we” and “our” as the asker" in html


def test_a_start_date_without_a_four_digit_year_is_refused_with_a_message(sqa_project):
    project = _project(sqa_project)
    _at_collect(project, "temp", ENGLAND)
    client, page, assignment = _served(project)
    assert assignment.item.stage == "collect"
    html = page.content.decode()
    assert 'name="cur_answer_start"' in html and 'pattern=".*\\d{4}.*"' in html
    fields = {**TEMP_ANSWER, "list_answer": "", "cur_missing": "", "prev_missing": ""}
    bad = {**fields, "cur_answer_start": "last summer", "prev_answer_start": "in the nineties"}
    html = _refused(
        _post(client, page, **bad),
        MESSAGES["cur_year"].format(date="last summer"),
        MESSAGES["prev_year"].format(date="in the nineties"),
    )
    assert 'value="last summer"' in html  # what they typed is kept for them to fix
    assert not Annotation.objects.filter(item=assignment.item).exists()
    empty = _refused(_post(client, page), MESSAGES["cur_answer"], MESSAGES["cur_answer_start"])
    assert escape(MESSAGES["prev_answer"]) in empty
    response = _post(client, page, **{**fields, "cur_answer_start": "July 11, 2018"})
    assert response.status_code == 302
    stored = Annotation.objects.get(item=assignment.item).value
    assert stored["cur_answer_start"] == "July 11, 2018" and stored["cur_missing"] is False


def test_missing_answers_are_said_explicitly_and_forged_flags_refused(sqa_project):
    project = _project(sqa_project)
    _at_collect(project, "temp", ENGLAND)
    client, page, assignment = _served(project)
    response = _post(
        client,
        page,
        cur_answer="2018",
        cur_answer_start="2018",
        prev_missing="on",
        prev_answer="ignored",
        list_answer="banana",
    )
    _refused(
        response,
        "The “the answer is a list” box came with a value a checkbox cannot send; reload the page.",
    )
    same = _post(
        client,
        page,
        cur_answer="The 2018 cup",
        cur_answer_start="2018",
        prev_answer="the 2018 Cup",
        prev_answer_start="1990",
    )
    _refused(same, MESSAGES["same_answer"])
    before = _post(
        client,
        page,
        cur_answer="2018",
        cur_answer_start="2018",
        prev_answer="1990",
        prev_answer_start="2020",
    )
    _refused(before, "The previous answer must start before the current one (2020 is after 2018).")
    assert not Annotation.objects.filter(item=assignment.item).exists()
    ok = _post(
        client,
        page,
        cur_answer="2018",
        cur_answer_start="2018",
        prev_missing="on",
        prev_answer="ignored",
    )
    assert ok.status_code == 302
    value = Annotation.objects.get(item=assignment.item).value
    assert (value["prev_missing"], value["prev_answer"], value["prev_answer_start"]) == (
        True,
        None,
        None,
    )


def test_the_geographic_collect_form_refuses_equal_answers(sqa_project):
    project = _project(sqa_project, ("raw", "geo"))
    _at_collect(project, "geo", WEED)
    client, page, assignment = _served(project)
    html = page.content.decode()
    assert "The answer given for maryland" in html and "10 grams or less" in html
    assert "what is the legal amount of weed in maryland" in html
    pairs = {"new_location_1": "Texas", "new_answer_1": "0 grams", "new_location_2": "Ohio"}
    _refused(
        _post(client, page, orig_is_correct="yes", **pairs, new_answer_2="0 Grams."),
        MESSAGES["same_answers"],
    )
    _refused(
        _post(client, page, orig_is_correct="yes", **pairs, new_answer_2="10 grams or less"),
        MESSAGES["given_answer"].format(answer="10 grams or less", place="maryland"),
    )
    _refused(
        _post(
            client,
            page,
            orig_is_correct="yes",
            new_location_1="Maryland",
            new_answer_1="1 g",
            no_other="on",
        ),
        MESSAGES["given_location"].format(location="Maryland"),
    )
    _refused(
        _post(client, page, **pairs, new_answer_2="2 ounces"),
        "Say whether the given answer is right for maryland: Yes or No.",
    )
    _refused(
        _post(client, page, orig_is_correct="yes", new_location_1="Texas"),
        MESSAGES["pair_incomplete"].format(n=1),
    )
    _refused(
        _post(client, page, orig_is_correct="maybe", **pairs, new_answer_2="2 ounces"),
        "Say whether the given answer is right: Yes or No.",
    )
    _refused(_post(client, page, orig_is_correct="no"), MESSAGES["two_pairs"])
    assert not Annotation.objects.filter(item=assignment.item).exists()
    ok = _post(client, page, orig_is_correct="no", **pairs, new_answer_2="2 ounces")
    assert ok.status_code == 302
    value = Annotation.objects.get(item=assignment.item).value
    assert value["pairs"] == [
        {"location": "Texas", "answer": "0 grams", "article": ""},
        {"location": "Ohio", "answer": "2 ounces", "article": ""},
    ]


def test_a_question_without_a_given_pair_takes_no_verification(sqa_project):
    project = _project(sqa_project, ("id", "geo"), lines=2)  # line 2: dependent, no pair
    _at_collect(project, "geo", -6634142500102133496)
    client, page, assignment = _served(project)
    assert 'name="orig_is_correct"' not in page.content.decode()
    _refused(
        _post(client, page, orig_is_correct="yes", no_other="on"),
        "This question came without a given answer to verify.",
    )
    assert _post(client, page, no_other="on").status_code == 302


def _at_validate(project, variant, qid, value):
    collect = _at_collect(project, variant, qid)
    author = person(project, "collector")
    answer(collect, author, value)
    return Item.objects.get(project=project, stage="validate"), author


def test_the_validation_form_shows_the_response_and_takes_a_correction(sqa_project):
    project = _project(sqa_project)
    wrong = {
        **TEMP_ANSWER,
        "cur_answer": "1990",
        "prev_missing": True,
        "prev_answer": None,
        "prev_answer_start": None,
        "cur_answer_start": "1990",
    }
    validate, _ = _at_validate(project, "temp", ENGLAND, wrong)
    client, page, assignment = _served(project)
    assert assignment.item == validate
    html = page.content.decode()
    assert "<strong>1990</strong> since 1990" in html and "Is this response correct?" in html
    _refused(
        _post(client, page, correct="maybe"), "Say whether the response is correct: Yes or No."
    )
    fix = {
        "cur_answer": "2018",
        "cur_answer_start": "2018 or so",
        "prev_answer": "1990",
        "prev_answer_start": "sometime",
    }
    _refused(
        _post(client, page, correct="no", give_correction="on", **fix),
        MESSAGES["prev_year"].format(date="sometime"),
    )
    assert not Annotation.objects.filter(item=validate).exists()
    ok = _post(
        client, page, correct="no", give_correction="on", **{**fix, "prev_answer_start": "1990"}
    )
    assert ok.status_code == 302
    stored = Annotation.objects.get(item=validate).value
    assert stored["correct"] == "no"
    assert stored["correction"]["cur_answer"] == "2018"
    assert stored["correction"]["prev_answer_start"] == "1990"


def test_a_correction_is_ignored_unless_the_response_is_marked_wrong(sqa_project):
    project = _project(sqa_project)
    validate, _ = _at_validate(project, "temp", ENGLAND, TEMP_ANSWER)
    client, page, _ = _served(project)
    ok = _post(client, page, correct="yes", give_correction="on", cur_answer="x")
    assert ok.status_code == 302
    assert Annotation.objects.get(item=validate).value == {"correct": "yes", "correction": None}


def test_a_submit_without_its_token_stores_nothing(sqa_project):
    project = _project(sqa_project)
    client, page, _ = _served(project)
    action, _ = form_of(page)
    response = client.post(action, {"dependent": "yes"})
    assert "The form was incomplete; please reload the page." in response.content.decode()
    assert not Annotation.objects.exists()
