"""The demo: both variants from the shipped subset, and simulated people who answer every
stage (the simulation advances completed items itself, as the worker would)."""

from __future__ import annotations

import pytest

from apps.core.demo import demo_answers_simulate
from apps.core.models import Annotation, Item
from apps.situatedqa.tasktype import SITUATEDQA

pytestmark = pytest.mark.django_db


def test_the_demo_is_answered_in_every_stage_and_its_results_have_numbers(sqa_project):
    project = sqa_project("demo")
    SITUATEDQA.seed_demo(project)
    assert not Annotation.objects.filter(project=project).exists()  # seeding answers nothing
    variants = set(Item.objects.filter(project=project).values_list("payload__variant", flat=True))
    assert variants == {"temp", "geo"}
    stored = demo_answers_simulate(project=project, participants=6)
    for stage in ("identify", "collect", "validate"):
        answered = Annotation.objects.filter(project=project, item__stage=stage)
        assert answered.exists(), stage
        for stored_answer in answered.select_related("item"):  # each passes its stage's checks
            assert (
                SITUATEDQA.validate(stored_answer.item, stored_answer.value) == stored_answer.value
            )
    assert stored == Annotation.objects.filter(project=project).count()
    for validate in Item.objects.filter(project=project, stage="validate"):
        author = Annotation.objects.get(pk=validate.payload["collect_answer"]).participant_id
        assert not validate.annotations.filter(participant_id=author).exists()
        assert list(validate.exclusions.values_list("participant_id", flat=True)) == [author]
    results = SITUATEDQA.results(project)
    assert results.value("decided_temp") == 20 and results.value("decided_geo") == 12
    em = [t for t in results.tables if t.title.startswith("Exact match")]
    assert len(em) == 2 and all(" / " in cell for t in em for cell in t.rows[0][1:])
    assert any(f.key.startswith("timeline-") for f in results.figures)
