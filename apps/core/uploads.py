"""One entry point for item uploads, shared by the dashboard, its import Job and the API.

Checks the size and type of the file, then hands JSONL/JSON/CSV to the task type's own
``import_items`` and a zip to :mod:`apps.core.ziputil`. Every path is all-or-nothing and
answers with an :class:`ImportReport` whose errors name the line (0 = the file as a whole).
"""

from __future__ import annotations

import io
import itertools
import zipfile
import zlib
from typing import IO

from django.conf import settings
from django.db import IntegrityError

from . import registry
from .importing import ImportFailed, Row, file_format, iter_rows
from .models import Project
from .registry import ImportReport
from .ziputil import ZipRefused, zip_import, zip_members

UPLOAD_EXTENSIONS = (".jsonl", ".ndjson", ".json", ".csv", ".zip")


def upload_problem(*, name: str, size: int | None) -> str | None:
    """Why this upload is refused before it is read (type or size), or None."""
    limit = settings.CHORUS_MAX_UPLOAD_BYTES
    if size is not None and size > limit:
        return (
            f"{name}: the file is {size / 2**20:.1f} MB; the limit is {limit / 2**20:.0f} MB. "
            "Split it, or import it in parts."
        )
    if not name.lower().endswith(UPLOAD_EXTENSIONS):
        return f"{name}: unknown file type; upload .jsonl, .json, .csv or .zip."
    return None


def _unique_violations() -> tuple[type[Exception], ...]:
    """The errors a unique constraint raises: Django's, and psycopg's from the COPY path."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return (IntegrityError,)
    return (IntegrityError, psycopg.IntegrityError)


def items_import_upload(*, project: Project, upload: IO[bytes], name: str) -> ImportReport:
    """Import ``upload`` (named ``name``) into ``project``; nothing is stored on any error.

    Every failure is a report naming the problem, never an exception: a damaged zip (forged
    sizes, a bad CRC, a cut-off file) and an import that lost the race against an identical
    one running at the same moment (the unique constraint on the item ids) included.
    """
    size = getattr(upload, "size", None)
    report = ImportReport()
    if problem := upload_problem(name=name, size=size):
        report.error(0, problem)
        return report
    if size == 0:
        report.error(0, f"{name}: the file is empty; nothing was imported.")
        return report
    task_type = registry.get(project.task_type)
    if getattr(upload, "name", None) != name:
        upload = NamedUpload(upload, name)  # type: ignore[assignment]  # the format comes from the name
    try:
        if name.lower().endswith(".zip") and not task_type.imports_zip:
            return zip_import(
                project=project,
                upload=upload,
                import_items=lambda data: task_type.import_items(project, data),
            )
        return task_type.import_items(project, upload)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        report.error(
            0,
            f"{name}: the zip file is damaged ({exc}); nothing was imported. "
            "Make the zip again and upload it.",
        )
    except _unique_violations():
        report.error(
            0,
            f"{name}: these items were already imported (an import of the same ids finished "
            "while this one ran); nothing more was imported.",
        )
    return report


class NamedUpload(io.RawIOBase):
    """A binary file under another name (a temporary file, a zip member, a request body)."""

    def __init__(self, raw: IO[bytes], name: str):
        super().__init__()
        self.raw, self.name, self.size = raw, name, getattr(raw, "size", None)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self.raw.seekable()

    def read(self, size: int = -1) -> bytes:
        return self.raw.read(size)

    def readinto(self, buffer) -> int:
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()


def upload_preview(upload: IO[bytes], name: str, *, rows: int = 10) -> tuple[list[Row], str]:
    """The first rows of an upload, for a look before (or beside) the import; rewinds the file."""
    try:
        if name.lower().endswith(".zip"):
            import zipfile

            with zipfile.ZipFile(upload) as archive:
                info, _ = zip_members(archive)
                with archive.open(info) as data:
                    return list(itertools.islice(iter_rows(data, info.filename), rows)), ""
        file_format(name)
        return list(itertools.islice(iter_rows(upload, name), rows)), ""
    except (ImportFailed, ZipRefused) as exc:
        return [], str(exc)
    except Exception as exc:  # a preview never stops the import; the import reports properly
        return [], f"No preview: {exc}"
    finally:
        upload.seek(0)
