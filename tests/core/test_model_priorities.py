"""The model's item priorities: written in committed batches, apart from the base priority."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.models import Item
from apps.core.services import item_model_priorities_clear, item_model_priorities_set
from tests.factories import ItemFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def test_model_priorities_are_written_in_batches_and_leave_the_base_priority(project):
    items = ItemFactory.create_batch(7, project=project, priority=1.0)
    elsewhere = ItemFactory(project=ProjectFactory())
    pairs = [(item.pk, n / 10) for n, item in enumerate(items)] + [(elsewhere.pk, 0.9)]
    consumed = []

    def lazily():
        for pair in pairs:
            consumed.append(pair)
            yield pair

    with CaptureQueriesContext(connection) as queries:
        changed = item_model_priorities_set(project=project, priorities=lazily(), batch_size=3)
    assert changed == 6  # the first item's priority was 0 already; the stranger is ignored
    updates = [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 3  # one statement per batch of 3
    assert dict(Item.objects.filter(project=project).values_list("pk", "model_priority")) == (
        pytest.approx({item.pk: n / 10 for n, item in enumerate(items)})
    )
    assert set(Item.objects.filter(project=project).values_list("priority", flat=True)) == {1.0}
    assert Item.objects.get(pk=elsewhere.pk).model_priority == 0.0
    assert len(consumed) == len(pairs)

    assert item_model_priorities_set(project=project, priorities=pairs) == 0  # nothing new


def test_a_priority_that_is_not_a_number_counts_as_zero(project):
    item = ItemFactory(project=project, model_priority=0.5)
    item_model_priorities_set(project=project, priorities=[(item.pk, float("nan"))])
    assert Item.objects.get(pk=item.pk).model_priority == 0.0


def test_clearing_puts_every_model_priority_back_to_zero(project):
    ItemFactory.create_batch(5, project=project, model_priority=0.4, priority=2.0)
    other = ItemFactory(project=ProjectFactory(), model_priority=0.4)
    assert item_model_priorities_clear(project=project, batch_size=2) == 5
    assert set(Item.objects.filter(project=project).values_list("model_priority", flat=True)) == {
        0.0
    }
    assert set(Item.objects.filter(project=project).values_list("priority", flat=True)) == {2.0}
    assert Item.objects.get(pk=other.pk).model_priority == 0.4
    assert item_model_priorities_clear(project=project) == 0
