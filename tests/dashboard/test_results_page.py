"""The Results tab: typed metrics and figures, downloads per figure, and results cached per
project until the answers change (computed on the worker, not on every page view)."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from apps.core import engine, figures, results_cache
from apps.core.models import ItemMedia, ResultsSnapshot
from apps.core.results import (
    BarFigure,
    BarSeries,
    Figure,
    HistogramFigure,
    InvalidResults,
    Metric,
    Results,
    UnknownFigureKind,
    figure_from_dict,
)
from apps.core.tasks import results_compute
from tests.factories import ItemFactory, ParticipantFactory, ProjectFactory, attach_media

pytestmark = pytest.mark.django_db


@pytest.fixture
def rated(owner, rating_type, settings, tmp_path):
    """A test-rating project with two items whose media are small red and blue images."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    project = ProjectFactory(owner=owner, task_type="test-rating", slug="rated")
    for name, colour in (("red", (220, 20, 20)), ("blue", (20, 20, 220))):
        buffer = io.BytesIO()
        Image.new("RGB", (32, 24), colour).save(buffer, format="PNG")
        item = ItemFactory(project=project, external_id=name)
        attach_media(item, "main", buffer.getvalue(), f"{name}.png")
    return project


@pytest.fixture
def counted(monkeypatch, rating_type):
    """Counts how often the task type's results are computed."""
    calls = []
    original = rating_type.results

    def results(project):
        calls.append(project.pk)
        return original(project)

    monkeypatch.setattr(rating_type, "results", results)
    return calls


def results_url(project):
    return reverse("dashboard:results", args=[project.slug])


def figure_url(project, key, fmt):
    return reverse("dashboard:results_figure", args=[project.slug, key, fmt])


def answer(project, name="w1", score=4):
    worker = ParticipantFactory(project=project, external_id=name)
    assignment = engine.next_item(participant=worker).assignment
    engine.annotation_submit(
        assignment=assignment, value={"score": score}, client_token=f"{name}-{assignment.pk}"
    )
    return worker


def test_metric_cards_show_labels_groups_intervals_and_an_explained_dash(client, owner, rated):
    client.force_login(owner)
    html = client.get(results_url(rated)).content.decode()
    assert '<h3 class="metric-group">Scores</h3>' in html
    assert '<h3 class="metric-group">Answers</h3>' in html
    assert html.index(">Scores<") < html.index(">Answers<")  # groups in the task type's order
    assert re.search(
        r'id="metric-mos">\s*<div class="label">MOS</div>\s*<div class="value">3\.500<', html
    )
    assert '95% CI <span class="range">3.200–3.800</span>' in html
    gold = re.search(r'id="metric-gold">(.*?)</div>\s*</div>', html, re.S).group(1)
    assert "Gold accuracy" in gold and "—" in gold and "no gold items yet" in gold
    assert "A note from the task type." in html and "Per system" in html


def test_a_missing_metric_without_a_reason_is_refused():
    with pytest.raises(InvalidResults, match="note saying why"):
        Metric(key="kappa", label="Cohen's κ", value=None)


def test_metrics_given_as_a_dict_are_refused_with_a_clear_message():
    with pytest.raises(InvalidResults, match="list of Metric entries"):
        Results(metrics={"dawid_skene_precision": 0.8})


def test_every_figure_is_drawn_with_its_data_table_and_downloads(client, owner, rated):
    client.force_login(owner)
    html = client.get(results_url(rated)).content.decode()
    # Four figures inline as matplotlib SVG (text kept as text), the image grid as its PNG.
    assert html.count('<svg class="figure-svg" role="img"') == 4
    assert 'aria-label="Score histogram"' in html and "<text" in html
    assert f'<img class="figure-img" src="{figure_url(rated, "samples", "png")}"' in html
    assert html.count('<details class="figure-data">') == 5
    histogram = re.search(r'id="figure-score-histogram".*?</section>', html, re.S).group(0)
    assert '<th scope="col">score from</th>' in histogram and "<td>4</td>" in histogram
    samples = re.search(r'id="figure-samples".*?</section>', html, re.S).group(0)
    red = ItemMedia.objects.get(item__external_id="red").file.name  # opaque: items/<id>/<uuid>
    assert "<td>red</td>" in samples and red in samples and "red.png" not in samples
    for key in ("score-histogram", "per-system-bars", "model-against-humans", "samples"):
        for fmt in ("svg", "pdf", "png"):
            assert f'href="{figure_url(rated, key, fmt)}" download' in html
    # Small enough to inline: a few tens of kilobytes per figure, not glyph outlines.
    for svg in re.findall(r"<svg class=\"figure-svg\".*?</svg>", html, re.S):
        assert len(svg) < 40_000


