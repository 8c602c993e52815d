"""The task-type registry: the contract's generic members and a task type's own pages."""

from __future__ import annotations

import pytest

from apps.core import registry
from tests.factories import ItemFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def test_a_task_types_own_pages_are_mounted_under_the_project(client, owner, outsider):
    project = ProjectFactory(owner=owner, slug="mounted", task_type="test-choice")
    ItemFactory.create_batch(3, project=project)
    client.force_login(owner)
    response = client.get("/projects/mounted/test-choice/summary/")
    assert response.status_code == 200 and response.content == b"3 items"
    client.force_login(outsider)
    assert client.get("/projects/mounted/test-choice/summary/").status_code == 404


def test_an_answer_error_carries_the_field_it_is_about():
    choice = registry.get("test-choice")
    with pytest.raises(registry.InvalidValue) as refused:
        choice.validate(None, {"choice": "c"})
    assert refused.value.fields == {"choice": ["Choose A or B."]}
    assert registry.field_errors(refused.value) == {"choice": ["Choose A or B."]}


def test_the_annotate_form_fields_round_trip_through_value_from_form():
    choice = registry.get("test-choice")
    value = {"choice": "b"}
    assert choice.value_from_form(None, choice.form_data_for(None, value)) == value


def test_numpy_values_become_plain_json():
    import numpy as np

    assert registry.json_ready({"a": np.float64(0.5), "b": [np.int64(2)], "c": float("nan")}) == {
        "a": 0.5,
        "b": [2],
        "c": None,
    }
