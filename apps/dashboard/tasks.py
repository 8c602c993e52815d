"""Celery tasks on the ``default`` queue: large item imports, run as Jobs with progress."""

from __future__ import annotations

import io
import threading
from pathlib import Path

from celery import shared_task
from django.db import connection, connections

from apps.core.jobs import JobDone, JobFailed, job_progress, job_task
from apps.core.models import Job

from .services import items_import_now

PROGRESS_EVERY_S = 1.0


class ImportCancelled(Exception):
    """The researcher cancelled the import; raised inside its transaction, which rolls back."""


class _CancellableFile(io.RawIOBase):
    """The upload, refusing to be read once ``cancelled`` is set."""

    def __init__(self, raw, cancelled: threading.Event):
        super().__init__()
        self.raw, self.cancelled, self.name = raw, cancelled, getattr(raw, "name", "")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self.raw.seekable()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def readinto(self, buffer) -> int:
        if self.cancelled.is_set():
            raise ImportCancelled
        return self.raw.readinto(buffer)


class _Reporter(threading.Thread):
    """Watches the job from its own connection: progress out, cancellation in.

    The import runs in one transaction, so progress written from the importing connection
    would stay invisible until the end. SQLite has a single writer, so there the bar only
    moves when the import is done, but a cancel is still seen (reads run beside the writer).
    """

    def __init__(self, job: Job, handle, size: int, cancelled: threading.Event):
        super().__init__(daemon=True)
        self.job, self.handle, self.size = job, handle, max(size, 1)
        self.done, self.cancelled = threading.Event(), cancelled

    def run(self) -> None:
        try:
            while not self.done.wait(PROGRESS_EVERY_S):
                try:
                    position = self.handle.tell()
                except (ValueError, OSError):
                    return
                if connection.vendor == "postgresql":
                    # Reading is not the whole job (the commit follows): stop short of 100 %.
                    running = job_progress(self.job, 0.95 * position / self.size, "Importing…")
                else:
                    running = Job.objects.filter(pk=self.job.pk, status=Job.Status.RUNNING).exists()
                if not running:
                    self.cancelled.set()
                    return
        finally:
            connections.close_all()


@shared_task(name="apps.dashboard.tasks.items_import_job", acks_late=True)
@job_task
def items_import_job(job: Job) -> JobDone:
    path = Path(job.params.get("path", ""))
    if not path.is_file():
        raise JobFailed("The uploaded file is no longer on the server; upload it again.")
    try:
        with open(path, "rb") as handle:
            cancelled = threading.Event()
            reporter = _Reporter(job, handle, path.stat().st_size, cancelled)
            reporter.start()
            try:
                report = items_import_now(
                    project=job.project,
                    upload=io.BufferedReader(_CancellableFile(handle, cancelled)),
                    name=job.params.get("name", path.name),
                )
            finally:
                reporter.done.set()
                reporter.join()
    except ImportCancelled:
        path.unlink(missing_ok=True)
        # Rolled back. A cancelled job stays cancelled (job_fail leaves it); one that merely
        # stopped being visible as running must not end up "succeeded".
        raise JobFailed(
            "The import was stopped before it finished; nothing was imported."
        ) from None
    except Exception as exc:
        path.unlink(missing_ok=True)  # the job is over: keep no orphaned upload
        raise JobFailed(f"The import stopped: {exc}") from exc
    path.unlink(missing_ok=True)
    Job.objects.filter(pk=job.pk).update(result=report.as_dict())
    if not report.ok:
        raise JobFailed(f"Nothing was imported: {len(report.errors)} problem(s) found.")
    return JobDone(result=report.as_dict(), message=f"{report.created} items imported.")
