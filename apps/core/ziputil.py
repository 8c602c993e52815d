"""Safe import of a zip that holds one data file (JSONL, JSON or CSV) and the items' media.

A row names its media in a ``media`` field, relative to the data file's folder: one path
(stored under the key ``main``) or a ``{key: path}`` map (a reference and a test clip), each
becoming an :class:`~apps.core.models.ItemMedia` under an opaque name whose type was decided
from the file's content (:mod:`apps.core.media`). Before
anything is read the archive is checked as a whole: entry count, total unpacked size,
compression ratio (zip bombs), no absolute paths, no ``..``, no symlinks, no encryption, media
extensions on an allow-list. Rows and media go in together or not at all: the task type's own
import runs inside one transaction with the media saves, and files already written to
storage are deleted again if anything fails.
"""

from __future__ import annotations

import posixpath
import stat
import zipfile
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import IO

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import Max

from .importing import ImportFailed, iter_rows
from .media import (
    MEDIA_EXTENSIONS,
    SNIFF_BYTES,
    MediaRefused,
    media_refs,
    media_storage,
    media_type,
)
from .models import Item, ItemMedia, Project
from .registry import ImportReport

DATA_EXTENSIONS = (".jsonl", ".ndjson", ".json", ".csv")
MAX_ENTRIES = 200_000
MAX_RATIO = 200  # unpacked / packed size of one entry; text compresses ~10x, bombs ~1000x
IGNORED_PREFIXES = ("__MACOSX/",)
IGNORED_NAMES = (".DS_Store", "Thumbs.db")
MEDIA_BATCH = 500


class ZipRefused(ValueError):
    """The archive as a whole is unsafe or unusable; the message names the entry."""


def max_unpacked_bytes() -> int:
    return settings.CHORUS_MAX_UNZIPPED_BYTES


def _safe_name(info: zipfile.ZipInfo) -> str:
    name = info.filename
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ZipRefused(f"{name}: absolute or Windows paths are not allowed in the zip.")
    parts = PurePosixPath(name).parts
    if ".." in parts:
        raise ZipRefused(f"{name}: entries may not point outside their folder ('..').")
    mode = info.external_attr >> 16
    if mode and stat.S_ISLNK(mode):
        raise ZipRefused(f"{name}: symbolic links are not allowed in the zip.")
    if info.flag_bits & 0x1:
        raise ZipRefused(f"{name}: encrypted entries are not supported.")
    return posixpath.normpath(name)


def zip_members(archive: zipfile.ZipFile) -> tuple[zipfile.ZipInfo, dict[str, zipfile.ZipInfo]]:
    """(the data file, media by path relative to the data file's folder), or ZipRefused."""
    infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        raise ZipRefused(f"The zip has {len(infos)} entries; at most {MAX_ENTRIES} are allowed.")
    limit = max_unpacked_bytes()
    total = 0
    data: list[tuple[str, zipfile.ZipInfo]] = []
    media: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = _safe_name(info)
        if info.is_dir() or name.startswith(IGNORED_PREFIXES):
            continue
        if posixpath.basename(name) in IGNORED_NAMES or posixpath.basename(name).startswith("._"):
            continue
        total += info.file_size
        if total > limit:
            raise ZipRefused(f"The zip unpacks to more than {limit // 2**20} MB.")
        if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
            raise ZipRefused(f"{name}: compressed more than {MAX_RATIO}:1; refusing a zip bomb.")
        ext = posixpath.splitext(name)[1].lower()
        if ext in DATA_EXTENSIONS:
            data.append((name, info))
        elif ext in MEDIA_EXTENSIONS:
            media[name] = info
        else:
            raise ZipRefused(
                f"{name}: file type {ext or '(none)'} is not allowed; media may be "
                f"{', '.join(sorted(MEDIA_EXTENSIONS))}."
            )
    # A data file at the top level, or inside the single folder the zip was made from.
    top = min((n.count("/") for n, _ in data), default=0)
    data = [(n, i) for n, i in data if n.count("/") == top and top <= 1]
    if len(data) != 1:
        found = ", ".join(n for n, _ in data) or "none"
        raise ZipRefused(
            f"The zip must hold exactly one data file (.jsonl, .json or .csv) next to its media; "
            f"found {found}."
        )
    data_name, data_info = data[0]
    folder = posixpath.dirname(data_name)
    relative: dict[str, zipfile.ZipInfo] = {}
    for name, info in media.items():
        if folder and not name.startswith(folder + "/"):
            raise ZipRefused(f"{name}: media must sit in the data file's folder ({folder}/).")
        relative[name[len(folder) + 1 :] if folder else name] = info
    return data_info, relative


