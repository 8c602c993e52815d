"""Predictions fed back into the work: active-learning priorities and pre-filled answers,
through the real assignment engine."""

from __future__ import annotations

import re

import pytest

from apps.core.engine import next_item
from apps.core.models import Item
from apps.training.models import ModelLoopSettings, ModelVersion, Prediction
from apps.training.services import (
    modelloop_settings_update,
    modelversion_activate,
    priorities_apply,
)
from tests.factories import ItemFactory, ParticipantFactory

from .conftest import humor_items

pytestmark = pytest.mark.django_db


def _version_with_predictions(project, scores: dict[int, float], number: int = 1) -> ModelVersion:
    version = ModelVersion.objects.create(
        project=project, number=number, trainer="humor", seed=1, code_version="t", artifact="x"
    )
    from ml.humor.predict import uncertainty

    for item_id, p in scores.items():
        entropy, margin = uncertainty(p)
        Prediction.objects.create(
            model_version=version,
            item_id=item_id,
            uncertainty=entropy,
            value={"funny": "yes" if p >= 0.5 else "no", "p_humorous": p, "margin": margin},
        )
    return version


@pytest.fixture
def scored(humor_project):
    items = humor_items(humor_project, 6)  # even = humorous, odd = non_humorous
    scores = dict(zip((i.pk for i in items), [0.9, 0.55, 0.2, 0.97, 0.48, 0.05], strict=True))
    return items, _version_with_predictions(humor_project, scores)


def test_entropy_mode_serves_the_most_uncertain_unlabeled_item_first(humor_project, scored):
    items, version = scored
    modelversion_activate(project=humor_project, version=version)
    modelloop_settings_update(project=humor_project, prefill=False, active_learning="uncertainty")
    order = [
        next_item(participant=ParticipantFactory(project=humor_project)).item_id for _ in range(1)
    ]
    assert order == [items[4].pk]  # p = 0.48 is closest to a coin flip
    priorities = dict(Item.objects.values_list("pk", "priority"))
    assert (
        priorities[items[4].pk]
        > priorities[items[1].pk]
        > priorities[items[0].pk]
        > priorities[items[5].pk]
    )


def test_margin_mode_orders_like_entropy_for_two_classes(humor_project, scored):
    items, version = scored
    modelversion_activate(project=humor_project, version=version)
    modelloop_settings_update(project=humor_project, prefill=False, active_learning="margin")
    ranked = list(Item.objects.order_by("-priority").values_list("pk", flat=True))
    assert ranked == [items[i].pk for i in (4, 1, 2, 0, 5, 3)]
    assert Item.objects.get(pk=items[4].pk).priority == pytest.approx(1 - abs(2 * 0.48 - 1))


def test_disagreement_mode_puts_items_where_model_and_reactions_differ_first(humor_project, scored):
    items, version = scored
    modelversion_activate(project=humor_project, version=version)
    modelloop_settings_update(project=humor_project, prefill=False, active_learning="disagreement")
    served = next_item(participant=ParticipantFactory(project=humor_project))
    # items[3] is non_humorous by reactions but the model says 0.97: the widest disagreement.
    assert served.item_id == items[3].pk
    assert Item.objects.get(pk=items[2].pk).priority == pytest.approx(0.8)  # humorous, p=.2
    assert Item.objects.get(pk=items[1].pk).priority == pytest.approx(0.55)  # non_humorous, p=.55


def test_items_with_human_answers_keep_their_priority(humor_project, scored):
    items, version = scored
    Item.objects.filter(pk=items[4].pk).update(answer_count=1, priority=0.0)
    modelversion_activate(project=humor_project, version=version)
    modelloop_settings_update(project=humor_project, prefill=False, active_learning="uncertainty")
    assert Item.objects.get(pk=items[4].pk).priority == 0.0
    assert next_item(participant=ParticipantFactory(project=humor_project)).item_id == items[1].pk


