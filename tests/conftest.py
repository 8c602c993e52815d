"""Shared fixtures: the test-only task type and named personas (owner, researcher, viewer,
outsider, worker)."""

from __future__ import annotations

import pytest
from django.db import connections

from apps.core import registry
from apps.core.models import Membership

from .choice_tasktype import CHOICE, QUALIFIED_CHOICE
from .factories import ParticipantFactory, ProjectFactory, UserFactory

pytest_plugins = ["tests.mos.stimuli"]  # the mos_project fixture, for tests/e2e too

registry.register(CHOICE)
registry.register(QUALIFIED_CHOICE)

# Live-server threads must not keep connections open, or the test database cannot be
# dropped at the end of the run ("being accessed by other users").
connections.settings["default"]["CONN_MAX_AGE"] = 0


@pytest.fixture
def owner(db):
    return UserFactory(username="owner")


@pytest.fixture
def researcher(db):
    return UserFactory(username="researcher")


@pytest.fixture
def viewer(db):
    return UserFactory(username="viewer")


@pytest.fixture
def outsider(db):
    return UserFactory(username="outsider")


@pytest.fixture
def project(owner, researcher, viewer):
    project = ProjectFactory(owner=owner, slug="study", title="A study")
    Membership.objects.create(project=project, user=researcher, role=Membership.Role.RESEARCHER)
    Membership.objects.create(project=project, user=viewer, role=Membership.Role.VIEWER)
    return project


@pytest.fixture
def worker(project):
    return ParticipantFactory(project=project, external_id="worker-1")


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Cached figures (item counts) must not leak from one test's database into the next."""
    from django.core.cache import cache

    cache.clear()
    yield
