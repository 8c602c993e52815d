"""A three-stage pipeline (check → write → validate) driven over HTTP by three participants,
each stage's children made by the advance task on a real Celery worker."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.core import stages
from apps.core.models import Assignment, Item, ItemExclusion, Project
from apps.core.registry import ChildSpec
from apps.core.tasks import item_advance
from tests.crowd.test_flow import form_of, start
from tests.factories import ProjectFactory
from tests.stages_tasktype import stages_type  # noqa: F401 (a fixture)
from tests.worker import celery_worker, send, wait_for


def _project(owner, stage_items) -> Project:
    project = ProjectFactory(owner=owner, slug="stages", task_type="test-stages", overlap=3)
    # Descending priority: everyone answers the later items first, so the first item completes
    # on the very last answer and its children cannot race the stage-1 round.
    for n, (external_id, text) in enumerate(stage_items):
        project.items.create(
            external_id=external_id, payload={"text": text}, stage="check", priority=-n
        )
    return project


def _client(project, pid: str) -> tuple[Client, object]:
    client = Client()
    response = start(client, project, {"PROLIFIC_PID": pid, "STUDY_ID": "s", "SESSION_ID": pid})
    return client, response


def _answer(client, response, **data):
    action, token = form_of(response)
    posted = client.post(action, {"client_token": token, **data})
    assert posted.status_code == 302, posted.content.decode()[:500]


def _advanced(worker, n: int):
    worker.log.seek(0)
    return worker.log.read().count("apps.core.tasks.item_advance[") >= 2 * n  # received+done


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_three_participants_drive_three_stages_through_the_worker(owner, stages_type, monkeypatch):  # noqa: F811
    project = _project(
        owner, [("q2", "What is 2+2?"), ("q1", "Where is Paris?"), ("q3", "Who wrote Hamlet?")]
    )
    monkeypatch.setattr(item_advance, "delay", lambda pk: send(item_advance, pk))
    votes = {"q1": ["yes", "yes", "no"], "q2": ["no", "no", "yes"]}
    with celery_worker("default", app="tests.stages_worker") as worker:
        clients = []
        for n, pid in enumerate(["p1", "p2", "p3"]):
            client, response = _client(project, pid)
            for _ in range(2):  # q2 then q1; the GET after q1 reserves q3, left unanswered
                item = Item.objects.get(
                    assignments__participant__external_id=pid,
                    answer_count__lt=3,
                    assignments__status="reserved",
                )
                _answer(client, response, choice=votes[item.external_id][n])
                response = client.get(f"/p/{project.slug}/annotate/")
            clients.append(client)
        p1, p2, p3 = clients
        # q3 stays unanswered so nobody finishes early; its reservations lapse (as after the
        # TTL) so that each participant's next item is the best open one.
        Assignment.objects.filter(item__external_id="q3").update(status="expired")
        wait_for(lambda: _advanced(worker, 2), timeout=60)
        q1, q2 = Item.objects.get(external_id="q1"), Item.objects.get(external_id="q2")
        assert not q2.children.exists()  # majority no: no next stage
        write = q1.children.get()
        assert (write.stage, write.wanted_answers, write.external_id) == ("write", 1, "q1/write")

        response = p1.get(f"/p/{project.slug}/annotate/")
        html = response.content.decode()
        assert response.status_code == 200
        assert 'name="text"' in html and "Where is Paris?" in html  # the stage's own form
        _answer(p1, response, text="In France")
        wait_for(lambda: _advanced(worker, 3), timeout=60)
        validate = write.children.get()
        author = write.annotations.get().participant
        assert list(validate.exclusions.values_list("participant", flat=True)) == [author.pk]

        # The author is not served the validation (it is their own answer) but the item left
        # for later (q3, kept unanswered so nobody is finished before the last stage exists).
        assert "Who wrote Hamlet?" in p1.get(f"/p/{project.slug}/annotate/").content.decode()
        response = p2.get(f"/p/{project.slug}/annotate/")
        assert "In France" in response.content.decode()
        _answer(p2, response, choice="valid")
        wait_for(lambda: _advanced(worker, 4), timeout=60)
        assert not validate.assignments.exclude(participant__external_id="p2").exists()

    assert Item.objects.count() == 5
    assert validate.annotations.get().value == {"choice": "valid"}
    # A redelivered advance creates nothing twice.
    for item in Item.objects.all():
        stages.item_advance(item_id=item.pk)
        stages.item_advance(item_id=item.pk)
    assert Item.objects.count() == 5 and ItemExclusion.objects.count() == 1


@pytest.mark.django_db
def test_children_are_created_once_for_one_key(owner, stages_type, worker):  # noqa: F811
    parent = worker.project.items.create(external_id="p", payload={}, priority=2.0)
    spec = ChildSpec(
        key="next", stage="two", payload={"x": 1}, wanted_answers=1, exclude=(worker.pk,)
    )
    (child,) = stages.item_children_create(parent=parent, children=[spec])
    assert stages.item_children_create(parent=parent, children=[spec]) == []
    assert (child.parent, child.stage, child.priority, child.external_id) == (
        parent,
        "two",
        2.0,
        "p/next",
    )
    assert ItemExclusion.objects.get().participant == worker
    with pytest.raises(stages.ChildRefused, match="appears twice"):
        stages.item_children_create(parent=parent, children=[spec, spec])


@pytest.mark.django_db
def test_a_task_type_without_stages_enqueues_nothing(project, monkeypatch):
    sent = []
    monkeypatch.setattr(item_advance, "delay", sent.append)
    stages.advance_enqueue(item_id=1, task_type_key=project.task_type)
    assert sent == []
