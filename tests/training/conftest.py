"""Fixtures for the model loop: a humor project, posts as items, and a real Celery worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from apps.core.models import Item, Membership
from ml.humor.synthetic import synthetic_posts
from tests.factories import ProjectFactory

REDIS_URL = os.environ.get("CHORUS_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
ROOT = Path(settings.BASE_DIR)


@pytest.fixture
def humor_project(owner, researcher, viewer):
    project = ProjectFactory(owner=owner, slug="humor-study", title="Humor", task_type="humor")
    Membership.objects.create(project=project, user=researcher, role=Membership.Role.RESEARCHER)
    Membership.objects.create(project=project, user=viewer, role=Membership.Role.VIEWER)
    return project


def humor_items(
    project, n: int, *, seed: int = 0, labelled: bool = True, prefix: str = "post"
) -> list[Item]:
    """``n`` synthetic posts as the humor app stores them (payload fields)."""
    items = []
    for post in synthetic_posts(n, seed):
        payload = {k: post[k] for k in ("text", "hs", "ns", "reaction_label", "split")}
        if not labelled:
            payload["reaction_label"] = None
        items.append(
            Item(project=project, external_id=f"{prefix}-{post['item_id']}", payload=payload)
        )
    return Item.objects.bulk_create(items)


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else f"{user}@"
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


class Worker:
    """One ``celery worker`` process group on the test database and broker."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        env = dict(os.environ)
        env.update(
            DATABASE_URL=_database_url(),
            CELERY_BROKER_URL=REDIS_URL,
            DJANGO_SETTINGS_MODULE="tests.training.worker_settings",
            CHORUS_VAR_DIR=str(settings.VAR_DIR),
            MEDIA_ROOT=str(settings.MEDIA_ROOT),
            PYTHONPATH=str(ROOT),
            CELERY_TASK_ALWAYS_EAGER="0",
            CHORUS_TRAIN_DEVICE="cpu",
            # Other suites share the 2 test cores; one OpenMP thread avoids spin-wait thrash.
            OMP_NUM_THREADS="1",
        )
        log = (self.log_dir / f"worker-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("celery")),
                "-A",
                "config",
                "worker",
                "-Q",
                "gpu,default",
                "--concurrency",
                "1",
                "-P",
                "prefork",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"train-test-{uuid.uuid4().hex[:8]}@%h",
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the whole process group (main process and its pool child), no cleanup."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:] for p in sorted(self.log_dir.glob("*.log"))
        )


@pytest.fixture
def celery_worker(transactional_db, tmp_path, settings):
    """A real worker on Redis db 11; the test process sends its tasks there too.

    Both processes store media under this test's own folder: project ids restart with each
    test database, so a shared MEDIA_ROOT would hold an earlier run's artifacts.
    """
    import redis

    from config.celery import app

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        client.ping()
    except redis.exceptions.RedisError as exc:
        pytest.skip(f"Redis is unreachable at {REDIS_URL}: {exc}")
    client.flushdb()
    settings.MEDIA_ROOT = str(tmp_path / "media")
    saved = (app.conf.broker_url, app.conf.broker_transport_options)
    app.conf.broker_url = REDIS_URL
    app.conf.broker_transport_options = {"visibility_timeout": 4}
    app._pool = None
    app.amqp._producer_pool = None
    worker = Worker(tmp_path)
    worker.start()
    yield worker
    worker.stop()
    app.conf.broker_url, app.conf.broker_transport_options = saved
    app._pool = None
    app.amqp._producer_pool = None
    client.flushdb()


def wait_for(predicate, *, timeout: float, worker: Worker | None = None, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    detail = f"\n--- worker log ---\n{worker.log()}" if worker else ""
    raise AssertionError(f"Timed out after {timeout}s waiting for {what}.{detail}")
