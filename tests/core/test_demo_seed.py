"""``manage.py demo_seed`` seeds every demo project a task type names, each answered by
simulated people, and leaves existing ones alone on a second run."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from apps.core import registry
from apps.core.models import Annotation, Project
from apps.core.registry import DemoProject
from tests.choice_tasktype import ChoiceTaskType

pytestmark = pytest.mark.django_db


class TwoDemos(ChoiceTaskType):
    key = "test-two-demos"
    title = "Two demos"

    def demo_projects(self) -> list[DemoProject]:
        return [
            DemoProject(title="Demo: plain"),
            DemoProject(suffix="second", title="Demo: the second design"),
        ]


@pytest.fixture
def only_two_demos(monkeypatch):
    """The registry holds just ``TwoDemos`` for the command (the real demos are slow)."""
    two = TwoDemos()
    registry.register(two)
    monkeypatch.setattr(registry, "all_task_types", lambda: [two])
    yield
    registry.unregister(two.key)


def test_each_demo_project_of_each_task_type_is_seeded_once(only_two_demos, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    out = io.StringIO()
    call_command("demo_seed", stdout=out)
    projects = {p.slug: p for p in Project.objects.all()}
    assert set(projects) == {"demo-test-two-demos", "demo-test-two-demos-second"}
    assert projects["demo-test-two-demos-second"].title == "Demo: the second design"
    for project in projects.values():
        assert project.status == Project.Status.LIVE
        assert Annotation.objects.filter(project=project).exists()
    assert "Seeded demo-test-two-demos-second: 6 items" in out.getvalue()
    answers = Annotation.objects.count()
    call_command("demo_seed", stdout=io.StringIO())
    assert Project.objects.count() == 2 and Annotation.objects.count() == answers


def test_a_task_type_names_one_demo_project_by_default():
    (demo,) = ChoiceTaskType().demo_projects()
    assert demo.slug("test-choice") == "demo-test-choice" and demo.config == {}
    assert DemoProject(suffix="text").slug("explain") == "demo-explain-text"
