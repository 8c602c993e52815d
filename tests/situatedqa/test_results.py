"""The results page against numbers recomputed here, independently, from the database and
the shipped official files: Krippendorff's alpha by hand (the coincidence matrix), shares and
Wilson intervals with statsmodels, exact match with a normalisation written out below."""

from __future__ import annotations

import json
import re
import string
import unicodedata
from collections import Counter

import numpy as np
import pytest
from django.urls import reverse
from statsmodels.stats.proportion import proportion_confint

from apps.core.models import Annotation, Item
from apps.situatedqa import results as results_page
from apps.situatedqa.tasktype import SITUATEDQA

from .conftest import ENGLAND, root, shipped

pytestmark = pytest.mark.django_db


def alpha_by_hand(units: list[list[str]]) -> float:
    """Krippendorff's alpha, nominal, from the coincidence matrix (Krippendorff 2011)."""
    values = sorted({v for unit in units for v in unit})
    index = {v: i for i, v in enumerate(values)}
    o = np.zeros((len(values), len(values)))
    for unit in units:
        m = len(unit)
        for i, a in enumerate(unit):
            for j, b in enumerate(unit):
                if i != j:
                    o[index[a], index[b]] += 1 / (m - 1)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    observed = o.sum() - np.trace(o)
    expected = (n * n - (n_c**2).sum()) / (n - 1)
    return 1 - observed / expected


