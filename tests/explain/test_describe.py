"""The counterfactual design's describe variant: participants say in a few words what changed;
the answer is cleaned, checked for length, scored against the pair's keywords, and the results
(accuracy with a Wilson interval, the cross-match baseline with Fisher's exact test, the most
frequent description, every answer) recompute here by hand."""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from collections import Counter

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from scipy.stats import hypergeom, norm

from apps.core.demo import demo_answers_simulate
from apps.core.models import Annotation, Assignment, Item, Participant
from apps.core.registry import InvalidValue
from apps.explain import counterfactual, describe
from apps.explain.tasktype import EXPLAIN
from tests.crowd.test_flow import form_of, start
from tests.explain.test_counterfactual import _files, _row

pytestmark = pytest.mark.django_db


def _describe_project(explain_project, **config):
    return explain_project("counterfactual", counterfactual_answer="describe", **config)


@pytest.mark.parametrize(
    ("answer", "keywords", "matched"),
    [
        ("The COLOUR changed", ["colour"], "colour"),
        ("colours", ["colour"], None),  # no stemming: list "colours" too
        ("tone of the skin", ["skin tone"], "skin tone"),  # every word, any order
        ("skin only", ["skin tone"], None),
        ("hair-colour!", ["hue", "colour"], "colour"),  # punctuation separates words
        ("Çolour", ["çolour"], "çolour"),  # casefolded, accents kept
    ],
)
def test_an_answer_names_the_attribute_when_it_holds_every_word_of_a_keyword(
    answer, keywords, matched
):
    assert describe.matches(answer, keywords) == matched


def test_without_keywords_the_attributes_content_words_are_matched():
    payload = {"attribute": "The brightness of the background"}
    assert describe.keywords_of(payload) == ["brightness", "background"]
    assert describe.keywords_of({**payload, "keywords": ["light"]}) == ["light"]


def test_the_description_is_cleaned_and_its_length_checked():
    assert describe.clean_description("  the\tcolour\u200b \n changed ") == "the colour changed"
    for raw, message in (
        ("   ", "Describe the change in a few words."),
        ("?!", "Describe the change in a few words."),
        ("one two three four five six seven", "at most 6 words"),
        ("x" * 61, "at most 60 characters"),
    ):
        with pytest.raises(InvalidValue) as refused:
            describe.description_check(raw)
        assert message in refused.value.fields["text"][0]


def test_a_manifest_for_describing_needs_no_distractor_and_carries_keywords(explain_project):
    project = _describe_project(explain_project)
    rows = [
        _row("p1", distractor_attribute="", keywords="hair colour; hue"),
        _row("p2", distractor_attribute=""),
    ]
    content = _zip_with_keywords(rows, _files("p1", "p2"))
    report = EXPLAIN.import_items(project, SimpleUploadedFile("pairs.zip", content))
    assert report.ok, report.errors
    assert Item.objects.get(project=project, external_id="p1").payload["keywords"] == [
        "hair colour",
        "hue",
    ]
    assert "keywords" not in Item.objects.get(project=project, external_id="p2").payload
    # The same file in a choose study lacks its distractors: refused by line, nothing stored.
    choose = explain_project("counterfactual", slug="choose")
    report = EXPLAIN.import_items(choose, SimpleUploadedFile("pairs.zip", content))
    assert [line for line, _ in report.errors] == [2, 3]
    assert "two descriptions" in report.errors[0][1]
    assert not Item.objects.filter(project=choose).exists()


def _zip_with_keywords(rows, files) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=[*counterfactual.COLUMNS, "keywords"])
    writer.writeheader()
    writer.writerows({"keywords": "", **r} for r in rows)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(counterfactual.MANIFEST, text.getvalue())
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_the_describe_form_refuses_bad_text_and_stores_a_cleaned_scored_answer(explain_project):
    project = _describe_project(explain_project, slug="describe", status="live")
    EXPLAIN.seed_demo(project)
    client = Client()
    page = start(client, project)
    html = page.content.decode()
    assert 'name="text"' in html and 'maxlength="60"' in html and "explain-flicker" in html
    assert 'name="choice"' not in html
    assignment = Assignment.objects.select_related("item").get(
        participant=Participant.objects.get(project=project), status=Assignment.Status.RESERVED
    )
    action, token = form_of(page)
    for text, message in (("", "Describe the change"), ("a b c d e f g", "at most 6 words")):
        refused = client.post(action, {"text": text, "client_token": token}, HTTP_HX_REQUEST="true")
        assert message in refused.content.decode()
        action, token = form_of(refused)
    assert not Annotation.objects.exists()
    keyword = counterfactual.DEMO_KEYWORDS[assignment.item.payload["attribute"]][0]
    typed = f"  <b>{keyword.upper()}</b>\u200b\tchanged "
    client.post(action, {"text": typed, "client_token": token})
    value = Annotation.objects.get(assignment=assignment).value
    assert value == {"text": f"<b>{keyword.upper()}</b> changed", "correct": True}


