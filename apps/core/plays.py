"""Heard to the end: the server's check that a clip was played before it is rated.

A listening test's rating control unlocks only after the clip has played to the end (P.808).
The browser enforces it for the honest participant; the server enforces it for everyone: the
player reports each start (``play_started``), and an answer to an item whose task type lists
the clip in ``must_play(item)`` is refused unless a play of it started at least its duration
ago (``plays_missing``). A forged POST that comes sooner than the clip could have been heard
is refused, whatever the page's JavaScript said.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from .models import Assignment, ItemMedia, MediaPlay

# Timers, network and the browser's own rounding: a play that started this much less than the
# clip's duration ago still counts as heard to the end.
TOLERANCE = timedelta(milliseconds=250)
# A participant who rewinds and replays adds rows; past this many a start is not stored again.
MAX_PLAYS_PER_KEY = 50


def play_started(*, assignment: Assignment, key: str) -> bool:
    """Record that the participant started playing media ``key``; False if it has no such file."""
    if not ItemMedia.objects.filter(item_id=assignment.item_id, key=key).exists():
        return False
    if MediaPlay.objects.filter(assignment=assignment, key=key).count() < MAX_PLAYS_PER_KEY:
        MediaPlay.objects.create(assignment=assignment, key=key)
    return True


def play_ended(*, assignment: Assignment, key: str) -> bool:
    """Mark the latest play of ``key`` ended (``plays_missing`` measures from the first start)."""
    play = MediaPlay.objects.filter(assignment=assignment, key=key).order_by("-started_at").first()
    if play is None:
        return False
    if play.ended_at is None:
        play.ended_at = timezone.now()
        play.save(update_fields=["ended_at"])
    return True


def plays_missing(
    *, assignment: Assignment, keys: list[str], now: datetime | None = None
) -> list[str]:
    """The media keys in ``keys`` not yet heard to the end in ``assignment`` (empty: all heard).

    Heard to the end = the player reported an end, and the first start of that file came at
    least its duration (less ``TOLERANCE``) before that end: seeking to the end, or a forged
    "ended" straight after "started", does not count. A file without a measured duration
    needs a start and an end.
    """
    if not keys:
        return []
    now = now or timezone.now()
    durations = dict(
        ItemMedia.objects.filter(item_id=assignment.item_id, key__in=keys).values_list(
            "key", "duration_s"
        )
    )
    starts: dict[str, datetime] = {}
    ends: dict[str, datetime] = {}
    for key, started, ended in MediaPlay.objects.filter(
        assignment=assignment, key__in=keys
    ).values_list("key", "started_at", "ended_at"):
        starts[key] = min(started, starts.get(key, started))
        if ended is not None:
            ends[key] = max(ended, ends.get(key, ended))
    missing = []
    for key in keys:
        if key not in durations:
            continue  # the item has no such file: nothing to hear
        needed = timedelta(seconds=durations[key] or 0) - TOLERANCE
        started, ended = starts.get(key), ends.get(key)
        heard = (
            started is not None
            and ended is not None
            and ended <= now
            and ended - started >= needed
            and now - started >= needed
        )
        if not heard:
            missing.append(key)
    return missing
