"""Safe import of a zip that holds one data file (JSONL, JSON or CSV) and the items' media.

A row names its media file in a ``media`` field, relative to the data file's folder. Before
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

from .models import Item, Project
from .registry import ImportReport

DATA_EXTENSIONS = (".jsonl", ".ndjson", ".json", ".csv")
MEDIA_EXTENSIONS = frozenset(
    {
        ".wav",
        ".mp3",
        ".ogg",
        ".oga",
        ".flac",
        ".m4a",
        ".opus",
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".webp",
        ".mp4",
        ".webm",
        ".npy",
        ".npz",
    }
)
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
                    data.name = data_info.filename  # the task type picks the format by name
                    report = import_items(data)
                if not report.ok:
                    raise _Rollback
                _attach_media(project, archive, media, before, report, saved)
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


def _attach_media(project, archive, media, after_id: int, report: ImportReport, saved) -> None:
    new_items = (
        Item.objects.filter(project=project, pk__gt=after_id)
        .order_by("id")
        .only("id", "external_id", "payload", "media")
    )
    batch: list[Item] = []
    used = 0
    for item in new_items.iterator(chunk_size=MEDIA_BATCH):
        ref = item.payload.get("media") if isinstance(item.payload, dict) else None
        if not ref:
            continue
        path = posixpath.normpath(str(ref))
        info = media.get(path)
        if info is None:
            report.error(0, f"item {item.external_id!r}: media {ref!r} is not in the zip.")
            continue
        if not report.ok:
            continue
        with archive.open(info) as handle:
            item.media.save(posixpath.basename(path), File(handle, name=path), save=False)
        saved.append(item.media.name)
        batch.append(item)
        used += 1
        if len(batch) >= MEDIA_BATCH:
            Item.objects.bulk_update(batch, ["media"])
            batch.clear()
    if batch and report.ok:
        Item.objects.bulk_update(batch, ["media"])
    if report.ok and used:
        report.notes.append(f"{used} media files attached.")


def _delete(names: list[str]) -> None:
    from django.core.files.storage import default_storage

    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            pass
