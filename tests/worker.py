"""Start a real Celery worker process against the test database and a real broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BROKER = "redis://127.0.0.1:6379/15"


def broker_url() -> str:
    return os.environ.get("CHORUS_TEST_BROKER_URL", DEFAULT_BROKER)


def require_broker(url: str) -> None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis broker {url} unreachable ({exc}); start Redis to run worker tests.")


def test_database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@contextmanager
def celery_worker(
    queues: str = "default", *, url: str | None = None, pool: str = "solo", app: str = "config"
):
    """Yield the worker's Popen once it is ready; kill its process group afterwards."""
    url = url or broker_url()
    require_broker(url)
    import redis

    redis.Redis.from_url(url).flushdb()  # no stale messages from an earlier run
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "CELERY_BROKER_URL": url,
        "CHORUS_VAR_DIR": str(settings.VAR_DIR),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    log = open(settings.VAR_DIR / f"test-worker-{os.getpid()}.log", "w+")  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            app,
            "worker",
            "-Q",
            queues,
            "-P",
            pool,
            "--concurrency",
            "1",
            "-l",
            "info",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            log.seek(0)
            if "ready." in log.read():
                break
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"The worker exited early:\n{log.read()[-3000:]}")
            time.sleep(0.2)
        else:
            raise RuntimeError("The worker did not start within 60 s.")
        process.log = log
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def send(task, *args, url: str | None = None) -> None:
    """Send ``task`` through the given broker (the test process's own app config may differ)."""
    from config.celery import app

    with app.connection_for_write(url or broker_url()) as conn:
        task.apply_async(args=args, connection=conn)


def wait_for(predicate, timeout: float = 60, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting")
