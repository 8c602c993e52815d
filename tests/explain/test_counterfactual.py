"""Counterfactual pairs: a manifest zip imports every pair or none, the form flickers without
script and stores a side-corrected verdict, and the results' binomial tests, intervals and
chart recompute. The describe variant (free text scored against keywords): ``test_describe``."""

from __future__ import annotations

import csv
import io
import re
import zipfile

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from scipy.stats import beta, binomtest

from apps.core.demo import demo_answers_simulate
from apps.core.models import Annotation, Item, ItemMedia
from apps.explain import counterfactual, images
from apps.explain.tasktype import EXPLAIN
from tests.crowd.test_flow import form_of, start

pytestmark = pytest.mark.django_db


def _zip(rows: list[dict], files: dict[str, bytes]) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=counterfactual.COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(counterfactual.MANIFEST, text.getvalue())
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _png(value: int) -> bytes:
    return images.png_bytes(np.full((16, 16, 3), value, dtype=np.uint8))


def _row(pair_id: str, **overrides) -> dict:
    row = {
        "pair_id": pair_id,
        "original": f"img/{pair_id}-a.png",
        "counterfactual": f"img/{pair_id}-b.png",
        "p_original": "0.9",
        "p_counterfactual": "0.2",
        "attribute": "the hair colour",
        "distractor_attribute": "the lighting",
    }
    return {**row, **overrides}


def _files(*pair_ids: str) -> dict[str, bytes]:
    return {f"img/{p}-{s}.png": _png(40 if s == "a" else 200) for p in pair_ids for s in "ab"}


def test_a_manifest_zip_imports_one_item_per_pair_with_both_images(explain_project):
    project = explain_project("counterfactual")
    content = _zip([_row("p1"), _row("p2", attribute="the smile")], _files("p1", "p2"))
    report = EXPLAIN.import_items(project, SimpleUploadedFile("pairs.zip", content))
    assert report.ok, report.errors
    assert report.created == 2
    item = Item.objects.get(project=project, external_id="p2")
    assert item.payload["attribute"] == "the smile"
    assert item.payload["p_counterfactual"] == 0.2
    assert set(ItemMedia.objects.filter(item=item).values_list("key", flat=True)) == {
        "original",
        "counterfactual",
    }


def test_a_bad_row_is_refused_by_its_line_and_nothing_is_stored(explain_project):
    project = explain_project("counterfactual")
    rows = [_row("p1"), _row("p2", counterfactual="img/missing.png"), _row("p3", p_original="2")]
    report = EXPLAIN.import_items(
        project, SimpleUploadedFile("pairs.zip", _zip(rows, _files("p1", "p2", "p3")))
    )
    assert not report.ok
    messages = " ".join(str(e) for e in report.errors)
    assert "missing.png" in messages and "[0, 1]" in messages
    assert not Item.objects.filter(project=project).exists()
    assert not ItemMedia.objects.exists()


def test_the_form_flickers_without_script_and_stores_whether_the_attribute_was_picked(
    client, explain_project
):
    project = explain_project("counterfactual", status="live")
    EXPLAIN.seed_demo(project)
    response = start(client, project)
    html = response.content.decode()
    assert "explain-flicker" in html
    form = html[html.index("data-explain") :]
    assert "<script" not in form[: form.index("</fieldset>")]
    order = re.search(r'name="order" value="(ad|da)"', html).group(1)
    action, token = form_of(response)
    client.post(action, {"client_token": token, "choice": "first", "order": order})
    value = Annotation.objects.get(project=project).value
    assert value["correct"] == (order == "ad")


def _clopper_pearson(k: int, n: int) -> tuple[float, float]:
    """The exact 95 % interval by its beta-quantile formula (0 and 1 at the edges)."""
    low = 0.0 if k == 0 else beta.ppf(0.025, k, n - k + 1)
    high = 1.0 if k == n else beta.ppf(0.975, k + 1, n - k)
    return low, high


def test_the_demo_results_recompute_with_a_binomial_test_per_attribute(explain_project):
    project = explain_project("counterfactual", status="live")
    EXPLAIN.seed_demo(project)
    assert project.items.count() == counterfactual.DEMO_PAIRS
    assert ItemMedia.objects.filter(item__project=project).count() == 2 * counterfactual.DEMO_PAIRS
    demo_answers_simulate(project=project, participants=10)

    per_attribute: dict[str, list[bool]] = {}
    for a in Annotation.objects.filter(project=project).select_related("item"):
        side_is_attribute = (a.value["choice"] == "first") == (a.value["order"] == "ad")
        assert a.value["correct"] == side_is_attribute
        per_attribute.setdefault(a.item.payload["attribute"], []).append(side_is_attribute)
    table = EXPLAIN.results(project).tables[0]
    rows = {row[0]: row for row in table.rows}
    everything = [v for vs in per_attribute.values() for v in vs]
    for label, verdicts in [("All attributes", everything), *per_attribute.items()]:
        k, n = sum(verdicts), len(verdicts)
        low, high = _clopper_pearson(k, n)
        assert rows[label][1:] == [
            f"{k / n:.3f}",
            f"{low:.3f}–{high:.3f}",
            f"{k} / {n}",
            f"{binomtest(k, n, 0.5).pvalue:.4g}",
        ]
    assert set(per_attribute) == {counterfactual.COLOUR, counterfactual.BACKGROUND}
    figure = EXPLAIN.results(project).figure("counterfactual-accuracy")
    assert figure.categories == sorted(per_attribute)
    assert [r.value for r in figure.references] == [0.5]
    for i, attribute in enumerate(figure.categories):
        k, n = sum(per_attribute[attribute]), len(per_attribute[attribute])
        assert figure.series[0].values[i] == pytest.approx(k / n)
        low, high = _clopper_pearson(k, n)
        assert figure.series[0].lower[i] == pytest.approx(low)
        assert figure.series[0].upper[i] == pytest.approx(high)
