"""Media per item: the type of a file from its content, where it is stored, and its URLs.

**Type from content.** An upload's extension is only a claim: ``evil.png`` holding HTML, an
SVG (script inside) named ``.png`` or an ``MZ`` executable named ``.wav`` must not be stored
and served as media. :func:`media_type` reads the first bytes of the file and compares them
with the magic numbers of the formats Chorus serves; a file whose content is not the format
its extension names is refused with a message naming the file. The sniffer is a small table
of published magic numbers (below) rather than libmagic, so it needs no system library, knows
exactly the formats on the allow-list and cannot be talked into "text/html".

**Opaque names.** A stored file is named ``items/<project id>/<uuid4 hex>.<ext>``; the
uploaded name (``s1_vits.wav``) would tell a listener which system they are rating.

**URLs.** Participants reach a file only through the crowd's media view for an assignment
they hold (:func:`media_urls`); researchers through the dashboard's access-checked view.
"""

from __future__ import annotations

import json
import posixpath
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.files.storage import Storage, storages
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import reverse
from django.utils.functional import LazyObject, empty

if TYPE_CHECKING:
    from .models import Assignment, Item, Participant

MEDIA_STORAGE_ALIAS = "media"
# The key of a row's media when ``payload["media"]`` is a single path, not a {key: path} map.
DEFAULT_MEDIA_KEY = "main"
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
SNIFF_BYTES = 64


@dataclass(frozen=True)
class MediaFormat:
    name: str  # what a person calls it, for messages
    content_type: str


# Formats by the name the sniffer gives them.
FORMATS = {
    "wav": MediaFormat("WAV audio", "audio/wav"),
    "flac": MediaFormat("FLAC audio", "audio/flac"),
    "ogg": MediaFormat("Ogg audio", "audio/ogg"),
    "mp3": MediaFormat("MP3 audio", "audio/mpeg"),
    "mp4": MediaFormat("MP4 (ISO media)", "video/mp4"),
    "webm": MediaFormat("WebM (Matroska)", "video/webm"),
    "png": MediaFormat("PNG image", "image/png"),
    "jpeg": MediaFormat("JPEG image", "image/jpeg"),
    "gif": MediaFormat("GIF image", "image/gif"),
    "webp": MediaFormat("WebP image", "image/webp"),
    "npy": MediaFormat("NumPy array", "application/octet-stream"),
    "npz": MediaFormat("NumPy archive", "application/octet-stream"),
}

# Each allowed extension, the sniffed format its content must have, and the Content-Type it is
# served with (an .m4a is an MP4 container holding audio, so it is served as audio).
EXTENSIONS: dict[str, tuple[str, str]] = {
    ".wav": ("wav", "audio/wav"),
    ".flac": ("flac", "audio/flac"),
    ".ogg": ("ogg", "audio/ogg"),
    ".oga": ("ogg", "audio/ogg"),
    ".opus": ("ogg", "audio/ogg"),
    ".mp3": ("mp3", "audio/mpeg"),
    ".m4a": ("mp4", "audio/mp4"),
    ".mp4": ("mp4", "video/mp4"),
    ".webm": ("webm", "video/webm"),
    ".png": ("png", "image/png"),
    ".jpg": ("jpeg", "image/jpeg"),
    ".jpeg": ("jpeg", "image/jpeg"),
    ".gif": ("gif", "image/gif"),
    ".webp": ("webp", "image/webp"),
    ".npy": ("npy", "application/octet-stream"),
    ".npz": ("npz", "application/octet-stream"),
}
MEDIA_EXTENSIONS = frozenset(EXTENSIONS)

# Content that is never media, named so the refusal says what the file really is.
_DANGEROUS = (
    (b"MZ", "a Windows executable"),
    (b"\x7fELF", "a Linux executable"),
    (b"\xcf\xfa\xed\xfe", "a macOS executable"),
    (b"#!", "a script"),
    (b"%PDF", "a PDF document"),
)
_MARKUP = re.compile(rb"^\s*<(\?xml|!doctype|html|svg|script|head|body|iframe|!--)", re.I)


class MediaRefused(ValueError):
    """A media file's content is not what its name says; the message names the file."""


def sniff(head: bytes) -> str | None:
    """The format of a file from its first bytes (a key of ``FORMATS``), or None."""
    if head.startswith(b"RIFF") and len(head) >= 12:
        return {b"WAVE": "wav", b"WEBP": "webp"}.get(head[8:12])
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"ID3"):
        return "mp3"
    # An MPEG audio frame header: 11 sync bits, then a layer that is not "reserved" (00 is
    # AAC's ADTS, which browsers do not play from an .mp3).
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06:
        return "mp3"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"PK\x03\x04"):
        return "npz"  # a zip; only an .npz may be one
    return None