def zip_import(
    *,
    project: Project,
    upload: IO[bytes],
    import_items: Callable[[IO[bytes]], ImportReport],
) -> ImportReport:
    """Import the zip's data file through ``import_items`` and attach each row's media."""
    report = ImportReport()
    try:
        archive = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError):
        report.error(0, f"{getattr(upload, 'name', 'upload')}: not a valid zip file.")
        return report
    saved: list[str] = []
    with archive:
        try:
            data_info, media = zip_members(archive)
        except ZipRefused as exc:
            report.error(0, str(exc))
            return report
        before = Item.objects.filter(project=project).aggregate(m=Max("id"))["m"] or 0

        class _Rollback(Exception):
            pass

        try:
            with transaction.atomic():
                with archive.open(data_info) as data:
                    data.name = data_info.filename  # type: ignore[misc]  # the format comes from the name
                    report = import_items(data)
                if not report.ok:
                    raise _Rollback
                _attach_media(project, archive, media, data_info, before, report, saved)
                if not report.ok:
                    raise _Rollback
        except _Rollback:
            report.created = 0
        except Exception:
            _delete(saved)
            raise
        if not report.ok:
            _delete(saved)
    return report


def _attach_media(
    project, archive, media, data_info, after_id: int, report: ImportReport, saved
) -> None:
    """Store each new item's media (``payload["media"]``: a path or {key: path}) as ItemMedia.

    Every file's content must be the format its extension names (``media_type``); a refused
    or missing file is an error and the caller rolls the whole import back.
    """
    new_items = (
        Item.objects.filter(project=project, pk__gt=after_id)
        .order_by("id")
        .only("id", "project_id", "external_id", "payload")
    )
    rows: list[ItemMedia] = []
    problems: list[tuple[str, str]] = []  # (item external id, reason) for a bad reference
    used = 0
    for item in new_items.iterator(chunk_size=MEDIA_BATCH):
        ref = item.payload.get("media") if isinstance(item.payload, dict) else None
        try:
            refs = media_refs(ref)
        except ValueError as exc:
            problems.append((item.external_id, str(exc)))
            continue
        for key, path in refs.items():
            info = media.get(posixpath.normpath(path))
            if info is None:
                problems.append((item.external_id, f"media {path!r} is not in the zip"))
                continue
            if problems or not report.ok:
                continue  # keep checking, stop storing: it will be rolled back
            with archive.open(info) as handle:
                try:
                    content_type = media_type(info.filename, handle.read(SNIFF_BYTES))
                except MediaRefused as exc:
                    report.error(0, str(exc))
                    continue
                handle.seek(0)
                row = ItemMedia(item=item, key=key, content_type=content_type)
                row.size = info.file_size
                # The storage name comes from ItemMedia's upload_to: opaque, only the extension
                # of the uploaded name survives.
                row.file.save(posixpath.basename(info.filename), File(handle), save=False)
            saved.append(row.file.name)
            rows.append(row)
            used += 1
            if len(rows) >= MEDIA_BATCH:
                ItemMedia.objects.bulk_create(rows)
                rows.clear()
    if problems:
        lines = _lines_by_id(archive, data_info, {external_id for external_id, _ in problems})
        for external_id, reason in problems:
            line = lines.get(external_id, 0)
            report.error(line, reason if line else f"item {external_id!r}: {reason}")
        report.errors.sort(key=lambda error: error[0])
    if rows and report.ok:
        ItemMedia.objects.bulk_create(rows)
    if report.ok and used:
        report.notes.append(f"{used} media files attached.")


def _lines_by_id(archive, data_info, wanted: set[str]) -> dict[str, int]:
    """The data file's line of each item id in ``wanted`` (only read when a reference is bad)."""
    lines: dict[str, int] = {}
    try:
        with archive.open(data_info) as data:
            for row in iter_rows(data, data_info.filename):
                external_id = str(row.data.get("external_id") or row.data.get("id") or "").strip()
                if external_id in wanted and external_id not in lines:
                    lines[external_id] = row.line
    except ImportFailed:
        pass  # the task type read it in its own format; the errors name the item instead
    return lines


def _delete(names: list[str]) -> None:
    for name in names:
        try:
            media_storage.delete(name)
        except OSError:
            pass