def _wilson(k: int, n: int) -> tuple[float, float]:
    z = norm.ppf(0.975)
    centre = (k + z * z / 2) / (n + z * z)
    half = z * math.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
    return centre - half, centre + half


def _fisher(a: int, b: int, c: int, d: int) -> float:
    """Two-sided Fisher exact p: tables with the margins that are no likelier than this one."""
    total, drawn, first = a + b + c + d, a + c, a + b
    dist = hypergeom(total, drawn, first)
    observed = dist.pmf(a)
    support = range(max(0, first + drawn - total), min(first, drawn) + 1)
    return float(sum(dist.pmf(x) for x in support if dist.pmf(x) <= observed * (1 + 1e-7)))


def _named(text: str, keywords) -> bool:
    words = set(re.findall(r"[^\W_]+", text.casefold()))
    return any(set(re.findall(r"[^\W_]+", k.casefold())) <= words for k in keywords)


def test_the_demo_results_recompute_by_hand(explain_project):
    project = _describe_project(explain_project, status="live")
    EXPLAIN.seed_demo(project)
    demo_answers_simulate(project=project, participants=10)
    answers = list(Annotation.objects.filter(project=project).select_related("item"))
    assert len(answers) == 10 * 4  # four pairs a person
    keywords = counterfactual.DEMO_KEYWORDS
    results = EXPLAIN.results(project)
    summary, listed = results.tables
    rows = {row[0]: row[1:] for row in summary.rows}
    assert set(rows) == set(keywords)
    for attribute, words in keywords.items():
        own = [a for a in answers if a.item.payload["attribute"] == attribute]
        other = [a for a in answers if a.item.payload["attribute"] != attribute]
        k = sum(_named(a.value["text"], words) for a in own)
        assert k == sum(a.value["correct"] for a in own)
        x = sum(_named(a.value["text"], words) for a in other)
        n, m = len(own), len(other)
        low, high = _wilson(k, n)
        stop = describe.STOP_WORDS
        grouped = Counter(
            " ".join(w for w in re.findall(r"[^\W_]+", a.value["text"].casefold()) if w not in stop)
            for a in own
        )
        top, count = min(grouped.items(), key=lambda kv: (-kv[1], kv[0]))
        first = next(
            a.value["text"]
            for a in sorted(own, key=lambda a: a.pk)
            if describe.grouped(a.value["text"]) == top
        )
        assert rows[attribute] == [
            f"{k / n:.3f}",
            f"{low:.3f}–{high:.3f}",
            f"{k} / {n}",
            f"{x / m:.3f} ({x} / {m})",
            f"{_fisher(k, n - k, x, m - x):.4g}",
            f"{first} ({count / n:.0%})",
        ]
        listed_here = [r[1:] for r in listed.rows if r[0] == attribute]
        assert sum(r[1] for r in listed_here) == n
        assert all((r[2] == "yes") == _named(r[0], words) for r in listed_here)
        figure = results.figure("counterfactual-descriptions")
        i = figure.categories.index(attribute)
        assert figure.series[0].values[i] == pytest.approx(k / n)
        assert (figure.series[0].lower[i], figure.series[0].upper[i]) == (
            pytest.approx(low),
            pytest.approx(high),
        )
        assert figure.series[1].values[i] == pytest.approx(x / m)
    assert results.value("answers") == len(answers)


def test_a_study_that_changed_mode_reports_both_answer_kinds(explain_project):
    project = explain_project("counterfactual", status="live")
    EXPLAIN.seed_demo(project)
    demo_answers_simulate(project=project, participants=2)
    project.config = {**project.config, "counterfactual_answer": "describe"}
    project.save(update_fields=["config"])
    demo_answers_simulate(project=project, participants=2, seed=99)
    titles = [t.title for t in EXPLAIN.results(project).tables]
    assert titles[0] == "Do people see what the counterfactual changed?"
    assert titles[1].startswith("Can people name what the counterfactual changed?")


@pytest.mark.parametrize("k", [0, 3, 7])
def test_the_wilson_interval_holds_its_rate_even_at_the_edges(k):
    found = describe.wilson(k, 7)
    low, high = _wilson(k, 7)
    assert found.low <= k / 7 <= found.high
    assert (found.low, found.high) == (pytest.approx(low, abs=1e-12), pytest.approx(high))
