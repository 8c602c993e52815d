"""The shipped demo data: reproducible from its script, and seeding a working humor project."""

from __future__ import annotations

import random

import pytest

from apps.core import registry
from apps.core.models import Item
from apps.core.services import project_create
from apps.humor.demo import make_demo_posts
from apps.humor.tasktype import DEMO_DIR

pytestmark = pytest.mark.django_db


def test_the_shipped_demo_files_are_what_the_script_generates():
    rows, gold = make_demo_posts.make_rows(random.Random(make_demo_posts.SEED))
    posts, gold_text = make_demo_posts.render(rows, gold)
    assert (DEMO_DIR / "posts.csv").read_text(encoding="utf-8") == posts
    assert (DEMO_DIR / "gold_posts.jsonl").read_text(encoding="utf-8") == gold_text
    assert 300 <= len(rows) <= 400


def test_seed_demo_makes_a_live_humor_project_with_labels_sample_and_gold(owner):
    project = project_create(
        owner=owner, slug="demo-humor", title="Demo", task_type="humor", status="live"
    )
    registry.get("humor").seed_demo(project)
    project.refresh_from_db()
    meta = project.derived["score_meta"]
    assert project.items.filter(kind=Item.Kind.REGULAR).count() == meta["posts"] > 200
    assert project.items.filter(kind=Item.Kind.GOLD).count() == 12
    assert meta["humorous"] == meta["non_humorous"] == 60
    assert project.items.filter(priority__gt=0).count() == 90
    assert project.overlap == 3 and project.gold_rate > 0
    assert "meant to be funny" in project.instructions
    results = registry.get("humor").results(project)
    assert results.value("posts") == meta["posts"]
    assert sum(results.figure("humor-score-hs-of-all-posts").counts) == meta["posts"]
