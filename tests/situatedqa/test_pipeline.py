"""The three stages driven over HTTP by three participants, each stage's items made by the
advance task on a real Celery worker; the final rows come out in the qa_data export."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from apps.core import stages
from apps.core.models import Assignment, Item, ItemExclusion
from apps.core.tasks import item_advance
from tests.crowd.test_flow import form_of, start
from tests.worker import celery_worker, send, wait_for

from .conftest import upload

QUESTIONS = [
    {"question": "who won the most recent world cup", "id": 1, "variant": "temp"},
    {"question": "who wrote hamlet", "id": 2, "variant": "temp", "answer": ["Shakespeare"]},
    {"question": "a question kept open", "id": 3, "variant": "temp"},
]


def _client(project, pid: str):
    client = Client()
    response = start(client, project, {"PROLIFIC_PID": pid, "STUDY_ID": "s", "SESSION_ID": pid})
    return client, response


def _answer(client, response, **data):
    action, token = form_of(response)
    posted = client.post(action, {"client_token": token, **data})
    assert posted.status_code == 302, posted.content.decode()[:800]


def _advanced(worker, n: int) -> bool:
    worker.log.seek(0)
    return worker.log.read().count("apps.core.tasks.item_advance[") >= 2 * n  # received + done


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_three_participants_drive_identify_collect_and_validate(sqa_project, owner, monkeypatch):
    project = sqa_project(identify_answers=3, collect_answers=1, validate_answers=1)
    lines = "".join(json.dumps(q) + "\n" for q in QUESTIONS).encode()
    assert upload(project, lines, "questions.jsonl").created == 3
    # Served in this order: 2 first, so question 1 completes on the very last stage-1 answer.
    for qid, priority in ((2, 0), (1, -1), (3, -2)):
        Item.objects.filter(external_id=f"temp:{qid}").update(priority=priority)
    monkeypatch.setattr(item_advance, "delay", lambda pk: send(item_advance, pk))
    votes = {"temp:1": ["yes", "yes", "no"], "temp:2": ["no", "no", "yes"]}
    with celery_worker("default") as worker:
        clients = []
        for n, pid in enumerate(["p1", "p2", "p3"]):
            client, response = _client(project, pid)
            for _ in range(2):
                item = Item.objects.get(
                    assignments__participant__external_id=pid,
                    assignments__status="reserved",
                    answer_count__lt=3,
                )
                assert "Has the answer to this question changed over time?" in (
                    response.content.decode()
                )
                _answer(client, response, dependent=votes[item.external_id][n])
                response = client.get(f"/p/{project.slug}/annotate/")
            clients.append(client)
        p1, p2, p3 = clients
        Assignment.objects.filter(item__external_id="temp:3").update(status="expired")
        wait_for(lambda: _advanced(worker, 2), timeout=60)
        assert not Item.objects.get(external_id="temp:2").children.exists()
        collect = Item.objects.get(external_id="temp:1").children.get()
        assert (collect.stage, collect.wanted_answers, collect.external_id) == (
            "collect",
            1,
            "temp:1/collect",
        )

        response = p1.get(f"/p/{project.slug}/annotate/")
        html = response.content.decode()
        assert "How has the answer to this question changed?" in html
        assert "who won the most recent world cup" in html
        _answer(
            p1,
            response,
            cur_answer="Argentina",
            cur_answer_start="December 18, 2022",
            prev_answer="France",
            prev_answer_start="July 15, 2018",
            article_title="FIFA World Cup",
        )
        wait_for(lambda: _advanced(worker, 3), timeout=60)
        validate = collect.children.get()
        author = collect.annotations.get().participant
        assert author.external_id == "p1"
        assert list(validate.exclusions.values_list("participant", flat=True)) == [author.pk]

        # The author is served the question kept open, never the check of their own answer.
        assert "a question kept open" in p1.get(f"/p/{project.slug}/annotate/").content.decode()
        response = p2.get(f"/p/{project.slug}/annotate/")
        html = response.content.decode()
        assert "Is this response correct?" in html and "<strong>Argentina</strong>" in html
        _answer(p2, response, correct="yes")
        wait_for(lambda: _advanced(worker, 4), timeout=60)
        assert not validate.assignments.filter(participant=author).exists()

    assert Item.objects.count() == 5
    for item in Item.objects.all():  # a redelivered advance makes nothing twice
        stages.item_advance(item_id=item.pk)
    assert Item.objects.count() == 5 and ItemExclusion.objects.count() == 1

    client = Client()
    client.force_login(owner)
    url = reverse("dashboard:export_download", args=[project.slug, "qa_data-temp", "native"])
    rows = [json.loads(line) for line in b"".join(client.get(url).streaming_content).splitlines()]
    by_date = {(r["id"], r["date"], r["date_type"]): r for r in rows}
    start_now = by_date[(1, "December 18, 2022", "start")]
    assert (
        start_now["edited_question"] == "who won the most recent world cup as of December 18, 2022"
    )
    assert start_now["answer"] == ["Argentina"]
    assert by_date[(1, "July 15, 2018", "start")]["answer"] == ["France"]
    sampled = [r for r in rows if r["id"] == 1 and r["date_type"] == "sampled_date"]
    assert sampled and all(r["answer"] == ["France"] for r in sampled)  # 2022 is after 2021
    (static,) = [r for r in rows if r["id"] == 2]
    assert static["date_type"] == "orig" and static["answer"] == ["Shakespeare"]
    assert static["edited_question"] == f"who wrote hamlet as of {static['date']}"
    assert all(set(r["any_answer"]) == {"Argentina", "France"} for r in rows if r["id"] == 1)