def squad(text: str) -> str:
    text = unicodedata.normalize("NFD", text).lower()
    text = "".join(c for c in text if c not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _votes(project, variant):
    units = []
    for item in Item.objects.filter(project=project, stage="identify", payload__variant=variant):
        units.append([a.value["dependent"] for a in Annotation.objects.filter(item=item)])
    return units


def test_stage_numbers_are_recomputed_by_hand(study):
    results = SITUATEDQA.results(study)
    for variant, dependent, decided, agree, official in (
        ("temp", 1, 3, 3, 3),
        ("geo", 1, 2, 1, 2),
    ):
        units = _votes(study, variant)
        assert results.value(f"alpha_{variant}") == pytest.approx(alpha_by_hand(units))
        assert results.value(f"decided_{variant}") == decided
        assert results.value(f"dependent_share_{variant}") == pytest.approx(
            100 * dependent / decided
        )
        low, high = proportion_confint(dependent, decided, alpha=0.05, method="wilson")
        interval = results.metric(f"dependent_share_{variant}").interval
        assert interval == pytest.approx((100 * low, 100 * high))
        assert results.value(f"official_agreement_{variant}") == pytest.approx(
            100 * agree / official
        )
    assert alpha_by_hand([["a", "a"], ["b", "b"]]) == 1.0
    assert alpha_by_hand([["a", "b"], ["b", "a"]]) == pytest.approx(-0.5)  # Krippendorff's table
    assert results.value("collected_temp") == 2 and results.value("collected_geo") == 2
    assert results.value("accepted_temp") == 50.0  # one accepted, one rejected
    assert results.value("accepted_geo") == 50.0  # one accepted, one corrected
    note = results.metric("accepted_geo").note
    assert "1 of 2 validated; 1 corrected, 0 rejected" in note

    table = results.tables[0]
    assert table.title == "Progress per stage"
    expected = []
    for stage, label in (("identify", "1 · "), ("collect", "2 · "), ("validate", "3 · ")):
        for variant, name in (("temp", "Temporal"), ("geo", "Geographic")):
            items = Item.objects.filter(project=study, stage=stage, payload__variant=variant)
            if not items:
                continue
            answers = Annotation.objects.filter(item__in=items).count()
            complete = sum(
                Annotation.objects.filter(item=i).count() >= i.wanted_answers for i in items
            )
            expected.append([label, name, items.count(), complete, answers])
    assert [[r[0][:4], *r[1:5]] for r in table.rows] == expected
    assert [r[2] for r in table.rows] == [3, 2, 1, 1, 2, 2]


def _exported(client, owner, project, variant):
    client.force_login(owner)
    url = reverse("dashboard:export_download", args=[project.slug, f"qa_data-{variant}", "native"])
    return [json.loads(line) for line in b"".join(client.get(url).streaming_content).splitlines()]


def _em_by_hand(crowd_rows, official_rows, variant):
    crowd = {}
    for row in crowd_rows:
        counts = Counter(squad(a) for a in row["answer"])
        best = max(counts.values())
        crowd.setdefault(
            (row["id"], row["edited_question"]),
            next(a for a in row["answer"] if counts[squad(a)] == best),
        )
    cells: dict[str, list[int]] = {}

    def add(cell, right):
        k, n = cells.setdefault(cell, [0, 0])
        cells[cell] = [k + right, n + 1]

    ids = {row["id"] for row in crowd_rows}
    for gold in official_rows:
        key = (gold["id"], gold["edited_question"])
        if gold["id"] not in ids or key not in crowd:
            continue
        guess = squad(crowd[key])
        right = guess in {squad(g) for g in gold["answer"]}
        if variant == "temp":
            kind = {"orig": "static", "start": "start"}.get(gold["date_type"], "sampled")
        else:
            common = {
                "united states",
                "india",
                "united kingdom",
                "australia",
                "canada",
                "china",
                "new york",
                "florida",
                "japan",
                "england",
                "uk",
                "germany",
                "spain",
                "georgia",
                "france",
                "new york city",
                "alabama",
                "russia",
                "kentucky",
                "ohio",
                "us",
                "california",
                "texas",
                "pakistan",
                "mexico",
                "new zealand",
                "usa",
                "israel",
            }
            kind = "common" if squad(gold["location"]) in common else "rare"
        add(kind, right)
        add("total", right)
        add("any", guess in {squad(g) for g in gold["any_answer"]})
    return cells


def _cell(text: str) -> list[int]:
    k, n = re.match(r"(\d+) / (\d+) = ", text).groups()
    return [int(k), int(n)]


def test_exact_match_is_recomputed_from_the_export_and_the_official_file(study, client, owner):
    results = SITUATEDQA.results(study)
    for variant in ("temp", "geo"):
        _check_em(results, client, owner, study, variant)


def _check_em(results, client, owner, study, variant):
    crowd = _exported(client, owner, study, variant)
    official = [json.loads(line) for line in shipped("qa", variant).splitlines()]
    expected = _em_by_hand(crowd, official, variant)
    (table,) = [
        t
        for t in results.tables
        if t.title.startswith("Exact match")
        and ("temporal" if variant == "temp" else "geographic") in t.title
    ]
    shown = dict(zip(table.columns[1:], table.rows[0][1:], strict=True))
    for column, text in shown.items():
        cell = column.split(" ")[0]
        assert _cell(text) == expected.get(cell, [0, 0]), (column, text)
        k, n = expected.get(cell, [0, 0])
        if n:
            assert text == f"{k} / {n} = {100 * k / n:.1f}"
    if variant == "geo":
        # maryland, Texas (right), Connecticut (wrong), washington d.c. (the correction)
        assert expected["total"] == [3, 4] and expected["common"] == [1, 1]
    else:
        assert expected["start"] == [1, 2]  # 2018 right; 1990's answer is "1990 World Cup"


def test_the_results_page_shows_the_numbers_and_timelines(study, client, owner):
    client.force_login(owner)
    html = client.get(reverse("dashboard:results", args=[study.slug])).content.decode()
    results = SITUATEDQA.results(study)
    assert "Krippendorff" in html and "Found dependent (%)" in html
    assert results.metric("alpha_temp").display in html
    assert "Exact match of the crowd&#x27;s final answers" in html
    timeline = results.figure(f"timeline-{root(study, 'temp', ENGLAND).pk}")
    rows = {s.row: [] for s in timeline.spans}
    for span in timeline.spans:
        rows[span.row].append((span.label, span.start, span.end))
    assert rows["Crowd 1"] == [("1990 World Cup", 1990.0, 2018.0), ("2018", 2018.0, 2022.0)]
    assert (
        rows["Official 1"]
        == rows["Official 2"]
        == [("1990", 1990.0, 2018.0), ("2018", 2018.0, 2022.0)]
    )
    assert 'id="figure-timeline-' in html and "<svg" in html

    questions = results_page.selectors.questions(study, variant="geo")
    rows = results_page.scored_rows(study, "geo", questions, results_page.config_of(study))
    assert sorted(r["location"] for r in rows) == [
        "Connecticut",
        "Texas",
        "maryland",
        "washington d.c.",
    ]
    assert {r["location"]: r["pred_answer"] for r in rows}["Connecticut"] == "less than 1 ounce"
