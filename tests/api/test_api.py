"""The REST API through DRF's test client: permissions per role, import, annotations,
participants, aggregates and streamed exports."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.core.models import Annotation, Item, Participant, Project
from tests.api.helpers import PNG, bulk_answers, make_zip, three_workers_and_one_spammer

pytestmark = pytest.mark.django_db


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0]}")
    return client


@pytest.fixture
def answered(project):
    careful, spammer = three_workers_and_one_spammer(project)
    return project, spammer


READS = [
    "/api/projects/{slug}/",
    "/api/projects/{slug}/items/",
    "/api/projects/{slug}/annotations/",
    "/api/projects/{slug}/participants/",
    "/api/projects/{slug}/aggregates/",
    "/api/projects/{slug}/export/annotations.csv",
]


@pytest.mark.parametrize("url", READS)
def test_reads_answer_members_404_outsiders_and_401_anonymous(
    answered, owner, researcher, viewer, outsider, url
):
    project, _ = answered
    url = url.format(slug=project.slug)
    for user in (owner, researcher, viewer):
        assert client_for(user).get(url).status_code == 200, (user, url)
    assert client_for(outsider).get(url).status_code == 404
    assert client_for().get(url).status_code == 401


def test_writes_are_for_owner_and_researchers_not_viewers(
    answered, owner, researcher, viewer, outsider
):
    project, spammer = answered
    block = f"/api/projects/{project.slug}/participants/{spammer.public_id}/block/"
    update = f"/api/projects/{project.slug}/"
    items = f"/api/projects/{project.slug}/items/import/?type=jsonl"
    for user, expected in ((viewer, 404), (outsider, 404), (None, 401)):
        c = client_for(user)
        assert c.post(block, {"blocked": True}, format="json").status_code == expected
        assert c.patch(update, {"title": "x"}, format="json").status_code == expected
        assert (
            c.post(items, b'{"id": "z"}\n', content_type="application/x-ndjson").status_code
            == expected
        )
    assert not Item.objects.filter(external_id="z").exists()
    for user in (owner, researcher):
        assert (
            client_for(user).patch(update, {"title": user.username}, format="json").status_code
            == 200
        )
    project.refresh_from_db()
    assert project.title == "researcher"


def test_only_the_owner_may_delete_a_project(project, researcher, owner):
    url = f"/api/projects/{project.slug}/"
    assert client_for(researcher).delete(url).status_code == 404
    assert client_for(owner).delete(url).status_code == 204
    assert not Project.objects.filter(pk=project.pk).exists()


def test_the_project_list_holds_my_projects_with_my_role(project, viewer, outsider):
    assert [p["role"] for p in client_for(viewer).get("/api/projects/").json()] == ["viewer"]
    assert client_for(outsider).get("/api/projects/").json() == []


def test_a_project_is_created_with_field_level_errors_when_bad(researcher, project):
    c = client_for(researcher)
    bad = c.post(
        "/api/projects/",
        {"slug": project.slug, "title": "", "task_type": "nope", "overlap": 0},
        format="json",
    )
    assert bad.status_code == 400
    assert set(bad.json()) == {"slug", "title", "task_type", "overlap"}
    ok = c.post(
        "/api/projects/",
        {"slug": "api-made", "title": "API made", "task_type": "test-choice", "overlap": 2},
        format="json",
    )
    assert ok.status_code == 201 and ok.json()["status"] == "draft"
    assert Project.objects.get(slug="api-made").owner == researcher


def test_launching_without_items_is_refused_on_the_status_field(researcher):
    c = client_for(researcher)
    c.post(
        "/api/projects/",
        {"slug": "empty", "title": "Empty", "task_type": "test-choice"},
        format="json",
    )
    response = c.patch("/api/projects/empty/", {"status": "live"}, format="json")
    assert response.status_code == 400 and "Import some items" in response.json()["status"][0]


def test_bulk_import_of_jsonl_csv_json_and_multipart(project, researcher):
    c = client_for(researcher)
    url = f"/api/projects/{project.slug}/items/import/"
    assert (
        c.post(
            url + "?type=jsonl", b'{"id": "j1", "text": "x"}\n', content_type="application/x-ndjson"
        ).json()["created"]
        == 1
    )
    assert (
        c.post(url + "?type=csv", b"id,text\nc1,y\nc2,z\n", content_type="text/csv").json()[
            "created"
        ]
        == 2
    )
    assert (
        c.post(url + "?type=json", b'[{"id": "n1"}]', content_type="application/json").json()[
            "created"
        ]
        == 1
    )
    upload = io.BytesIO(b'{"id": "m1"}\n')
    upload.name = "more.jsonl"
    assert c.post(url, {"file": upload}, format="multipart").json()["created"] == 1
    assert project.items.count() == 5


def test_a_bad_import_names_every_row_and_stores_nothing(project, researcher):
    response = client_for(researcher).post(
        f"/api/projects/{project.slug}/items/import/?type=jsonl",
        b'{"id": "a"}\nnot json\n{"id": "a"}\n[1]\n',
        content_type="application/x-ndjson",
    )
    assert response.status_code == 400
    assert [(e["line"], e["reason"][:12]) for e in response.json()["errors"]] == [
        (2, "not valid JS"),
        (3, "duplicate id"),
        (4, "each line mu"),
    ]
    assert Item.objects.count() == 0


def test_a_wrong_encoding_and_a_missing_format_are_explained(project, researcher):
    c = client_for(researcher)
    url = f"/api/projects/{project.slug}/items/import/"
    latin = c.post(
        url + "?type=csv", "id,text\n1,caf\xe9\n".encode("latin-1"), content_type="text/csv"
    )
    assert latin.status_code == 400 and "not UTF-8" in latin.json()["errors"][0]["reason"]
    missing = c.post(url, b"id\n1\n", content_type="text/csv")
    assert missing.status_code == 400 and "type" in missing.json()


def test_an_oversized_import_is_refused_with_413(project, researcher, settings):
    settings.CHORUS_MAX_UPLOAD_BYTES = 50
    response = client_for(researcher).post(
        f"/api/projects/{project.slug}/items/import/?type=jsonl",
        b'{"id": "a", "text": "abcdefghijklmnopqrstuvwxyz"}\n' * 10,
        content_type="application/x-ndjson",
    )
    assert response.status_code == 413 and "limit" in response.json()["errors"][0]["reason"]
    assert Item.objects.count() == 0


def test_a_zip_with_media_is_imported_through_the_api(
    project, researcher, outsider, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    data = make_zip({"items.csv": "id,media\na,a.png\n", "a.png": PNG})
    response = client_for(researcher).post(
        f"/api/projects/{project.slug}/items/import/?type=zip", data, content_type="application/zip"
    )
    assert response.status_code == 201, response.json()
    item = client_for(researcher).get(f"/api/projects/{project.slug}/items/").json()["results"][0]
    assert item["id"] == "a" and item["media"]["main"]["content_type"] == "image/png"
    media = client_for(researcher).get(item["media"]["main"]["url"])
    assert media.status_code == 200 and b"".join(media.streaming_content) == PNG
    assert media["Content-Type"] == "image/png"
    assert (
        client_for(researcher).get(item["media"]["main"]["url"], HTTP_RANGE="bytes=0-3").status_code
        == 206
    )
    assert client_for(outsider).get(item["media"]["main"]["url"]).status_code == 404


def test_annotations_page_by_cursor_and_filter(project, viewer):
    bulk_answers(project, items=30, workers=5)
    c = client_for(viewer)
    seen, url = [], f"/api/projects/{project.slug}/annotations/?page_size=40"
    while url:
        page = c.get(url).json()
        seen.extend(row["id"] for row in page["results"])
        url = page["next"]
    assert seen == list(Annotation.objects.order_by("id").values_list("id", flat=True))
    person = Participant.objects.filter(project=project).first()
    rows = c.get(
        f"/api/projects/{project.slug}/annotations/", {"participant": str(person.public_id)}
    ).json()["results"]
    assert len(rows) == 30 and {r["participant"] for r in rows} == {str(person.public_id)}
    rows = c.get(f"/api/projects/{project.slug}/annotations/", {"item": "bulk-3"}).json()
    assert len(rows["results"]) == 5
    newest = Annotation.objects.order_by("-created_at").first().created_at
    rows = c.get(
        f"/api/projects/{project.slug}/annotations/", {"since": newest.isoformat()}
    ).json()["results"]
    assert len(rows) == 1
    bad = c.get(f"/api/projects/{project.slug}/annotations/", {"since": "yesterday"})
    assert bad.status_code == 400 and "since" in bad.json()


def test_another_projects_participant_answers_404(answered, researcher, owner):
    from tests.factories import ParticipantFactory, ProjectFactory

    foreign = ParticipantFactory(project=ProjectFactory(owner=owner))
    project, _ = answered
    response = client_for(researcher).post(
        f"/api/projects/{project.slug}/participants/{foreign.public_id}/block/",
        {"blocked": True},
        format="json",
    )
    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.status == Participant.Status.ACTIVE


def test_participants_carry_quality_figures_and_can_be_blocked(answered, researcher):
    project, spammer = answered
    c = client_for(researcher)
    rows = {
        r["external_id"]: r for r in c.get(f"/api/projects/{project.slug}/participants/").json()
    }
    assert rows["spammer"]["agreement"] == 0.0 and rows["careful-0"]["agreement"] == 1.0
    assert rows["spammer"]["answers"] == 4 and rows["spammer"]["median_seconds"] == 1.65
    response = c.post(
        f"/api/projects/{project.slug}/participants/{spammer.public_id}/block/",
        {"blocked": True, "reason": "spam"},
        format="json",
    )
    assert response.json()["status"] == "blocked"
    assert c.post(
        f"/api/projects/{project.slug}/participants/{spammer.public_id}/block/",
        {"blocked": "maybe"},
        format="json",
    ).json() == {"blocked": ["Must be a valid boolean."]}


def test_participants_come_from_the_stored_figures_while_they_are_current(
    answered, researcher, monkeypatch
):
    from apps.core.results_cache import results_refresh
    from apps.dashboard import selectors as dashboard_selectors

    project, spammer = answered
    url = f"/api/projects/{project.slug}/participants/"
    c = client_for(researcher)
    live = c.get(url).json()  # nothing stored yet: computed in the request
    results_refresh(project=project)
    compute = dashboard_selectors.quality_compute
    monkeypatch.setattr(
        dashboard_selectors, "quality_compute", lambda **kw: pytest.fail("recomputed")
    )
    assert c.get(url).json() == live
    # A block changes the figures: the stored ones are not current any more.
    spammer.block("spam")
    monkeypatch.setattr(dashboard_selectors, "quality_compute", compute)
    rows = {r["external_id"]: r for r in c.get(url).json()}
    assert rows["spammer"]["status"] == "blocked" and rows["careful-0"]["agreement"] == 1.0


def test_aggregated_labels_and_alpha(answered, viewer):
    project, _ = answered
    for method in ("majority", "dawid_skene"):
        body = (
            client_for(viewer)
            .get(f"/api/projects/{project.slug}/aggregates/", {"method": method})
            .json()
        )
        assert body["method"] == method and body["level_of_measurement"] == "nominal"
        assert {row["item_id"]: row["label"] for row in body["labels"]} == {
            f"q{i}": "a" for i in range(4)
        }
        assert body["alpha"] is not None
    bad = client_for(viewer).get(f"/api/projects/{project.slug}/aggregates/", {"method": "x"})
    assert bad.status_code == 400 and "method" in bad.json()


def test_streamed_exports_equal_the_database(project, viewer):
    total = bulk_answers(project, items=1000, workers=3)
    c = client_for(viewer)
    response = c.get(f"/api/projects/{project.slug}/export/annotations.jsonl")
    assert response.streaming
    records = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert len(records) == total == 3000
    assert [r["annotation_id"] for r in records] == list(
        Annotation.objects.order_by("id").values_list("id", flat=True)
    )
    response = c.get(f"/api/projects/{project.slug}/export/annotations.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [int(r["annotation_id"]) for r in rows] == [r["annotation_id"] for r in records]
    assert c.get(f"/api/projects/{project.slug}/export/annotations.xlsx").status_code == 404


def test_the_management_command_prints_a_token(researcher):
    out = io.StringIO()
    call_command("api_token", "researcher", stdout=out)
    assert out.getvalue().strip() == Token.objects.get(user=researcher).key
    with pytest.raises(Exception, match="No user"):
        call_command("api_token", "nobody")


def test_the_old_create_update_delete_paths_still_work_and_say_they_are_deprecated(researcher):
    c = client_for(researcher)
    made = c.post(
        "/api/projects/create/",
        {"slug": "old-way", "title": "Old", "task_type": "test-choice"},
        format="json",
    )
    assert made.status_code == 201 and made["Deprecation"] == "true"
    assert made["Link"] == '</api/projects/>; rel="successor-version"'
    changed = c.patch("/api/projects/old-way/update/", {"title": "Renamed"}, format="json")
    assert changed.status_code == 200 and changed.json()["title"] == "Renamed"
    assert changed["Link"] == '</api/projects/old-way/>; rel="successor-version"'
    assert c.delete("/api/projects/old-way/delete/").status_code == 204
    assert c.get("/api/projects/old-way/").status_code == 404


def test_the_resource_paths_take_their_methods_and_no_others(project, owner):
    c = client_for(owner)
    url = f"/api/projects/{project.slug}/"
    assert c.get(url).json()["slug"] == project.slug
    assert c.post(url, {}, format="json").status_code == 405
    assert c.put(url, {}, format="json").status_code == 405
    assert c.delete("/api/projects/").status_code == 405
    assert "Deprecation" not in c.get(url)


def test_the_schema_marks_the_old_paths_deprecated_and_the_new_ones_not(client):
    import yaml

    schema = yaml.safe_load(client.get("/api/schema/").content)
    paths = schema["paths"]
    assert set(paths["/api/projects/"]) == {"get", "post"}
    assert set(paths["/api/projects/{slug}/"]) == {"get", "patch", "delete"}
    for path, method in (
        ("/api/projects/create/", "post"),
        ("/api/projects/{slug}/update/", "patch"),
        ("/api/projects/{slug}/delete/", "delete"),
    ):
        assert paths[path][method]["deprecated"] is True, path
    assert not paths["/api/projects/"]["post"].get("deprecated", False)
    assert not paths["/api/projects/{slug}/"]["patch"].get("deprecated", False)