def test_turning_active_learning_off_resets_the_priorities(humor_project, scored):
    _, version = scored
    modelversion_activate(project=humor_project, version=version)
    modelloop_settings_update(project=humor_project, prefill=False, active_learning="uncertainty")
    assert Item.objects.filter(priority__gt=0).exists()
    modelloop_settings_update(project=humor_project, prefill=False, active_learning="off")
    assert not Item.objects.exclude(priority=0).exists()


def test_activating_another_version_recomputes_the_priorities(humor_project, scored):
    items, first = scored
    modelversion_activate(project=humor_project, version=first)
    modelloop_settings_update(project=humor_project, prefill=False, active_learning="uncertainty")
    second = _version_with_predictions(
        humor_project, {i.pk: (0.5 if n == 5 else 0.99) for n, i in enumerate(items)}, number=2
    )
    assert priorities_apply(project=humor_project) == 0  # v1 is still the active one
    modelversion_activate(project=humor_project, version=second)
    assert next_item(participant=ParticipantFactory(project=humor_project)).item_id == items[5].pk


def test_prefill_shows_the_active_models_answer_only_when_turned_on(humor_project, scored):
    items, version = scored
    modelversion_activate(project=humor_project, version=version)
    assignment = next_item(participant=ParticipantFactory(project=humor_project))
    assert assignment.prefill is None  # off by default
    modelloop_settings_update(project=humor_project, prefill=True, active_learning="off")
    for _ in range(len(items)):
        assignment = next_item(participant=ParticipantFactory(project=humor_project))
        prediction = Prediction.objects.get(model_version=version, item_id=assignment.item_id)
        assert assignment.prefill == {"funny": prediction.value["funny"]}
        assignment.refresh_from_db()
        assert assignment.prefill == {"funny": prediction.value["funny"]}


def test_prefill_never_hints_a_gold_item(humor_project, scored):
    _, version = scored
    humor_project.gold_rate = 1.0
    humor_project.save()
    gold = ItemFactory(project=humor_project, kind=Item.Kind.GOLD, gold_value={"funny": "yes"})
    Prediction.objects.create(
        model_version=version,
        item=gold,
        value={"funny": "yes", "p_humorous": 0.9, "margin": 0.2},
        uncertainty=0.4,
    )
    modelversion_activate(project=humor_project, version=version)
    modelloop_settings_update(project=humor_project, prefill=True, active_learning="off")
    assignment = next_item(participant=ParticipantFactory(project=humor_project))
    assert assignment.item_id == gold.pk and assignment.prefill is None


def test_prefill_is_nothing_for_projects_without_a_model(project, worker):
    ItemFactory(project=project)
    assert next_item(participant=worker).prefill is None
    assert not ModelLoopSettings.objects.exists()


def test_an_annotator_sees_the_prefilled_answer_pressed_in_the_humor_form(client, humor_project):
    from apps.core import registry

    try:
        registry.get("humor")
    except registry.UnknownTaskType:
        pytest.skip("the humor task type is not registered in this checkout")
    item = humor_items(humor_project, 1)[0]
    version = _version_with_predictions(humor_project, {item.pk: 0.2})
    modelversion_activate(project=humor_project, version=version)
    modelloop_settings_update(project=humor_project, prefill=True, active_learning="off")
    client.get(
        f"/p/{humor_project.slug}/", {"PROLIFIC_PID": "p1", "STUDY_ID": "s", "SESSION_ID": "x"}
    )
    client.post(f"/p/{humor_project.slug}/consent/", {"agree": "yes"})
    client.post(f"/p/{humor_project.slug}/instructions/")
    html = client.get(f"/p/{humor_project.slug}/annotate/").content.decode()
    pressed = re.findall(r'<button[^>]*value="(\w+)"[^>]*aria-pressed="true"', html)
    assert pressed == ["no"]  # the model says p(humorous) = 0.2
