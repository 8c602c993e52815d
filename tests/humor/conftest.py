"""Humor fixtures: a live humor project with the conftest personas as members, and uploads."""

from __future__ import annotations

import io
import json

import pytest

from apps.core.models import Membership
from apps.humor.tasktype import HUMOR
from tests.factories import ProjectFactory


def upload(data: str | bytes, name: str) -> io.BytesIO:
    f = io.BytesIO(data.encode() if isinstance(data, str) else data)
    f.name = name
    return f


def jsonl(posts: list[dict]) -> io.BytesIO:
    return upload("".join(json.dumps(p) + "\n" for p in posts), "posts.jsonl")


def post(post_id: str, text: str, **reactions: int) -> dict:
    return {"id": post_id, "text": text, "reactions": reactions, "created": "2020-05-01"}


@pytest.fixture
def humor_project(owner, researcher, viewer):
    config = HUMOR.clean_config(
        {**HUMOR.default_config(), "k": 2, "study": {"size": 0, "strata": 5}}
    )
    project = ProjectFactory(
        owner=owner,
        slug="humor-study",
        title="Humor study",
        task_type="humor",
        config=config,
        overlap=3,
    )
    Membership.objects.create(project=project, user=researcher, role=Membership.Role.RESEARCHER)
    Membership.objects.create(project=project, user=viewer, role=Membership.Role.VIEWER)
    return project


def configure(project, **changes) -> None:
    project.config = HUMOR.clean_config({**project.config, **changes})
    project.save(update_fields=["config"])
