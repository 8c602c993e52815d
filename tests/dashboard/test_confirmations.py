"""Destructive actions ask first: the project Delete page, and the confirm questions."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.core.models import Project
from tests.api.helpers import answer_through_engine
from tests.factories import ItemFactory, ParticipantFactory

pytestmark = pytest.mark.django_db


def test_delete_says_what_will_be_lost_and_needs_the_slug(client, project, owner):
    ItemFactory.create_batch(3, project=project)
    answer_through_engine(ParticipantFactory(project=project), lambda item: "a")
    client.force_login(owner)
    url = reverse("dashboard:project_delete", args=[project.slug])
    overview = client.get(reverse("dashboard:project_detail", args=[project.slug]))
    assert url in overview.content.decode()
    page = client.get(url).content.decode()
    assert "3 items and their media files" in page
    assert "3 answers" in page and "1 participant and" in page
    assert client.post(url, {"confirm_slug": "wrong"}).status_code == 302
    assert Project.objects.filter(pk=project.pk).exists()
    gone = client.post(url, {"confirm_slug": project.slug}, follow=True)
    assert not Project.objects.filter(pk=project.pk).exists()
    assert "were deleted" in gone.content.decode()


def test_only_the_owner_sees_or_uses_delete(client, project, researcher):
    client.force_login(researcher)
    url = reverse("dashboard:project_delete", args=[project.slug])
    assert (
        url
        not in client.get(reverse("dashboard:project_detail", args=[project.slug])).content.decode()
    )
    assert client.get(url).status_code == 404
    assert client.post(url, {"confirm_slug": project.slug}).status_code == 404
    assert Project.objects.filter(pk=project.pk).exists()


def test_launch_pause_close_and_block_forms_carry_a_question(client, project, owner):
    ItemFactory(project=project)
    person = ParticipantFactory(project=project)
    answer_through_engine(person, lambda item: "a")
    client.force_login(owner)
    launch = client.get(reverse("dashboard:launch", args=[project.slug])).content.decode()
    assert 'data-confirm="Pause the study?' in launch and 'data-confirm="Close the study?' in launch
    quality = client.get(reverse("dashboard:quality", args=[project.slug])).content.decode()
    assert f'data-confirm="Block {person.display_name}?' in quality