def _what_it_is(head: bytes) -> str:
    for magic, what in _DANGEROUS:
        if head.startswith(magic):
            return what
    if _MARKUP.match(head.lstrip(b"\xef\xbb\xbf")):
        return "HTML/XML markup (an SVG or web page)"
    found = sniff(head)
    if found:
        return f"{FORMATS[found].name}"
    return "of no media type Chorus knows"


def media_type(name: str, head: bytes) -> str:
    """The Content-Type to serve ``name`` with, decided from its content ``head``.

    Raises ``MediaRefused`` when the extension is not allowed or the content is not the
    format the extension names.
    """
    ext = posixpath.splitext(name)[1].lower()
    if ext not in EXTENSIONS:
        raise MediaRefused(
            f"{name}: file type {ext or '(none)'} is not allowed; media may be "
            f"{', '.join(sorted(MEDIA_EXTENSIONS))}."
        )
    wanted, content_type = EXTENSIONS[ext]
    if sniff(head) != wanted:
        raise MediaRefused(
            f"{name}: the content is {_what_it_is(head)}, not {FORMATS[wanted].name} as its "
            f"name says; refusing it."
        )
    return content_type


def media_refs(value: Any) -> dict[str, str]:
    """A row's ``media`` field as {key: path}: a single path, a map, or a map as JSON text.

    Raises ``ValueError`` naming the problem. Empty means no media.
    """
    if value in (None, ""):
        return {}
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError("media is not valid JSON (expected a path or {key: path})") from None
    if isinstance(value, str):
        return {DEFAULT_MEDIA_KEY: value.strip()}
    if not isinstance(value, dict):
        raise ValueError("media must be a path in the zip or a {key: path} map")
    refs: dict[str, str] = {}
    for key, path in value.items():
        if not KEY_PATTERN.match(str(key)):
            raise ValueError(
                f"media key {key!r} must be 1–40 letters, digits, '-' or '_' (it is part of a URL)"
            )
        if not isinstance(path, str) or not path.strip():
            raise ValueError(f"media {key!r} must be a path in the zip")
        refs[str(key)] = path.strip()
    return refs


def item_media_path(instance, filename: str) -> str:
    """``items/<project id>/<uuid4 hex>.<ext>``: nothing of the uploaded name but its type."""
    ext = posixpath.splitext(filename)[1].lower()
    if ext not in EXTENSIONS:
        ext = ""
    return f"items/{instance.item.project_id}/{uuid.uuid4().hex}{ext}"


class _MediaStorage(LazyObject):
    """The storage of item media (``STORAGES["media"]``), looked up again when settings change."""

    def _setup(self) -> None:
        self._wrapped = storages[MEDIA_STORAGE_ALIAS]


media_storage: Storage = _MediaStorage()  # type: ignore[assignment]


def item_media_storage() -> Storage:
    return media_storage


@receiver(setting_changed)
def _storages_changed(*, setting: str, **kwargs) -> None:
    if setting in ("STORAGES", "MEDIA_ROOT"):
        media_storage._wrapped = empty


_MEDIA_KEYS_SQL = """
    SELECT m.key, a.id FROM core_itemmedia m
    JOIN core_assignment a ON a.item_id = m.item_id
    WHERE m.item_id = %s AND a.participant_id = %s
    ORDER BY m.key
"""


def reserved_media_set(assignment: Assignment, keys: list[str]) -> None:
    """Remember on the assignment's item its media ``keys``, read by the statement that just
    reserved it (``apps.core.engine``), so that the card's ``media_urls`` asks nothing more."""
    assignment.item._reserved_media = (assignment.participant_id, assignment.pk, keys)


def media_urls(*, item: Item, participant: Participant) -> dict[str, str]:
    """{key: URL} of ``item``'s media for ``participant``, who holds an assignment for it.

    Task types call this in ``item_context``. The URLs go through the crowd's media view,
    which serves a file only to the participant holding the assignment. No query for an item
    just reserved for them (its keys came with the reservation), else one.
    """
    from . import hotsql

    reserved = getattr(item, "_reserved_media", None)
    if reserved is not None and reserved[0] == participant.pk:
        rows = [(key, reserved[1]) for key in reserved[2]]
    else:
        # Hand-written: every item card of a task type with media asks (see apps.core.hotsql).
        with hotsql.cursor() as cursor:
            cursor.execute(_MEDIA_KEYS_SQL, [item.pk, participant.pk])
            rows = cursor.fetchall()
    slug = participant.project.slug
    return {
        key: reverse("crowd:media", args=[slug, assignment_id, key]) for key, assignment_id in rows
    }