@pytest.mark.parametrize(
    ("fmt", "content_type", "magic"),
    [
        ("svg", "image/svg+xml", b"<?xml"),
        ("pdf", "application/pdf", b"%PDF"),
        ("png", "image/png", b"\x89PNG"),
    ],
)
def test_each_figure_downloads_as_svg_pdf_and_png(client, owner, rated, fmt, content_type, magic):
    client.force_login(owner)
    for key in (
        "score-histogram",
        "per-system-bars",
        "model-against-humans",
        "mos-by-training-step",
        "samples",
    ):
        response = client.get(figure_url(rated, key, fmt))
        assert response.status_code == 200, key
        assert response["Content-Type"] == content_type
        assert response.content.startswith(magic)
        assert response["Content-Disposition"] == f'attachment; filename="rated-{key}.{fmt}"'


def test_the_image_grid_png_shows_the_items_images(client, owner, rated):
    client.force_login(owner)
    png = Image.open(io.BytesIO(client.get(figure_url(rated, "samples", "png")).content))
    colours = {pixel for _, pixel in png.convert("RGB").getcolors(1_000_000)}
    assert (220, 20, 20) in colours and (20, 20, 220) in colours


def test_an_unknown_figure_format_or_key_is_not_found(client, owner, rated):
    client.force_login(owner)
    assert client.get(figure_url(rated, "score-histogram", "gif")).status_code == 404
    assert client.get(figure_url(rated, "no-such-figure", "png")).status_code == 404


def test_figures_are_closed_to_outsiders(client, outsider, rated):
    client.force_login(outsider)
    assert client.get(results_url(rated)).status_code == 404
    assert client.get(figure_url(rated, "score-histogram", "svg")).status_code == 404


def test_an_unknown_figure_kind_is_an_error_not_a_bar_chart():
    with pytest.raises(UnknownFigureKind, match="'pie'"):
        figure_from_dict({"kind": "pie", "title": "Shares", "series": {}})

    class PieFigure(Figure):
        kind = "pie"

    pie = PieFigure(title="Shares")
    with pytest.raises(UnknownFigureKind):
        Results(figures=[pie])
    with pytest.raises(UnknownFigureKind):
        figures.render(pie, "svg")
    with pytest.raises(UnknownFigureKind):
        figures.inline_svg(pie)


def test_figure_data_that_cannot_be_drawn_is_refused():
    with pytest.raises(InvalidResults, match="one more"):
        HistogramFigure(title="h", edges=[0, 1], counts=[1, 2], x_label="x")
    with pytest.raises(InvalidResults, match="2 values for 3 categories"):
        BarFigure(
            title="b",
            categories=["a", "b", "c"],
            series=[BarSeries(name="s", values=[1, 2])],
            y_label="y",
        )


def test_results_round_trip_through_json_with_their_figure_kinds(rating_type, rated):
    results = rating_type.results(rated)
    again = Results.from_dict(results.to_dict())
    assert again == results
    assert [type(f).__name__ for f in again.figures] == [
        "HistogramFigure",
        "BarFigure",
        "ScatterFigure",
        "LineFigure",
        "ImageGridFigure",
    ]


def test_a_second_page_view_shows_the_stored_results_without_recomputing(
    client, owner, rated, counted
):
    client.force_login(owner)
    client.get(results_url(rated))
    client.get(results_url(rated))
    client.get(figure_url(rated, "per-system-bars", "pdf"))
    assert counted == [rated.pk]  # computed once, on the first open
    assert ResultsSnapshot.objects.get(project=rated).version == results_cache.results_version(
        rated
    )


