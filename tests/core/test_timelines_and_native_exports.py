"""Two small generic pieces the SituatedQA task type brought to the core: the timeline figure
kind, and a record set's own file layout (``native``) beside JSONL and CSV."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.core import figures
from apps.core.results import InvalidResults, Results, TimelineFigure, TimeSpan


def _timeline() -> TimelineFigure:
    return TimelineFigure(
        title="Who held the title",
        rows=["Crowd 1", "Official"],
        spans=[
            TimeSpan(row="Crowd 1", label="France", start=2018, end=2022.96),
            TimeSpan(row="Crowd 1", label="Argentina", start=2022.96, end=2024),
            TimeSpan(row="Official", label="France", start=2018, end=2024),
        ],
    )


def test_a_timeline_round_trips_through_json_and_has_its_data_table():
    results = Results(figures=[_timeline()])
    again = Results.from_dict(results.to_dict())
    assert again == results and type(again.figures[0]) is TimelineFigure
    table = again.figures[0].table()
    assert table.columns == ["row", "label", "year from", "to"]
    assert table.rows[1] == ["Crowd 1", "Argentina", 2022.96, 2024.0]


def test_a_timeline_that_cannot_be_drawn_is_refused():
    with pytest.raises(InvalidResults, match="unknown row 'Nobody'"):
        TimelineFigure(
            title="t", rows=["A"], spans=[TimeSpan(row="Nobody", label="x", start=1, end=2)]
        )
    with pytest.raises(InvalidResults, match="ends before it starts"):
        TimelineFigure(title="t", rows=["A"], spans=[TimeSpan(row="A", label="x", start=3, end=2)])
    with pytest.raises(InvalidResults, match="no rows or no spans"):
        TimelineFigure(title="t", rows=["A"], spans=[])


@pytest.mark.parametrize(("fmt", "magic"), [("svg", b"<?xml"), ("png", b"\x89PNG")])
def test_a_timeline_is_drawn_with_its_labels_as_text(fmt, magic):
    drawn = figures.render(_timeline(), fmt)
    assert drawn.startswith(magic)
    if fmt == "svg":
        svg = figures.inline_svg(_timeline())
        assert "Argentina" in svg and "Crowd 1" in svg and "Official" in svg


@pytest.mark.django_db
def test_a_record_set_without_a_layout_of_its_own_has_no_native_download(client, owner, project):
    client.force_login(owner)
    url = reverse("dashboard:export_download", args=[project.slug, "annotations", "native"])
    assert client.get(url).status_code == 404
    url = reverse("dashboard:export_download", args=[project.slug, "annotations", "xml"])
    assert client.get(url).status_code == 404
    html = client.get(reverse("dashboard:export", args=[project.slug])).content.decode()
    assert "Official JSONL" not in html


@pytest.mark.django_db
def test_the_export_tab_offers_the_native_download_where_there_is_one(client, owner):
    from apps.core.services import project_create

    project = project_create(owner=owner, slug="native", title="N", task_type="situatedqa")
    client.force_login(owner)
    html = client.get(reverse("dashboard:export", args=[project.slug])).content.decode()
    url = reverse("dashboard:export_download", args=[project.slug, "qa_data-geo", "native"])
    assert f'href="{url}" download>Official JSONL</a>' in html
    response = client.get(f"/api/projects/{project.slug}/export/qa_data-geo.native")
    assert response.status_code == 200  # the same download in the API (no rows yet)
    assert b"".join(response.streaming_content) == b""
