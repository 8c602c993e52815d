"""The Celery app for worker tests that need the test-only stages task type registered."""

from celery.signals import worker_init

from config.celery import app

__all__ = ["app"]


@worker_init.connect
def _register(**kwargs) -> None:
    # After the Django fixup's setup (connected first): the registry is importable now.
    from tests.stages_tasktype import register

    register()
