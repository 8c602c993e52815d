"""The dashboard's pages over HTTP: who may see and change what, and what each tab shows."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.core.engine import annotation_submit
from apps.core.models import Assignment, Item, Participant, Project
from apps.core.quality import answers_frame
from tests.api.helpers import three_workers_and_one_spammer
from tests.factories import ItemFactory

pytestmark = pytest.mark.django_db

TABS = ["project_detail", "data", "launch", "progress", "quality", "results", "export"]


def login(client, user):
    client.force_login(user)
    return client


@pytest.mark.parametrize("tab", TABS)
def test_every_tab_renders_for_a_viewer(client, project, viewer, tab):
    response = login(client, viewer).get(reverse(f"dashboard:{tab}", args=[project.slug]))
    assert response.status_code == 200
    assert project.title.encode() in response.content


@pytest.mark.parametrize("tab", TABS)
def test_an_outsider_gets_404_on_every_tab(client, project, outsider, tab):
    response = login(client, outsider).get(reverse(f"dashboard:{tab}", args=[project.slug]))
    assert response.status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(client, project):
    response = client.get(reverse("dashboard:quality", args=[project.slug]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_project_list_shows_only_my_projects(client, project, outsider, researcher):
    assert project.title not in login(client, outsider).get("/").content.decode()
    assert project.title in login(client, researcher).get("/").content.decode()


def test_a_researcher_creates_a_draft_project_with_its_task_type_settings(
    client, researcher, rating_type
):
    login(client, researcher)
    page = client.get(reverse("dashboard:project_new") + "?task_type=test-rating")
    assert b'name="cfg_scale_max"' in page.content  # a field per simple setting
    assert b"Highest point of the scale." in page.content  # help text from the pydantic schema
    response = client.post(
        reverse("dashboard:project_new"),
        {
            "title": "MOS pilot",
            "slug": "mos-pilot",
            "task_type_key": "test-rating",
            "cfg_scale_max": "7",
            "cfg_question": "How natural?",
            "cfg_order": "fixed",
            "config_json": '{"anchors": ["awful", "great"]}',
            "overlap": "5",
            "reservation_minutes": "10",
            "gold_rate": "0.1",
            "gold_block_below": "0.6",
            "gold_block_after": "4",
            "completion_code": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    project = Project.objects.get(slug="mos-pilot")
    assert project.status == Project.Status.DRAFT
    assert project.owner == researcher
    assert project.config == {
        "scale_max": 7,
        "question": "How natural?",
        "anchors": ["awful", "great"],
        "order": "fixed",
    }
    assert (
        project.overlap,
        project.gold_rate,
        project.gold_block_below,
        project.gold_block_after,
    ) == (5, 0.1, 0.6, 4)


def test_bad_task_type_settings_are_shown_on_their_fields_and_nothing_is_created(
    client, researcher, rating_type
):
    response = login(client, researcher).post(
        reverse("dashboard:project_new"),
        {
            "title": "MOS pilot",
            "slug": "mos-pilot",
            "task_type_key": "test-rating",
            "cfg_scale_max": "40",
            "cfg_question": "How natural?",
            "cfg_order": "random",
            "config_json": '{"anchors": "not a list", "colour": 1}',
            "overlap": "3",
            "reservation_minutes": "10",
            "gold_rate": "0",
            "gold_block_after": "5",
        },
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "less than or equal to 10" in str(form.errors["cfg_scale_max"])
    assert "anchors" in str(form.errors["config_json"])
    assert "colour" in str(form.errors["config_json"])
    assert not Project.objects.filter(slug="mos-pilot").exists()


def test_invalid_json_settings_name_the_line(client, researcher, rating_type):
    response = login(client, researcher).post(
        reverse("dashboard:project_new"),
        {
            "title": "x",
            "slug": "x",
            "task_type_key": "test-rating",
            "cfg_scale_max": "5",
            "cfg_question": "abc",
            "cfg_order": "random",
            "config_json": '{\n"anchors": [}',
            "overlap": "3",
            "reservation_minutes": "10",
            "gold_rate": "0",
            "gold_block_after": "5",
        },
    )
    assert "Not valid JSON (line 2" in str(response.context["form"].errors["config_json"])


def test_switching_task_type_reloads_the_settings_fields_in_place(client, researcher, rating_type):
    response = login(client, researcher).post(
        reverse("dashboard:project_new"),
        {"task_type_key": "test-rating", "switch": "1", "title": "Kept"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert html.lstrip().startswith("<form")  # only the partial
    assert 'name="cfg_scale_max"' in html and 'value="Kept"' in html


def test_a_taken_slug_is_refused(client, researcher, project):
    response = login(client, researcher).post(
        reverse("dashboard:project_new"),
        {
            "title": "Again",
            "slug": project.slug,
            "task_type_key": "test-choice",
            "overlap": "3",
            "reservation_minutes": "10",
            "gold_rate": "0",
            "gold_block_after": "5",
        },
    )
    assert "exists" in str(response.context["form"].errors["slug"])


def test_the_settings_form_sets_the_automatic_block_rule(client, project, researcher):
    response = login(client, researcher).post(
        reverse("dashboard:project_detail", args=[project.slug]),
        {
            "title": "Renamed",
            "overlap": "2",
            "reservation_minutes": "15",
            "gold_rate": "0.2",
            "gold_block_below": "0.75",
            "gold_block_after": "3",
            "completion_code": "DONE42",
            "config_json": "{}",
        },
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert (
        project.title,
        project.overlap,
        project.gold_block_below,
        project.gold_block_after,
        project.completion_code,
    ) == ("Renamed", 2, 0.75, 3, "DONE42")
    assert project.reservation_ttl.total_seconds() == 15 * 60


def test_a_viewer_cannot_change_settings(client, project, viewer):
    response = login(client, viewer).post(
        reverse("dashboard:project_detail", args=[project.slug]),
        {
            "title": "Hijacked",
            "overlap": "2",
            "reservation_minutes": "15",
            "gold_rate": "0",
            "gold_block_after": "3",
        },
    )
    assert response.status_code == 404
    project.refresh_from_db()
    assert project.title == "A study"


def test_launch_moves_a_project_through_its_statuses(client, project, researcher):
    login(client, researcher)
    project.set_status(Project.Status.DRAFT)
    url = reverse("dashboard:launch", args=[project.slug])
    client.post(url, {"status": "live"})
    project.refresh_from_db()
    assert project.status == Project.Status.DRAFT  # no items yet: refused
    ItemFactory(project=project)
    for status in ("live", "paused", "live", "closed"):
        client.post(url, {"status": status})
        project.refresh_from_db()
        assert project.status == status
    client.post(url, {"status": "paused"})  # closed → paused is not a transition
    project.refresh_from_db()
    assert project.status == Project.Status.CLOSED


def test_the_launch_tab_gives_prolific_and_mturk_links(client, project, viewer):
    html = login(client, viewer).get(reverse("dashboard:launch", args=[project.slug])).content
    html = html.decode()
    assert f"/p/{project.slug}/?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}" in html
    assert "ExternalQuestion" in html and project.completion_code in html
    assert 'data-copy="link-prolific"' in html
    assert "Launch</button>" not in html  # viewers get no status buttons


def test_progress_counts_follow_the_answers_and_refresh_as_a_partial(client, project, viewer):
    three_workers_and_one_spammer(project)
    login(client, viewer)
    response = client.get(
        reverse("dashboard:progress", args=[project.slug]), HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="progress-counts"')
    counts = response.context["counts"]
    assert (counts.items, counts.items_complete, counts.answers, counts.participants) == (
        4,
        4,
        16,
        4,
    )
    assert counts.answers_last_hour == 16 and counts.percent == 100


def test_quality_shows_gold_accuracy_agreement_and_alpha(client, project, viewer):
    careful, spammer = three_workers_and_one_spammer(project)
    gold = Item.objects.create(
        project=project,
        external_id="g1",
        kind=Item.Kind.GOLD,
        payload={"text": "gold"},
        gold_value={"choice": "a"},
    )
    for person, choice in ((careful[0], "a"), (spammer, "b")):
        assignment = Assignment.objects.create(
            item=gold, participant=person, expires_at=timezone.now() + project.reservation_ttl
        )
        annotation_submit(
            assignment=assignment, value={"choice": choice}, client_token=f"gold-{person.pk}"
        )
    response = login(client, viewer).get(reverse("dashboard:quality", args=[project.slug]))
    rows = {row.participant.external_id: row for row in response.context["quality"].rows}
    assert rows["careful-0"].gold_accuracy == 1.0 and rows["spammer"].gold_accuracy == 0.0
    assert rows["careful-1"].agreement == 1.0 and rows["spammer"].agreement == 0.0
    assert rows["careful-0"].answers == 5 and rows["careful-0"].median_seconds == 1.6
    assert response.context["quality"].alpha is not None
    assert b"Krippendorff" in response.content


def test_dawid_skene_labels_are_shown_when_asked(client, project, viewer):
    three_workers_and_one_spammer(project)
    response = login(client, viewer).get(
        reverse("dashboard:quality", args=[project.slug]) + "?method=dawid_skene"
    )
    labels = {item_id: agg.label for item_id, agg in response.context["quality"].aggregate_head}
    assert labels == {"q0": "a", "q1": "a", "q2": "a", "q3": "a"}


def test_blocking_keeps_answers_but_leaves_them_out_of_results(client, project, researcher):
    _, spammer = three_workers_and_one_spammer(project)
    login(client, researcher)
    url = reverse("dashboard:participant_block", args=[project.slug, spammer.public_id])
    response = client.post(url, {"blocked": "on"})
    assert response.status_code == 302
    spammer.refresh_from_db()
    assert spammer.status == Participant.Status.BLOCKED
    assert spammer.annotations.count() == 4
    assert spammer.pk not in set(answers_frame(project)["worker"])
    client.post(url, {})
    spammer.refresh_from_db()
    assert spammer.status == Participant.Status.ACTIVE


def test_a_viewer_cannot_block_and_an_outsider_cannot_see(client, project, viewer, outsider):
    _, spammer = three_workers_and_one_spammer(project)
    url = reverse("dashboard:participant_block", args=[project.slug, spammer.public_id])
    assert login(client, viewer).post(url, {"blocked": "on"}).status_code == 404
    assert login(client, outsider).post(url, {"blocked": "on"}).status_code == 404
    spammer.refresh_from_db()
    assert spammer.status == Participant.Status.ACTIVE


def test_results_render_the_task_types_metrics_tables_and_svg_figures(client, owner, rating_type):
    from tests.factories import ProjectFactory

    project = ProjectFactory(owner=owner, task_type="test-rating")
    html = login(client, owner).get(reverse("dashboard:results", args=[project.slug])).content
    html = html.decode()
    assert "MOS" in html and "Per system" in html and "A note from the task type." in html
    assert html.count('<svg class="figure-svg"') == 4  # and the image grid as a PNG
    assert "Score histogram" in html


def test_the_api_token_page_makes_and_replaces_a_token(client, researcher):
    from rest_framework.authtoken.models import Token

    login(client, researcher)
    assert b"no API token yet" in client.get(reverse("dashboard:api_token")).content
    client.post(reverse("dashboard:api_token"))
    first = Token.objects.get(user=researcher).key
    assert first.encode() in client.get(reverse("dashboard:api_token")).content
    client.post(reverse("dashboard:api_token"))
    assert Token.objects.get(user=researcher).key != first