def test_a_new_answer_makes_the_page_ask_the_worker_once_and_show_computing(
    client, owner, rated, counted, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(results_compute, "delay", lambda project_id: sent.append(project_id))
    client.force_login(owner)
    client.get(results_url(rated))
    answer(rated)
    with django_capture_on_commit_callbacks(execute=True):
        html = client.get(results_url(rated)).content.decode()
        again = client.get(results_url(rated), headers={"HX-Request": "true"}).content.decode()
    assert sent == [rated.pk]  # asked once for this version, though viewed twice
    assert counted == [rated.pk]  # the page itself did not recompute
    assert "Computing updated results on the worker" in html
    assert 'hx-trigger="load delay:2s"' in html
    assert again.lstrip().startswith('<div id="results-body"') and "hx-get" in again  # polls

    results_compute(rated.pk)  # what the worker runs
    assert counted == [rated.pk, rated.pk]
    fresh = client.get(results_url(rated), headers={"HX-Request": "true"}).content.decode()
    assert "Computing updated results" not in fresh and "hx-trigger" not in fresh
    results_compute(rated.pk)  # delivered twice: nothing to do
    assert len(counted) == 2


def test_a_skip_and_a_block_also_make_the_results_stale(client, owner, rated):
    client.force_login(owner)
    client.get(results_url(rated))
    first = results_cache.results_version(rated)
    skipper = ParticipantFactory(project=rated, external_id="skipper")
    engine.assignment_skip(assignment=engine.next_item(participant=skipper).assignment)
    after_skip = results_cache.results_version(rated)
    assert after_skip != first
    skipper.block("test")
    after_block = results_cache.results_version(rated)
    assert after_block != after_skip
    rated.config = {"scale_max": 7}
    rated.save(update_fields=["config"])
    after_settings = results_cache.results_version(rated)
    assert after_settings != after_block  # new settings, new results
    rated.derived = {"scores": "recomputed"}
    rated.save(update_fields=["derived"])
    assert results_cache.results_version(rated) != after_settings


def test_without_a_worker_the_page_computes_the_results_itself_after_a_while(
    client, owner, rated, counted, monkeypatch
):
    monkeypatch.setattr(results_compute, "delay", lambda project_id: None)  # nobody listens
    client.force_login(owner)
    client.get(results_url(rated))
    answer(rated)
    client.get(results_url(rated))
    assert len(counted) == 1
    ResultsSnapshot.objects.filter(project=rated).update(
        requested_at=timezone.now() - results_cache.INLINE_AFTER - timedelta(seconds=1)
    )
    html = client.get(results_url(rated)).content.decode()
    assert len(counted) == 2 and "Computing updated results" not in html


def test_results_stored_by_older_code_are_recomputed(client, owner, rated, counted):
    client.force_login(owner)
    client.get(results_url(rated))
    snapshot = ResultsSnapshot.objects.get(project=rated)
    snapshot.data["results"]["figures"][0]["kind"] = "pie"
    snapshot.save(update_fields=["data"])
    html = client.get(results_url(rated)).content.decode()
    assert len(counted) == 2 and 'aria-label="Score histogram"' in html


def test_figure_text_is_escaped_and_a_dollar_sign_is_not_tex():
    bars = BarFigure(
        title="Systems <b>",
        categories=["<script>alert(1)</script>", "$5 budget $x^2$"],
        series=[BarSeries(name="items", values=[1, 2])],
        y_label="items",
        counts=True,
    )
    svg = figures.inline_svg(bars)
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "$5 budget $x^2$" in svg and 'aria-label="Systems &lt;b>"' in svg


def test_a_missing_image_leaves_a_marked_gap_in_the_grid(settings, tmp_path):
    from apps.core.results import GridImage, ImageGridFigure

    settings.MEDIA_ROOT = str(tmp_path)
    grid = ImageGridFigure(
        title="Maps", images=[GridImage(name="gone.png"), GridImage(name="../../etc/passwd")]
    )
    assert figures.render(grid, "png").startswith(b"\x89PNG")
